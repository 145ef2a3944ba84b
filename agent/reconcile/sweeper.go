package reconcile

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/sei-edge/servicenow-edge/agent/servicenow"
	"github.com/sei-edge/servicenow-edge/relay/wire"
)

// Source is what a sweep reads from ServiceNow: the servicenow client.
type Source interface {
	Count(ctx context.Context, t servicenow.Table, cond string) (servicenow.Counts, error)
	IDs(ctx context.Context, t servicenow.Table, cond, after string, limit int) ([]servicenow.IDVersion, bool, error)
	Fetch(ctx context.Context, t servicenow.Table, ids []string) ([]wire.Record, error)
}

// Index is what a sweep needs of the buffer: the index rows (read only,
// by iteration) and its own progress state.
type Index interface {
	ScanState(prefix, start string, fn func(key, val []byte) error) error
	Get(key string) ([]byte, error)
	Set(ctx context.Context, key string, val []byte) error
}

// Forwarder commits repairs: the poller, whose table lock keeps a sweep
// and the table's poll apart.
type Forwarder interface {
	LockTable(table string) (unlock func())
	Forward(ctx context.Context, table string, recs []wire.Record) error
}

// Table is one table's reconciliation settings.
type Table struct {
	servicenow.Table
	Interval     time.Duration // between sweeps; 0 = never swept on a schedule
	VerifyFields bool          // also refetch every row and compare field hashes
}

// Config configures a Sweeper.
type Config struct {
	Tables []Table
	// Bound returns the table's poll cursor time ("" before its first
	// poll): the sweep's upper bound.
	Bound func(table string) string
	// IDPage is the rows of one id-sweep page; default and at most
	// servicenow.MaxPageSize.
	IDPage int
	// Lookback is the poller's: how far back the first poll of a table
	// read, where the comparison starts (see Result.Floor).
	Lookback time.Duration
	Now      func() time.Time
	Logger   zerolog.Logger
}

// ErrNotPolled: the table has no poll cursor yet, so there is nothing to
// compare; the sweep waits for the first poll.
var ErrNotPolled = errors.New("table not polled yet")

// Sweeper runs reconciliation sweeps. Its methods are safe for concurrent
// use, but sweeps of one table must not overlap (Run and the reconcile
// command never run together: both need the buffer).
type Sweeper struct {
	cfg Config
	src Source
	idx Index
	fwd Forwarder
	log zerolog.Logger

	mu      sync.Mutex // guards results
	results map[string]Result
}

// New returns a Sweeper; it loads each table's last result from idx.
func New(cfg Config, src Source, idx Index, fwd Forwarder) *Sweeper {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.IDPage <= 0 || cfg.IDPage > servicenow.MaxPageSize {
		cfg.IDPage = servicenow.MaxPageSize
	}
	s := &Sweeper{cfg: cfg, src: src, idx: idx, fwd: fwd, log: cfg.Logger, results: map[string]Result{}}
	for _, t := range cfg.Tables {
		if r, err := loadResult(idx.Get, t.Name); err == nil && r != nil {
			s.results[t.Name] = *r
		}
	}
	return s
}

// Results returns the last saved result of each table that has one: the
// sweep in progress, with the previous finished one in Previous.
func (s *Sweeper) Results() map[string]Result {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]Result, len(s.results))
	for k, v := range s.results {
		out[k] = v
	}
	return out
}

func (s *Sweeper) publish(r *Result) {
	c := *r
	c.Windows = nil // status shows the figures, not every window
	s.mu.Lock()
	s.results[r.Table] = c
	s.mu.Unlock()
}

// table returns the settings of name.
func (s *Sweeper) table(name string) (Table, bool) {
	for _, t := range s.cfg.Tables {
		if t.Name == name {
			return t, true
		}
	}
	return Table{}, false
}

// SweepOnce sweeps every table (or only the one named), whatever their
// schedule, and returns every table's error joined.
func (s *Sweeper) SweepOnce(ctx context.Context, only string) error {
	var errs []error
	for _, t := range s.cfg.Tables {
		if only != "" && t.Name != only {
			continue
		}
		if _, err := s.Sweep(ctx, t.Name); err != nil {
			if ctx.Err() != nil {
				return err
			}
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// retryWait is how long Run waits before it tries a failed sweep again:
// soon after a transient failure, a whole interval after ServiceNow
// refused for good (a missing role: retrying only fills the log).
func retryWait(interval time.Duration, err error) time.Duration {
	var sn *servicenow.Error
	switch {
	case errors.Is(err, ErrNotPolled):
		return min(interval, 10*time.Second) // costs nothing: no request until the first poll
	case errors.As(err, &sn) && sn.Permanent:
		return interval
	}
	return min(interval, 15*time.Minute)
}

// Run sweeps each table whose interval is not 0 when it is due: at once
// when a sweep was interrupted (it resumes), else Interval after the last
// one finished. A failed sweep is logged and tried again later. Sweeps run
// one at a time, each holding its table's poll lock only a page at a time.
// Run returns ctx's error.
func (s *Sweeper) Run(ctx context.Context) error {
	failed := map[string]time.Time{}
	for {
		now := s.cfg.Now()
		next := time.Time{}
		for _, t := range s.cfg.Tables {
			if t.Interval <= 0 {
				continue
			}
			due := s.due(t, failed[t.Name])
			if !due.After(now) {
				if _, err := s.Sweep(ctx, t.Name); err != nil {
					if ctx.Err() != nil {
						return ctx.Err()
					}
					s.logFailure(t.Name, err)
					failed[t.Name] = s.cfg.Now().Add(retryWait(t.Interval, err))
				} else {
					delete(failed, t.Name)
				}
				due = s.due(t, failed[t.Name])
			}
			if next.IsZero() || due.Before(next) {
				next = due
			}
		}
		if next.IsZero() {
			<-ctx.Done()
			return ctx.Err()
		}
		timer := time.NewTimer(max(next.Sub(s.cfg.Now()), time.Second))
		select {
		case <-ctx.Done():
			timer.Stop()
			return ctx.Err()
		case <-timer.C:
		}
	}
}

func (s *Sweeper) logFailure(table string, err error) {
	if errors.Is(err, ErrNotPolled) {
		s.log.Debug().Str("table", table).Msg("reconcile waits for the table's first poll")
		return
	}
	s.log.Error().Err(err).Str("table", table).Msg("reconcile sweep failed; it resumes later where it stopped")
}

// due is when t's next sweep is due.
func (s *Sweeper) due(t Table, retryAt time.Time) time.Time {
	if !retryAt.IsZero() {
		return retryAt
	}
	s.mu.Lock()
	r, ok := s.results[t.Name]
	s.mu.Unlock()
	switch {
	case !ok:
		return time.Time{}
	case r.Phase != phaseDone:
		return time.Time{} // interrupted: resume now
	}
	return r.Finished.Add(t.Interval)
}

// Sweep sweeps table name once, resuming a sweep that was interrupted, and
// returns its result. The result is saved after every step, so an error or
// a cancelled ctx leaves a sweep the next call resumes.
func (s *Sweeper) Sweep(ctx context.Context, name string) (*Result, error) {
	t, ok := s.table(name)
	if !ok {
		return nil, fmt.Errorf("reconcile %s: not a configured table", name)
	}
	if t.Field != servicenow.FieldUpdatedOn {
		return nil, fmt.Errorf("reconcile %s: only tables incremental on sys_updated_on are reconciled", name)
	}
	r, err := s.resume(ctx, t)
	if err != nil {
		return nil, err
	}
	log := s.log.With().Str("table", name).Logger()
	for r.Phase != phaseDone {
		switch r.Phase {
		case phaseCount:
			err = s.countPhase(ctx, t, r)
		case phaseIDs:
			err = s.idPhase(ctx, t, r)
		case phaseVerify:
			if !t.VerifyFields { // turned off while this sweep was interrupted
				err = s.finish(ctx, t, r)
				break
			}
			err = s.verifyPhase(ctx, t, r)
		default:
			err = fmt.Errorf("unknown phase %q", r.Phase)
		}
		if err != nil {
			r.Error = err.Error()
			if ctx.Err() == nil {
				_ = s.save(ctx, r)
			}
			return r, fmt.Errorf("reconcile %s: %w", name, err)
		}
	}
	log.Info().Int64("servicenow", r.Source).Int64("forwarded", r.Indexed).Int64("repaired", r.Repaired).
		Int64("deleted", r.Deleted).Strs("mismatch", r.Mismatch).Dur("took", r.Finished.Sub(r.Started)).Msg("reconciled")
	return r, nil
}

// resume returns the sweep in progress of t, or starts one.
func (s *Sweeper) resume(ctx context.Context, t Table) (*Result, error) {
	prev, err := loadResult(s.idx.Get, t.Name)
	if err != nil {
		s.log.Warn().Err(err).Str("table", t.Name).Msg("reconcile state unreadable; starting a fresh sweep")
		prev = nil
	}
	if prev != nil && prev.Phase != phaseDone && prev.Phase != "" {
		prev.Error = ""
		return prev, nil
	}
	bound := s.cfg.Bound(t.Name)
	if bound == "" {
		return nil, fmt.Errorf("reconcile %s: %w", t.Name, ErrNotPolled)
	}
	if !wire.ValidTime(bound) {
		return nil, fmt.Errorf("reconcile %s: invalid poll cursor %q", t.Name, bound)
	}
	r := &Result{Table: t.Name, Started: s.cfg.Now().UTC(), Bound: bound, Phase: phaseCount}
	if prev != nil {
		prev.Previous = nil
		r.Previous = prev
	}
	return r, s.save(ctx, r)
}
