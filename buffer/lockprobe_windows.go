package buffer

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// probeLock fails when another process holds the buffer's directory lock:
// on Windows Badger holds dir/LOCK open without sharing (and deletes it on
// close), so opening it fails while the database is open. The checks
// before Open then never read the files of a live database.
func probeLock(dir string) error {
	f, err := os.Open(filepath.Join(dir, "LOCK"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("Cannot acquire directory lock on %q: %w: %w", dir, ErrInUse, err)
	}
	return f.Close()
}
