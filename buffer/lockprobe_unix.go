//go:build linux || darwin

package buffer

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"syscall"
)

// probeLock fails with ErrInUse when another process holds the buffer's
// directory lock (Badger flocks the directory itself; dir/LOCK only holds
// its pid), so the checks before Open never read the files of a live
// database, whose tables come and go.
func probeLock(dir string) error {
	f, err := os.Open(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("probe lock of %s: %w", dir, err)
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		return fmt.Errorf("Cannot acquire directory lock on %q: %w: %w", dir, ErrInUse, err)
	}
	return syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
}
