//go:build !linux && !darwin && !windows

package buffer

// probeLock is a no-op on systems the agent does not ship for.
func probeLock(dir string) error { return nil }
