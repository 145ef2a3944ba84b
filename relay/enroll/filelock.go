package enroll

import (
	"fmt"
	"os"
	"path/filepath"
)

// Locked runs fn while holding an exclusive operating-system lock on path
// (created 0600 when missing), so two commands that read, change and write
// back one file cannot lose each other's change. Like the registry's lock, it
// goes away with the process.
func Locked(path string, fn func() error) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("create directory for %s: %w", path, err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("open lock %s: %w", path, err)
	}
	defer f.Close()
	if err := lockFile(f); err != nil {
		return fmt.Errorf("lock %s: %w", path, err)
	}
	defer unlockFile(f)
	return fn()
}
