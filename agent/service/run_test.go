package service

import (
	"context"
	"errors"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

func TestRunReturnsBodyErrorWithoutStopRequest(t *testing.T) {
	rec, _ := useFake(t, platformSystemd)
	errBadConfig := errors.New("invalid configuration")
	err := Run(t.Context(), Config{Logger: zerolog.Nop()}, func(ctx context.Context) error { return errBadConfig })
	if !errors.Is(err, errBadConfig) {
		t.Fatalf("Run = %v, want the body's error", err)
	}
	if got := rec.Calls(); len(got) != 1 || got[0] != "Run" {
		t.Errorf("calls %v, want [Run]", got)
	}
}

func TestProgramStopCancelsBody(t *testing.T) {
	started := make(chan struct{})
	prg := newProgram(withDefaults(Config{Logger: zerolog.Nop()}), func(ctx context.Context) error {
		close(started)
		<-ctx.Done()
		return ctx.Err() // a requested stop is not a failure
	})
	result := make(chan error, 1)
	go func() { result <- prg.runForeground() }()
	<-started
	prg.signals <- syscall.SIGTERM
	if err := <-result; err != nil {
		t.Fatalf("runForeground = %v, want nil after a requested stop", err)
	}
}

func TestProgramStopReturnsShutdownError(t *testing.T) {
	errFlush := errors.New("flush buffer")
	prg := newProgram(withDefaults(Config{}), func(ctx context.Context) error {
		<-ctx.Done()
		return errFlush
	})
	prg.start()
	if err := prg.stop(); !errors.Is(err, errFlush) {
		t.Fatalf("stop = %v, want %v", err, errFlush)
	}
}

func TestProgramStopTimesOut(t *testing.T) {
	release := make(chan struct{})
	prg := newProgram(withDefaults(Config{StopTimeout: 20 * time.Millisecond}), func(ctx context.Context) error {
		<-release
		return nil
	})
	prg.start()
	err := prg.stop()
	if err == nil || !strings.Contains(err.Error(), "still running") {
		t.Fatalf("stop = %v, want a timeout error", err)
	}
	close(release)
	<-prg.done // the body's goroutine ends (goleak checks it)
}

func TestProgramStopBeforeStart(t *testing.T) {
	prg := newProgram(withDefaults(Config{}), func(ctx context.Context) error {
		t.Error("body ran after a stop")
		return nil
	})
	if err := prg.stop(); err != nil {
		t.Fatalf("stop = %v", err)
	}
	prg.start()
}

func TestServiceExit(t *testing.T) {
	exitCode := func(err error) int {
		switch {
		case err == nil:
			return 0
		case strings.Contains(err.Error(), "config"):
			return 2
		case strings.Contains(err.Error(), "zero"):
			return 0
		}
		return 1
	}
	tests := []struct {
		name     string
		err      error
		specific bool
		code     uint32
	}{
		{name: "clean stop", err: nil, specific: false, code: 0},
		{name: "bad config", err: errors.New("invalid config"), specific: true, code: 2},
		{name: "runtime failure", err: errors.New("boom"), specific: true, code: 1},
		{name: "error mapped to zero still fails", err: errors.New("zero"), specific: true, code: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			specific, code := serviceExit(tt.err, exitCode)
			if specific != tt.specific || code != tt.code {
				t.Errorf("serviceExit = %v, %d; want %v, %d", specific, code, tt.specific, tt.code)
			}
		})
	}
}

func TestRecoveryActions(t *testing.T) {
	got := RecoveryActions()
	want := []time.Duration{5 * time.Second, 30 * time.Second, 60 * time.Second}
	if len(got) != len(want) {
		t.Fatalf("got %d actions, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i].Delay != want[i] {
			t.Errorf("action %d delay %v, want %v", i, got[i].Delay, want[i])
		}
	}
	if RecoveryResetPeriod != 24*time.Hour {
		t.Errorf("reset period %v, want 24h", RecoveryResetPeriod)
	}
}

// TestRunEndsWithCallersContext: the body's context ends when the caller's
// does (main's first signal), not only on a stop request.
func TestRunEndsWithCallersContext(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	prg := newProgram(withDefaults(Config{Logger: zerolog.Nop()}), func(ctx context.Context) error {
		<-ctx.Done()
		return ctx.Err()
	})
	prg.parent = ctx
	cancel()
	if err := prg.runForeground(); err != nil {
		t.Fatalf("runForeground = %v, want nil after the caller's cancel", err)
	}
}
