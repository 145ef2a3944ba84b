package main

import (
	"os"
	"runtime/debug"
	"testing"
)

func TestApplyMemoryLimit(t *testing.T) {
	old := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(old) })

	t.Setenv("GOMEMLIMIT", "")
	if got := applyMemoryLimit(1); got != old {
		t.Errorf("with GOMEMLIMIT set: limit %d, want it left at %d", got, old)
	}
	if got := debug.SetMemoryLimit(-1); got != old {
		t.Errorf("with GOMEMLIMIT set the limit changed to %d", got)
	}
}

func TestApplyMemoryLimitScalesWithBuffers(t *testing.T) {
	old := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(old) })
	unsetenv(t, "GOMEMLIMIT")

	one, three := applyMemoryLimit(1), applyMemoryLimit(3)
	if one != memLimitBase+memLimitPerBuffer || three != memLimitBase+3*memLimitPerBuffer {
		t.Errorf("limits %d (1 buffer), %d (3 buffers)", one, three)
	}
	if got := debug.SetMemoryLimit(-1); got != three {
		t.Errorf("runtime limit %d, want %d", got, three)
	}
	if zero := applyMemoryLimit(0); zero != one {
		t.Errorf("0 buffers: %d, want the 1-buffer limit %d", zero, one)
	}
}

// unsetenv unsets key for the test, restoring it after.
func unsetenv(t *testing.T, key string) {
	t.Helper()
	t.Setenv(key, "") // registers the restore
	if err := os.Unsetenv(key); err != nil {
		t.Fatal(err)
	}
}
