package enroll

import (
	"fmt"
	"os"
	"path/filepath"
)

// lockDir runs fn while holding an exclusive lock on data_dir's registry
// lock file (accounts/.lock), so two enroll or revoke commands run at once
// cannot both read a tenant's file and each write it back without the
// other's change. The lock is the operating system's (flock, LockFileEx): it goes
// away with the process, so a killed command leaves nothing stale behind.
func lockDir(dataDir string, fn func() error) error {
	path := filepath.Join(dataDir, AccountsDir, ".lock")
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("create directory for %s: %w", path, err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("open registry lock: %w", err)
	}
	defer f.Close()
	if err := lockFile(f); err != nil {
		return fmt.Errorf("lock %s: %w", path, err)
	}
	defer unlockFile(f)
	return fn()
}
