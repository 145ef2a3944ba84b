package interrupt

import (
	"context"
	"os"
	"runtime"
	"syscall"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestFirstCancelsSecondAborts(t *testing.T) {
	sigs := make(chan os.Signal)
	done := make(chan struct{})
	ctx, cancel := context.WithCancel(t.Context())
	aborted := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		watch(sigs, done, cancel, func() { close(aborted) })
	}()
	sigs <- os.Interrupt
	<-ctx.Done() // the first signal cancels
	select {
	case <-aborted:
		t.Fatal("aborted on the first signal")
	default:
	}
	sigs <- syscall.SIGTERM
	<-aborted // the second aborts
	<-finished
}

// TestRealSignal sends SIGINT to the test process: Context catches it, so
// the test survives, and the context ends.
func TestRealSignal(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no SIGINT to self on Windows")
	}
	aborted := false
	ctx, stop := Context(t.Context(), func() { aborted = true })
	p, _ := os.FindProcess(os.Getpid())
	if err := p.Signal(os.Interrupt); err != nil {
		t.Skip(err)
	}
	<-ctx.Done()
	stop()
	if aborted {
		t.Fatal("aborted on one signal")
	}
}
