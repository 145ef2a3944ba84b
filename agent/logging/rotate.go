package logging

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"sync"
)

// File and directory permissions of the log: a log line can name a table, a
// URL or an error body, so only the service user reads it.
const (
	fileMode = 0o600
	dirMode  = 0o700
)

// RotatingFile is an io.WriteCloser that appends to a file and, before a write
// would take it past MaxBytes, renames it to path.1 (shifting path.1 to
// path.2 and so on, dropping what would exceed MaxBackups) and starts a new
// one. A single write larger than MaxBytes still goes out whole, into a fresh
// file. Safe for concurrent use; each Write lands in one file, never split.
type RotatingFile struct {
	path       string
	maxBytes   int64
	maxBackups int

	// mu guards the fields below.
	mu     sync.Mutex
	f      *os.File
	size   int64
	closed bool
}

// OpenRotatingFile opens (creating with mode 0600, and its directory with
// 0700) the log file at path for appending. maxBytes must be positive;
// maxBackups is the number of rotated files kept (0 keeps none).
func OpenRotatingFile(path string, maxBytes int64, maxBackups int) (*RotatingFile, error) {
	if maxBytes <= 0 {
		return nil, fmt.Errorf("open log file %s: max size must be positive (got %d)", path, maxBytes)
	}
	if maxBackups < 0 {
		return nil, fmt.Errorf("open log file %s: max backups must not be negative (got %d)", path, maxBackups)
	}
	r := &RotatingFile{path: path, maxBytes: maxBytes, maxBackups: maxBackups}
	if err := os.MkdirAll(filepath.Dir(path), dirMode); err != nil {
		return nil, fmt.Errorf("create log directory %s: %w", filepath.Dir(path), err)
	}
	if err := r.openLocked(); err != nil {
		return nil, err
	}
	return r, nil
}

// Write appends p to the file, rotating first when p would not fit.
func (r *RotatingFile) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return 0, fmt.Errorf("write log file %s: %w", r.path, fs.ErrClosed)
	}
	var rotateErr error
	if r.size > 0 && r.size+int64(len(p)) > r.maxBytes {
		// A failed rotation keeps appending to the current file (and
		// retries on the next write): losing log lines is worse than
		// an oversized file.
		rotateErr = r.rotateLocked()
		if r.f == nil {
			return 0, rotateErr
		}
	}
	n, err := r.f.Write(p)
	r.size += int64(n)
	if err != nil {
		return n, errors.Join(fmt.Errorf("write log file %s: %w", r.path, err), rotateErr)
	}
	return n, nil
}

// Close closes the file. It is idempotent; writes after Close fail.
func (r *RotatingFile) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil
	}
	r.closed = true
	if r.f == nil {
		return nil
	}
	if err := r.f.Close(); err != nil {
		return fmt.Errorf("close log file %s: %w", r.path, err)
	}
	return nil
}

// openLocked opens r.path for appending and records its current size.
func (r *RotatingFile) openLocked() error {
	f, err := os.OpenFile(r.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, fileMode)
	if err != nil {
		return fmt.Errorf("open log file %s: %w", r.path, err)
	}
	// A file created by an older version or by hand may be wider open.
	if err := f.Chmod(fileMode); err != nil && !errors.Is(err, errors.ErrUnsupported) {
		f.Close()
		return fmt.Errorf("chmod log file %s: %w", r.path, err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("stat log file %s: %w", r.path, err)
	}
	r.f, r.size = f, st.Size()
	return nil
}

// rotateLocked closes the file, shifts the backups and reopens path. r.f is
// nil afterwards only if the reopen failed.
func (r *RotatingFile) rotateLocked() error {
	closeErr := r.f.Close()
	r.f = nil
	shiftErr := r.shift()
	if err := r.openLocked(); err != nil {
		return errors.Join(closeErr, shiftErr, err)
	}
	if closeErr != nil {
		closeErr = fmt.Errorf("close log file %s for rotation: %w", r.path, closeErr)
	}
	return errors.Join(closeErr, shiftErr)
}

// shift renames path.(N-1)..path.1 up by one and path to path.1, dropping
// the oldest. With no backups kept it removes path instead.
func (r *RotatingFile) shift() error {
	if r.maxBackups == 0 {
		if err := os.Remove(r.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("rotate log file %s: %w", r.path, err)
		}
		return nil
	}
	oldest := r.backup(r.maxBackups)
	if err := os.Remove(oldest); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove old log file %s: %w", oldest, err)
	}
	for i := r.maxBackups - 1; i >= 1; i-- {
		if err := os.Rename(r.backup(i), r.backup(i+1)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("rotate log file %s: %w", r.backup(i), err)
		}
	}
	if err := os.Rename(r.path, r.backup(1)); err != nil {
		return fmt.Errorf("rotate log file %s: %w", r.path, err)
	}
	return nil
}

// backup returns the name of the i-th rotated file.
func (r *RotatingFile) backup(i int) string { return r.path + "." + strconv.Itoa(i) }
