package service

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	kservice "github.com/kardianos/service"
)

// Run runs fn as the service body until ctx ends or a stop arrives: under the service manager when it
// started the process, in the foreground otherwise. fn's ctx is cancelled
// when the service manager asks the service to stop, or on SIGINT/SIGTERM
// (Ctrl-C in a terminal); fn then has cfg.StopTimeout to stop polling,
// finish in-flight publishes and close Badger. Run returns fn's error, or an
// error when fn did not return in time (its goroutine is then abandoned to
// the process exit). main must turn the result into the process exit code
// (2 for an invalid configuration), which is what systemd's
// RestartPreventExitStatus=2 sees; on Windows Run reports
// cfg.ExitCode(err) to the service manager itself.
func Run(ctx context.Context, cfg Config, fn func(ctx context.Context) error) error {
	cfg = withDefaults(cfg)
	prg := newProgram(cfg, fn)
	prg.parent = ctx
	if runsAsWindowsService() {
		return runWindowsService(cfg, prg)
	}
	if kservice.ChosenSystem() == nil || kservice.Platform() == "windows-service" {
		// kardianos's interactive Windows Run ignores RunWait and would
		// not notice fn returning by itself.
		return prg.runForeground()
	}
	s, err := newService(cfg, prg)
	if err != nil {
		return err
	}
	return s.Run()
}

// program adapts fn to kardianos's Start/Stop: Start launches fn, wait
// blocks until a stop signal or fn's return, Stop cancels fn and waits for
// it (bounded by timeout).
type program struct {
	fn      func(ctx context.Context) error
	timeout time.Duration
	cfg     Config

	ctx    context.Context
	cancel context.CancelFunc
	// done is closed when fn has returned; err is fn's result, read after
	// done.
	done chan struct{}
	err  error
	once sync.Once
	// signals receives SIGINT/SIGTERM from start to stop; tests send to it.
	signals chan os.Signal
	// parent is the caller's context: fn's ends with it too (nil: none).
	parent context.Context
}

// newProgram returns a program for fn.
func newProgram(cfg Config, fn func(ctx context.Context) error) *program {
	return &program{
		fn: fn, timeout: cfg.StopTimeout, cfg: cfg,
		done: make(chan struct{}), signals: make(chan os.Signal, 2),
	}
}

// Start launches fn in a goroutine owned by the program: Stop waits for it.
func (p *program) Start(kservice.Service) error {
	p.start()
	return nil
}

// start launches fn once.
func (p *program) start() {
	p.once.Do(func() {
		// The service body's context ends with the caller's (main's
		// signals) or on a stop request.
		parent := p.parent
		if parent == nil {
			parent = context.Background() // tests that build a program directly
		}
		p.ctx, p.cancel = context.WithCancel(parent)
		// Catch signals before the body runs, so a SIGTERM at any point
		// after it started is a graceful stop, not the default death.
		signal.Notify(p.signals, syscall.SIGTERM, os.Interrupt)
		go func() {
			defer close(p.done)
			p.err = p.fn(p.ctx)
		}()
	})
}

// wait blocks until SIGINT or SIGTERM arrives or fn returns by itself.
func (p *program) wait() {
	select {
	case sig := <-p.signals:
		p.cfg.Logger.Info().Str("signal", sig.String()).Msg("stopping")
	case <-p.done:
	}
}

// Stop cancels fn and returns its error once it has returned, or a timeout
// error after p.timeout.
func (p *program) Stop(kservice.Service) error { return p.stop() }

// stop is Stop without the kardianos argument.
func (p *program) stop() error {
	started := true
	p.once.Do(func() { started = false; close(p.done) })
	if !started {
		return nil
	}
	signal.Stop(p.signals)
	p.cancel()
	t := time.NewTimer(p.timeout)
	defer t.Stop()
	select {
	case <-p.done:
		if errors.Is(p.err, context.Canceled) {
			return nil // the stop we asked for, not a failure
		}
		return p.err
	case <-t.C:
		return fmt.Errorf("stop service %s: still running %s after the stop request; exiting anyway", p.cfg.Name, p.timeout)
	}
}

// runForeground is Start, wait, Stop without a service manager.
func (p *program) runForeground() error {
	p.start()
	p.wait()
	return p.stop()
}
