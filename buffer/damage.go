package buffer

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"
	"github.com/dgraph-io/badger/v4/table"
	"github.com/dgraph-io/ristretto/v2/z"
)

// openBadger opens the database. It tells damage (Badger refuses the files:
// a checksum mismatch in a table, a bad MANIFEST or key registry, a panic
// while reading them) from conditions that are not the files' fault (the
// directory is locked by another process, permissions, a full disk): only
// the first wraps ErrDamaged, so only it may lead the caller to move the
// buffer aside.
func openBadger(opts Options) (db *badger.DB, err error) {
	defer func() {
		if p := recover(); p != nil {
			db, err = nil, fmt.Errorf("%w: badger panicked opening it: %v", ErrDamaged, p)
		}
	}()
	if err := probeLock(opts.Dir); err != nil {
		return nil, err
	}
	if err := verifyTables(opts.Dir); err != nil {
		return nil, err
	}
	db, err = badger.Open(badgerOptions(opts))
	if err == nil || !isDamage(err) {
		return db, err
	}
	return nil, fmt.Errorf("%w: %w", ErrDamaged, err)
}

// isDamage reports whether an error of badger.Open blames the files.
func isDamage(err error) bool {
	msg := err.Error()
	switch {
	case errors.Is(err, fs.ErrPermission), errors.Is(err, syscall.ENOSPC),
		errors.Is(err, syscall.EWOULDBLOCK), errors.Is(err, syscall.EAGAIN),
		strings.Contains(msg, "Cannot acquire directory lock"),
		strings.Contains(msg, "Cannot create lock file"),
		strings.Contains(msg, "being used by another process"),
		strings.Contains(msg, "no space left"):
		return false
	}
	return true
}

// DamagedPrefix starts the name of a buffer directory moved aside: the
// buffer's own name, ".damaged-" and the time it was moved.
const DamagedPrefix = ".damaged-"

// MoveAside renames the damaged buffer dir to a sibling named
// <dir>.damaged-<UTC time>, kept for support, and returns its path. The
// caller then opens a fresh buffer in dir.
func MoveAside(dir string, now time.Time) (string, error) {
	dir = filepath.Clean(dir)
	to := dir + DamagedPrefix + now.UTC().Format("20060102T150405Z")
	for i := 2; ; i++ {
		if _, err := os.Lstat(to); errors.Is(err, fs.ErrNotExist) {
			break
		}
		to = fmt.Sprintf("%s%s%s-%d", dir, DamagedPrefix, now.UTC().Format("20060102T150405Z"), i)
	}
	if err := os.Rename(dir, to); err != nil {
		return "", fmt.Errorf("move damaged buffer %s aside: %w", dir, err)
	}
	return to, nil
}

// MovedAside lists the buffers moved aside next to dir, oldest first.
func MovedAside(dir string) ([]string, error) {
	dir = filepath.Clean(dir)
	matches, err := filepath.Glob(dir + DamagedPrefix + "*")
	if err != nil {
		return nil, fmt.Errorf("list moved-aside buffers of %s: %w", dir, err)
	}
	return matches, nil
}

// verifyTables checks every table file of dir against its checksums before
// Badger opens them. Badger v4.9.6 cannot be trusted with a damaged table
// at open: with table verification on, a block that fails its checksum
// dereferences nil in a goroutine of its own (the process dies, and the
// service crash-loops), a damaged index panics there too, and a table whose
// checksum mismatches is silently left out (its keys vanish). Here each
// table is opened and verified in this goroutine, where a panic can be
// recovered, and any failure is ErrDamaged.
func verifyTables(dir string) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%w: MANIFEST unreadable: %v", ErrDamaged, firstLine(fmt.Sprint(p)))
		}
	}()
	// Only the tables the MANIFEST lists: a table a crash left half
	// written is not listed, and Badger deletes it at open.
	fp, err := os.Open(filepath.Join(dir, badger.ManifestFilename))
	if errors.Is(err, fs.ErrNotExist) {
		return nil // a new buffer
	}
	if err != nil {
		return fmt.Errorf("open MANIFEST of %s: %w", dir, err)
	}
	defer fp.Close()
	mf, _, err := badger.ReplayManifestFile(fp, 0, badgerOptions(Options{Dir: dir}))
	if err != nil {
		return nil // badger.Open finds it too and fails, in this goroutine
	}
	for id, tm := range mf.Tables {
		path := table.NewFilename(id, dir)
		if err := verifyTable(path, tm.Compression); err != nil {
			return fmt.Errorf("%w: table %s: %w", ErrDamaged, filepath.Base(path), err)
		}
	}
	return nil
}

func verifyTable(path string, c options.CompressionType) (err error) {
	mf, err := z.OpenMmapFile(path, os.O_RDONLY, 0)
	if err != nil && !errors.Is(err, z.NewFile) {
		if errors.Is(err, fs.ErrPermission) {
			return err
		}
		return fmt.Errorf("map: %w", err)
	}
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("unreadable: %v", firstLine(fmt.Sprint(p)))
			_ = mf.Close(-1)
		}
	}()
	_, err = table.OpenTable(mf, table.Options{ReadOnly: true, ChkMode: options.OnTableRead, Compression: c})
	if err != nil {
		return err // OpenTable closed mf
	}
	// Not Table.DecrRef: at zero references it deletes the file.
	return mf.Close(-1)
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}
