package main

import (
	"errors"
	"fmt"
	"testing"

	"go.uber.org/goleak"

	"github.com/sei-edge/servicenow-edge/relay/command"
)

// TestMain checks for leaked goroutines. Badger v4.9.6 leaks its cache
// monitor and allocator pool when Open fails on a damaged MANIFEST or value
// log (it never closes what it started): once per damaged buffer, which
// the agent then moves aside. The damage tests make that happen.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.IgnoreTopFunction("github.com/dgraph-io/badger/v4.(*DB).monitorCache"),
		goleak.IgnoreTopFunction("github.com/dgraph-io/ristretto/v2/z.(*AllocatorPool).freeupAllocators"),
		goleak.IgnoreTopFunction("github.com/dgraph-io/ristretto/v2.(*Cache[...]).processItems"),
		goleak.IgnoreTopFunction("github.com/dgraph-io/ristretto/v2.(*defaultPolicy[...]).processItems"),
	)
}

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
