package buffer

import (
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/dgraph-io/badger/v4"
)

// The mirror keeps a copy of the state keys under Options.Mirror in a small
// file beside the buffer (<Dir>.mirror.json), so they outlive a buffer
// Badger can no longer open: a fresh buffer made in the same directory
// starts with them. The agent mirrors the relay's confirmations, from which
// it restarts every table after moving a damaged buffer aside.

// mirrorFile is the mirror's on-disk form.
type mirrorFile struct {
	Values map[string]string `json:"values"`
	CRC    uint32            `json:"crc32c"` // of the JSON encoding of Values
}

func mirrorPath(dir string) string { return filepath.Clean(dir) + ".mirror.json" }

func mirrorCRC(values map[string]string) uint32 {
	raw, _ := json.Marshal(values) // map keys are sorted: stable
	return crc32.Checksum(raw, castagnoli)
}

// readMirror returns the mirrored values beside dir; none when the file is
// absent or damaged (the caller then starts from its lookback).
func readMirror(dir string) (map[string]string, error) {
	raw, err := os.ReadFile(mirrorPath(dir))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read state mirror: %w", err)
	}
	var m mirrorFile
	if err := json.Unmarshal(raw, &m); err != nil || m.CRC != mirrorCRC(m.Values) {
		return nil, fmt.Errorf("%w: state mirror %s fails its checksum", ErrDamaged, mirrorPath(dir))
	}
	return m.Values, nil
}

// writeMirror replaces the mirror file atomically: a temp file, fsynced,
// renamed over it.
func writeMirror(dir string, values map[string]string) error {
	raw, err := json.Marshal(mirrorFile{Values: values, CRC: mirrorCRC(values)})
	if err != nil {
		return err
	}
	path := mirrorPath(dir)
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("write state mirror: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(raw); err != nil {
		tmp.Close()
		return fmt.Errorf("write state mirror: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("write state mirror: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write state mirror: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write state mirror: %w", err)
	}
	return nil
}

// mirrored reports whether key is mirrored.
func (b *Buffer) mirrored(key string) bool {
	return b.opts.Mirror != "" && strings.HasPrefix(key, b.opts.Mirror)
}

// updateMirror records a committed write of a mirrored key (nil val
// deletes it) and rewrites the file. A failure is logged, not returned:
// the value is safe in Badger, the mirror is a spare.
func (b *Buffer) updateMirror(key string, val []byte) {
	b.mirrorMu.Lock()
	defer b.mirrorMu.Unlock()
	if b.mirror == nil {
		b.mirror = map[string]string{}
	}
	if val == nil {
		delete(b.mirror, key)
	} else {
		b.mirror[key] = string(val)
	}
	if err := writeMirror(b.opts.Dir, b.mirror); err != nil {
		b.log.Warn().Err(err).Msg("buffer: update state mirror")
	}
}

// restoreMirror seeds a new, empty database with the mirrored values and
// loads the mirror of an existing one.
func (b *Buffer) restoreMirror(fresh bool) error {
	if b.opts.Mirror == "" {
		return nil
	}
	values, err := readMirror(b.opts.Dir)
	if err != nil {
		b.log.Warn().Err(err).Msg("buffer: state mirror unusable; ignoring it")
		values = nil
	}
	b.mirror = map[string]string{}
	for k, v := range values {
		if b.mirrored(k) {
			b.mirror[k] = v
		}
	}
	if !fresh || len(b.mirror) == 0 {
		return nil
	}
	for k, v := range b.mirror {
		if err := b.db.Update(func(txn *badger.Txn) error { return writeState(txn, k, []byte(v)) }); err != nil {
			return fmt.Errorf("restore %s from the state mirror: %w", k, err)
		}
	}
	b.log.Warn().Int("keys", len(b.mirror)).Msg("buffer: new buffer seeded from the state mirror")
	return nil
}
