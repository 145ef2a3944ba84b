package buffer

import (
	"errors"
	"path/filepath"
	"testing"
)

func TestDiskSpace(t *testing.T) {
	free, total, err := DiskSpace(t.TempDir())
	if errors.Is(err, errors.ErrUnsupported) {
		t.Skip(err)
	}
	if err != nil || free == 0 || total < free {
		t.Errorf("DiskSpace(temp dir) = %d, %d, %v; want 0 < free <= total", free, total, err)
	}
	if _, _, err := DiskSpace(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("DiskSpace of a missing directory succeeded")
	}
}
