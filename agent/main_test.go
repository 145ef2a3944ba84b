package main

import (
	"errors"
	"fmt"
	"testing"

	"go.uber.org/goleak"

	"github.com/sei-edge/servicenow-edge/relay/command"
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
		{name: "success", want: command.ExitOK},
		{name: "failure", err: errors.New("relay unreachable"), want: command.ExitFailure},
		{name: "usage", err: command.Usagef("unknown command %q", "x"), want: command.ExitUsage},
		{name: "wrapped usage", err: fmt.Errorf("start: %w", command.Usage(errors.New("bad config"))), want: command.ExitUsage},
		{name: "explicit code", err: command.ExitError{Code: exitNotRunning}, want: exitNotRunning},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := command.Code(tt.err); got != tt.want {
				t.Errorf("command.Code(%v) = %d, want %d", tt.err, got, tt.want)
			}
		})
	}
}
