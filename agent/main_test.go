package main

import (
	"errors"
	"fmt"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// exitNotRunning is what status exits with when no agent runs
// (status.ExitCode).
const exitNotRunning = 3

func TestExitCode(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want int
	}{
		{name: "success", want: exitOK},
		{name: "failure", err: errors.New("relay unreachable"), want: exitFailure},
		{name: "usage", err: usagef("unknown command %q", "x"), want: exitUsage},
		{name: "wrapped usage", err: fmt.Errorf("start: %w", usageError{errors.New("bad config")}), want: exitUsage},
		{name: "explicit code", err: exitError{exitNotRunning}, want: exitNotRunning},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := exitCode(tt.err); got != tt.want {
				t.Errorf("exitCode(%v) = %d, want %d", tt.err, got, tt.want)
			}
		})
	}
}
