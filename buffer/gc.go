package buffer

import (
	"context"
	"errors"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// gcDiscardRatio is the share of a value-log file that must be garbage for
// GC to rewrite it.
const gcDiscardRatio = 0.5

// gcMaxRewrites bounds one GC pass, so Close never waits long behind it.
const gcMaxRewrites = 64

// Run reclaims value-log space every Options.GCInterval until ctx is done,
// then returns nil. It returns ErrClosed if the buffer is closed first. Run
// starts no goroutine; at most one Run per Buffer makes sense.
func (b *Buffer) Run(ctx context.Context) error {
	t := time.NewTicker(b.opts.GCInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-b.done:
			return ErrClosed
		case <-t.C:
			b.settled() // tables the last writes left in level 0
			b.collectGarbage(ctx)
		}
	}
}

// collectGarbage runs RunValueLogGC until it has nothing to rewrite, then
// records LastGC. Errors other than "nothing to do" are logged: GC is
// retried next interval and never stops the buffer.
func (b *Buffer) collectGarbage(ctx context.Context) {
	b.life.RLock()
	defer b.life.RUnlock()
	if b.closed {
		return
	}
	start := b.opts.Now()
	rewrites := 0
	for ; rewrites < gcMaxRewrites && ctx.Err() == nil; rewrites++ {
		err := b.db.RunValueLogGC(gcDiscardRatio)
		if errors.Is(err, badger.ErrNoRewrite) || errors.Is(err, badger.ErrRejected) {
			break
		}
		if err != nil {
			b.log.Warn().Err(err).Msg("buffer: value-log GC")
			break
		}
	}
	now := b.opts.Now()
	b.log.Debug().Int("rewrites", rewrites).Dur("took", now.Sub(start)).Msg("buffer: value-log GC done")
	b.mu.Lock()
	b.lastGC = now
	b.mu.Unlock()
}
