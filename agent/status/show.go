package status

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"
)

// ShowOptions tune Show.
type ShowOptions struct {
	// JSON writes the JSON contract instead of the human rendering.
	JSON bool
	// Colour enables ANSI colours in the human rendering (see ColourFor).
	Colour bool
	// Timeout bounds the query to the running agent; zero means 10s.
	Timeout time.Duration
	// Offline builds the snapshot when the agent is not running, from what
	// can be read without it (configuration, buffer figures, cursors). Nil
	// gives a bare snapshot. Show marks it not running and finalizes it.
	Offline func(ctx context.Context) *Snapshot
	// Thresholds and Now finalize the offline snapshot (the running
	// agent finalizes its own).
	Thresholds Thresholds
	Now        func() time.Time
}

// Show is `sei-agent status`: it queries the agent running on dataDir, or
// builds the offline snapshot when none runs, writes it to w and returns
// the exit code (see ExitCode). An error (with code 1) means the status
// could not be had at all: the agent does not answer in time, or the
// caller may not reach it (fs.ErrPermission).
func Show(ctx context.Context, w io.Writer, dataDir string, opt ShowOptions) (int, error) {
	if opt.Timeout <= 0 {
		opt.Timeout = 10 * time.Second
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	qctx, cancel := context.WithTimeout(ctx, opt.Timeout)
	s, err := Query(qctx, dataDir)
	cancel()
	running := err == nil
	switch {
	case errors.Is(err, ErrNotRunning):
		s = nil
		if opt.Offline != nil {
			s = opt.Offline(ctx)
		}
		if s == nil {
			s = &Snapshot{}
		}
		s.Agent.Running = false
		if s.Agent.DataDir == "" {
			s.Agent.DataDir = dataDir
		}
		s.Finalize(opt.Thresholds, opt.Now())
	case err != nil:
		return 1, fmt.Errorf("read agent status: %w", err)
	}
	if opt.JSON {
		err = RenderJSON(w, s)
	} else {
		err = Render(w, s, opt.Colour)
	}
	if err != nil {
		return 1, err
	}
	return ExitCode(s, running), nil
}
