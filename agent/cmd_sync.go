package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/rs/zerolog"

	"github.com/sei-edge/servicenow-edge/agent/config"
)

// cmdSync polls once now and forwards until the relay acknowledged
// everything polled.
func cmdSync(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, path := flags("sync", stdout)
	timeout := fs.Duration("timeout", time.Hour, "give up (exit 1) when not everything is acknowledged by then")
	if err := parse(fs, args); err != nil {
		return err
	}
	cfg, err := loadConfig(*path)
	if err != nil {
		return err
	}
	log, closer, err := commandLogger(cfg, stderr)
	if err != nil {
		return err
	}
	defer closer.Close()
	if cfg.Multi() {
		return syncFleet(ctx, cfg, log, *timeout, stdout)
	}
	a, err := openOneShot(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer a.Close()
	start := time.Now()
	if err := a.Sync(ctx, *timeout); err != nil {
		return err
	}
	var fetched int64
	for _, t := range a.poller.Stats().Tables {
		fetched += int64(t.LastRecords)
	}
	fs2 := a.fwd.Stats()
	fmt.Fprintf(stdout, "sync complete in %s: %d records fetched, %d batches acknowledged by the relay, buffer empty\n",
		time.Since(start).Round(time.Millisecond), fetched, fs2.Published)
	return nil
}

// syncFleet is cmdSync for several instances: every instance polls and
// forwards at once; one line per instance.
func syncFleet(ctx context.Context, cfg *config.Config, log zerolog.Logger, timeout time.Duration, stdout io.Writer) error {
	f, err := openFleet(ctx, cfg, log, true)
	if err != nil {
		return err
	}
	defer f.Close()
	start := time.Now()
	err = f.Sync(ctx, timeout)
	for i, m := range f.members {
		if m == nil {
			fmt.Fprintf(stdout, "%s: not started: %v\n", f.names[i], f.stoppedErr(i))
			continue
		}
		var fetched int64
		for _, t := range m.poller.Stats().Tables {
			fetched += int64(t.LastRecords)
		}
		fmt.Fprintf(stdout, "%s: %d records fetched, %d batches acknowledged by the relay, %d batches still buffered\n",
			m.cfg.Relay.Integration, fetched, m.fwd.Stats().Published, m.buf.Stats().PendingBatches)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "sync complete in %s: %d instances, buffers empty\n", time.Since(start).Round(time.Millisecond), len(f.members))
	return nil
}
