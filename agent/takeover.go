package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/sei-edge/servicenow-edge/agent/config"
	"github.com/sei-edge/servicenow-edge/agent/status"
	"github.com/sei-edge/servicenow-edge/buffer"
)

// A hosted pipeline that starts in a new data folder took its integration
// over (its last holder died, or it never ran): its own cursors are none,
// but the relay knows what it holds. Rather than read every table again
// from the lookback, the pipeline records a repair of every table with no
// range, which the poller starts at the relay's confirmation of each table
// (poll.Config.Confirmed), or at the lookback where none is known; and it
// holds its first poll until the forwarder has the relay's confirmations
// (the relay resends them on the pipeline's first heartbeat) or
// takeoverConfirmWait passed. An on-prem agent's first start is not one:
// it reads the lookback.

// takeoverReason starts the reason of the repair a taken-over pipeline
// records, which is how status tells it from damage.
const takeoverReason = "takeover: "

// takeoverConfirmWait bounds how long a taken-over pipeline holds its
// first poll for the relay's confirmations (an integration the relay
// holds nothing of gets none).
var takeoverConfirmWait = 15 * time.Second

// openPipelineAgent is openAgent for a hosted pipeline: when cfg's data
// folder holds no buffer yet, it records the takeover repair; while that
// repair is pending (a restart before the first poll read every table
// keeps it), Run holds the first poll for the relay's confirmations.
func openPipelineAgent(ctx context.Context, cfg *config.Config, log zerolog.Logger) (*Agent, error) {
	_, err := os.Stat(bufferDir(cfg))
	fresh := errors.Is(err, fs.ErrNotExist)
	a, err := openAgent(ctx, cfg, log)
	if err != nil {
		return nil, err
	}
	if fresh {
		reason := takeoverReason + "new data folder " + cfg.Agent.DataDir + ": every table resumes from the relay's confirmation (or the lookback)"
		// Not a wake for the poller: its first poll reads the repair.
		a.buf.OnRepair(nil)
		_, err := a.buf.AddRequestedRepair(ctx, buffer.Repair{Reason: reason})
		a.buf.OnRepair(a.poller.Wake)
		if err != nil {
			a.Close()
			return nil, fmt.Errorf("record the takeover of %s: %w", cfg.Relay.Integration, err)
		}
		log.Info().Str("data_dir", cfg.Agent.DataDir).
			Msg("taking over with a new data folder: every table resumes from what the relay confirmed, not from the lookback")
	}
	if slices.ContainsFunc(a.buf.Repairs(), isTakeover) {
		a.confirmWait = takeoverConfirmWait
	}
	return a, nil
}

func isTakeover(r buffer.Repair) bool { return strings.HasPrefix(r.Reason, takeoverReason) }

// awaitConfirmations returns once the forwarder holds a confirmation of
// the relay for every synced table, a.confirmWait passed (at once when it
// is zero), or ctx ended. Several relays share the heartbeats, each
// resending only what it committed: a heartbeat a second reaches them all.
func (a *Agent) awaitConfirmations(ctx context.Context) {
	if a.confirmWait <= 0 {
		return
	}
	deadline := time.NewTimer(a.confirmWait)
	defer deadline.Stop()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	tables := tableNames(a.cfg)
	for n := 0; ; n++ {
		confirmed := a.fwd.Stats().Confirmed
		if !slices.ContainsFunc(tables, func(t string) bool { _, ok := confirmed[t]; return !ok }) {
			a.log.Info().Int("tables", len(confirmed)).Msg("the relay's confirmations arrived: polling resumes from them")
			return
		}
		if n%10 == 9 {
			a.fwd.SendHeartbeat()
		}
		select {
		case <-ctx.Done():
			return
		case <-deadline.C:
			a.log.Info().Dur("waited", a.confirmWait).Int("confirmed", len(confirmed)).Int("tables", len(tables)).
				Msg("not every table has a confirmation from the relay: those start at the lookback")
			return
		case <-tick.C:
		}
	}
}

// takeoverSection moves the pending takeover repair out of the buffer's
// pending damage (which makes the verdict DEGRADED): it was no damage.
func takeoverSection(b *status.Buffer, pending []buffer.Repair) {
	damaged := map[string]bool{}
	for _, r := range pending {
		switch {
		case isTakeover(r):
			b.RepairsPending--
		case strings.HasPrefix(r.Reason, resyncReason):
		default:
			damaged[r.Range.Table] = true
		}
	}
	b.RepairTables = slices.DeleteFunc(b.RepairTables, func(t string) bool { return !damaged[t] })
	if len(b.RepairTables) == 0 {
		b.RepairTables = nil
	}
}
