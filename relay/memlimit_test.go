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
	if got := applyMemoryLimit(); got != old {
		t.Errorf("with GOMEMLIMIT set: limit %d, want it left at %d", got, old)
	}
	if err := os.Unsetenv("GOMEMLIMIT"); err != nil { // t.Setenv restores it after
		t.Fatal(err)
	}
	if got := applyMemoryLimit(); got != memLimit {
		t.Errorf("without GOMEMLIMIT: limit %d, want %d", got, memLimit)
	}
	if got := debug.SetMemoryLimit(-1); got != memLimit {
		t.Errorf("runtime limit %d, want %d", got, memLimit)
	}
}
