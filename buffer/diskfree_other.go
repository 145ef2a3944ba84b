//go:build !linux && !darwin && !windows

package buffer

import (
	"errors"
	"fmt"
	"math"
	"os"
)

// DiskSpace cannot measure a filesystem on this platform: for an existing
// dir it returns an error wrapping errors.ErrUnsupported.
func DiskSpace(dir string) (free, total uint64, err error) {
	if _, err := os.Stat(dir); err != nil {
		return 0, 0, err
	}
	return 0, 0, fmt.Errorf("measure disk space of %s: %w", dir, errors.ErrUnsupported)
}

// diskFree cannot measure free space on this platform; it reports unlimited
// space for an existing dir, which disables the free-disk guard.
func diskFree(dir string) (uint64, error) {
	if _, err := os.Stat(dir); err != nil {
		return 0, err
	}
	return math.MaxUint64, nil
}
