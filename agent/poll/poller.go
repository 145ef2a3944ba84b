package poll

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/sei-edge/servicenow-edge/agent/servicenow"
	"github.com/sei-edge/servicenow-edge/buffer"
	"github.com/sei-edge/servicenow-edge/relay/wire"
)

// Buffer is what the poller needs of the durable buffer.
type Buffer interface {
	// Append commits a batch and state updates atomically; buffer.ErrFull
	// and buffer.ErrDiskFull mean "wait and try again".
	Append(ctx context.Context, b buffer.Batch, state map[string][]byte) (buffer.Batch, error)
	// Get returns a state value or buffer.ErrNotFound.
	Get(key string) ([]byte, error)
	// Set writes one state value.
	Set(ctx context.Context, key string, val []byte) error
	// Repairs lists the ranges to read again (damaged batches, an
	// unreadable cursor, a batch the relay could not decode).
	Repairs() []buffer.Repair
	// AddRepair records one more range to read again.
	AddRepair(ctx context.Context, r buffer.Repair) (buffer.Repair, error)
	// ResolveRepairs drops repairs whose ranges were read again.
	ResolveRepairs(ctx context.Context, ids ...uint64) error
}

// Source reads a table page by page: the servicenow client.
type Source interface {
	Scan(ctx context.Context, t servicenow.Table, from servicenow.Cursor, upto time.Time, fn func(servicenow.Page) error) error
	// Newest returns the incremental field of the table's newest
	// readable row, for status's "cursor not advancing" check.
	Newest(ctx context.Context, t servicenow.Table) (string, error)
}

// Config configures a Poller.
type Config struct {
	Tables   []servicenow.Table
	Lookback time.Duration // first run reads this far back
	Overlap  time.Duration // each run re-reads this much before the cursor
	Lag      time.Duration // each run reads up to its start minus this
	Interval time.Duration // Run polls every Interval
	// RetryFull is how long to wait before retrying an Append that found
	// the buffer full or the disk too full; default 2s.
	RetryFull time.Duration
	Now       func() time.Time
	Logger    zerolog.Logger
	// Confirmed returns the newest version the relay confirmed holding of
	// a table: where a repair restarts a table whose own position is lost.
	// Nil means none is known (a repair then restarts from Lookback).
	Confirmed func(table string) (wire.Version, bool)
}

// Poller polls every configured table into the buffer. Its methods are safe
// for concurrent use; PollOnce and Run must not overlap.
type Poller struct {
	cfg Config
	src Source
	buf Buffer
	log zerolog.Logger

	wake chan struct{} // Wake's signal to Run: poll now

	locks tableLocks // LockTable's: a table's poll and a sweep of it never overlap

	mu          sync.Mutex // guards the fields below
	tables      map[string]*TableStats
	paused      bool
	pauseReason string
	next        time.Time
	// authErr is the error of the last cycle when ServiceNow refused the
	// credentials, and authFailures how many cycles in a row did.
	authErr      string
	authFailures int
}

// New returns a Poller reading from src into buf.
func New(cfg Config, src Source, buf Buffer) *Poller {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.RetryFull <= 0 {
		cfg.RetryFull = 2 * time.Second
	}
	p := &Poller{cfg: cfg, src: src, buf: buf, log: cfg.Logger, tables: map[string]*TableStats{}, wake: make(chan struct{}, 1)}
	for _, t := range cfg.Tables {
		st := loadStats(buf.Get, t.Name) // figures of earlier runs
		// The configuration of this run, not of the run that saved them.
		st.Field, st.Excluded = t.Field, t.Exclude
		p.tables[t.Name] = &st
	}
	return p
}

// Run polls once at start, then every Interval, until ctx ends. A failed
// run is logged and retried at the next interval, or later after
// authentication failures (authRetryWait); Run returns only ctx's error.
func (p *Poller) Run(ctx context.Context) error {
	for {
		if err := p.PollOnce(ctx); err != nil && ctx.Err() == nil {
			p.log.Error().Err(err).Msg("poll failed; retrying at the next interval")
		}
		p.mu.Lock()
		wait := authRetryWait(p.cfg.Interval, p.authFailures)
		p.next = p.cfg.Now().Add(wait)
		p.mu.Unlock()
		if wait > p.cfg.Interval {
			p.log.Warn().Dur("wait", wait).Msg("ServiceNow refused the credentials again; backing off before the next try")
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		case <-p.wake:
			t.Stop()
		}
	}
}

// Wake makes Run poll now rather than at the next interval: a repair was
// recorded, and the sooner its range is read again, the sooner the agent is
// whole. It never blocks; wakes while a poll runs coalesce into one.
func (p *Poller) Wake() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// PollOnce reads every table once, up to now minus Lag. It goes on with the
// other tables when one fails and returns every table's error joined,
// except when ServiceNow refuses the credentials: that ends the cycle at
// once (every table would fail the same way, and each failed login brings
// the account closer to a lockout), and Stats.AuthError says so for all
// tables.
//
// Pending repairs move a table's start back to the start of the ranges
// they name; each is resolved once its table was read through to upto
// (a repair of every table once every table was).
func (p *Poller) PollOnce(ctx context.Context) error {
	upto := p.cfg.Now().Add(-p.cfg.Lag).UTC().Truncate(time.Second)
	everyTable := p.repairsOf("")
	var errs []error
	for _, t := range p.cfg.Tables {
		err := p.pollTable(ctx, t, upto)
		if err != nil && ctx.Err() != nil {
			return ctx.Err()
		}
		if authFailed(err) {
			p.mu.Lock()
			p.authErr, p.authFailures = err.Error(), p.authFailures+1
			p.mu.Unlock()
			return errors.Join(append(errs, fmt.Errorf("the other tables wait for the next try: %w", err))...)
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	p.mu.Lock()
	p.authErr, p.authFailures = "", 0
	p.mu.Unlock()
	if len(errs) == 0 {
		p.resolve(ctx, "", everyTable)
	}
	return errors.Join(errs...)
}

// maxAuthRetryWait caps the back-off after authentication failures.
const maxAuthRetryWait = 6 * time.Hour

// authRetryWait is the wait before the next cycle after failures
// consecutive cycles ended on ServiceNow refusing the credentials: the
// interval, doubled for each failure after the first, at most
// maxAuthRetryWait (or the interval, when longer).
func authRetryWait(interval time.Duration, failures int) time.Duration {
	wait := interval
	for i := 1; i < failures && wait < maxAuthRetryWait; i++ {
		wait *= 2
	}
	return max(min(wait, maxAuthRetryWait), interval)
}

func (p *Poller) pollTable(ctx context.Context, t servicenow.Table, upto time.Time) error {
	defer p.LockTable(t.Name)()
	p.checkCursor(ctx, t.Name)
	repairs := p.repairsOf(t.Name)
	from, err := p.startCursor(t.Name, upto, append(repairs, p.repairsOf("")...))
	if err != nil {
		return err
	}
	start := p.cfg.Now()
	p.update(t.Name, func(s *TableStats) { s.LastStart, s.LastEnd, s.LastRecords, s.LastError = start, time.Time{}, 0, "" })
	log := p.log.With().Str("table", t.Name).Logger()
	log.Debug().Str("from", from.Time).Time("upto", upto).Msg("poll table")

	prev := from // each batch covers the keyset range from the previous page's cursor to its own
	err = p.src.Scan(ctx, t, from, upto, func(pg servicenow.Page) error {
		err := p.commitPage(ctx, t, pg, prev)
		prev = pg.Cursor
		return err
	})
	end := p.cfg.Now()
	p.update(t.Name, func(s *TableStats) {
		s.LastEnd = end
		s.LastError = ""
		if err != nil {
			s.LastError = err.Error()
			s.AuthFailed = authFailed(err)
			s.Failures++
		} else {
			s.LastSuccess = end
		}
	})
	if err == nil {
		p.noteNewest(ctx, t)
		p.resolve(ctx, t.Name, repairs)
	}
	p.saveStats(ctx, t.Name)
	if err != nil {
		return fmt.Errorf("poll %s: %w", t.Name, err)
	}
	st := p.TableStats(t.Name)
	log.Info().Int("records", st.LastRecords).Str("cursor", st.Cursor.Time).Dur("took", end.Sub(start)).Msg("polled")
	return nil
}

// noteNewest records what ServiceNow's newest row of t is; best effort.
func (p *Poller) noteNewest(ctx context.Context, t servicenow.Table) {
	newest, err := p.src.Newest(ctx, t)
	if err != nil {
		p.log.Debug().Err(err).Str("table", t.Name).Msg("read newest row")
		return
	}
	p.update(t.Name, func(s *TableStats) { s.SourceNewest = newest })
}

// startCursor is where a run of table begins: Overlap before the stored
// cursor, or Lookback before upto on the first run, or earlier where a
// pending repair says so. A stored cursor that is not a time is passed on
// as is, for Scan to reject.
func (p *Poller) startCursor(table string, upto time.Time, repairs []buffer.Repair) (servicenow.Cursor, error) {
	lookback := servicenow.CursorAt(upto.Add(-p.cfg.Lookback))
	c, err := p.cursor(table)
	if err != nil {
		c = nil // checkCursor recorded a repair for it
	}
	var start *servicenow.Cursor
	if c != nil {
		at := c.Rewind(p.cfg.Overlap)
		start = &at
	}
	for _, r := range repairs {
		if at := p.repairStart(table, r, lookback); start == nil || at.Less(*start) {
			start = &at
		}
	}
	if start == nil { // the first run
		return lookback, nil
	}
	return *start, nil
}

// repairStart is where repair r makes table start: the lower bound of its
// range, or, where the range is unknown, the relay's confirmation for the
// table (the safe point the cloud acknowledged), or the lookback.
func (p *Poller) repairStart(table string, r buffer.Repair, lookback servicenow.Cursor) servicenow.Cursor {
	if r.Whole {
		return lookback
	}
	if r.Range.From != "" && r.Range.Table == table {
		var c servicenow.Cursor
		if json.Unmarshal([]byte(r.Range.From), &c) == nil {
			return c.Rewind(p.cfg.Overlap)
		}
		return lookback
	}
	if p.cfg.Confirmed != nil {
		if v, ok := p.cfg.Confirmed(table); ok && wire.ValidTime(v.UpdatedOn) {
			return servicenow.Cursor{Time: v.UpdatedOn}.Rewind(p.cfg.Overlap)
		}
	}
	return lookback
}

// checkCursor records a repair when table's stored cursor cannot be read
// (it failed its checksum, or does not decode): the table restarts from
// the relay's confirmation, or its lookback, and the next page's cursor
// replaces the damaged one.
func (p *Poller) checkCursor(ctx context.Context, table string) {
	_, err := p.cursor(table)
	if err == nil {
		return
	}
	for _, r := range p.repairsOf(table) {
		if r.Range.From == "" {
			return // already recorded, not yet re-read
		}
	}
	reason := fmt.Sprintf("cursor of %s unreadable: %v", table, err)
	if _, err := p.buf.AddRepair(ctx, buffer.Repair{Range: buffer.Range{Table: table}, Reason: reason}); err != nil {
		p.log.Error().Err(err).Str("table", table).Msg("record repair of an unreadable cursor")
	}
	p.log.Error().Str("table", table).Str("err", reason).
		Msg("cursor unreadable: re-reading the table from the relay's confirmation, or the lookback where there is none")
}

// repairsOf returns the pending repairs of table ("" for those of every
// table).
func (p *Poller) repairsOf(table string) []buffer.Repair {
	var out []buffer.Repair
	for _, r := range p.buf.Repairs() {
		if r.Range.Table == table {
			out = append(out, r)
		}
	}
	return out
}

// resolve drops the repairs that a successful read of table covered.
func (p *Poller) resolve(ctx context.Context, table string, repairs []buffer.Repair) {
	if len(repairs) == 0 {
		return
	}
	ids := make([]uint64, len(repairs))
	for i, r := range repairs {
		ids[i] = r.ID
	}
	if err := p.buf.ResolveRepairs(ctx, ids...); err != nil {
		p.log.Error().Err(err).Str("table", table).Msg("resolve repairs")
		return
	}
	p.log.Info().Str("table", table).Int("repairs", len(ids)).Msg("repaired: the ranges recorded to be read again were read")
}

// cursor returns the table's stored cursor, or nil before its first page.
func (p *Poller) cursor(table string) (*servicenow.Cursor, error) {
	raw, err := p.buf.Get(cursorKey(table))
	if errors.Is(err, buffer.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read cursor of %s: %w", table, err)
	}
	var c servicenow.Cursor
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, fmt.Errorf("read cursor of %s: %w", table, err)
	}
	return &c, nil
}

// cursorKey is the buffer state key of a table's cursor (JSON
// servicenow.Cursor).
func cursorKey(table string) string { return "cursor/" + table }
func statsKey(table string) string  { return "poll/" + table }

// authFailed reports whether ServiceNow refused the credentials: retrying
// will not help until an admin acts.
func authFailed(err error) bool {
	var e *servicenow.Error
	return errors.As(err, &e) && e.Permanent && (e.Refused || e.Status == http.StatusUnauthorized)
}
