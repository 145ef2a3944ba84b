// Package interrupt turns SIGINT and SIGTERM into a cancelled context for
// both programs' main: the first signal asks for a graceful stop, a second
// one aborts at once (an operator pressing Ctrl-C again does not want to
// wait out the shutdown grace).
package interrupt

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

// Context returns a context that ends on the first SIGINT or SIGTERM; on a
// second one it calls abort (main passes a function that exits). stop
// releases the signals; call it before the process exits normally.
func Context(parent context.Context, abort func()) (ctx context.Context, stop func()) {
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	ctx, cancel := context.WithCancel(parent)
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() { // owned by stop, which waits for it
		defer close(finished)
		watch(sigs, done, cancel, abort)
	}()
	return ctx, func() {
		signal.Stop(sigs)
		close(done)
		<-finished
		cancel()
	}
}

// watch cancels on the first signal from sigs and aborts on the second,
// until done closes.
func watch(sigs <-chan os.Signal, done <-chan struct{}, cancel, abort func()) {
	for n := 0; ; {
		select {
		case <-done:
			return
		case <-sigs:
			n++
			if n == 1 {
				cancel()
				continue
			}
			abort()
			return
		}
	}
}
