package reconcile

import (
	"context"

	"github.com/sei-edge/servicenow-edge/agent/poll"
	"github.com/sei-edge/servicenow-edge/agent/servicenow"
	"github.com/sei-edge/servicenow-edge/buffer"
	"github.com/sei-edge/servicenow-edge/relay/wire"
)

// verifyPhase refetches every index row, servicenow.FetchSlice at a time
// from r.After (a sys_id), and forwards each row whose fields hash
// differently, or whose version differs below the bound; a row no longer
// returned is forwarded as a delete.
func (s *Sweeper) verifyPhase(ctx context.Context, t Table, r *Result) error {
	for {
		done, err := s.verifySlice(ctx, t, r)
		if err != nil {
			return err
		}
		if done {
			return s.finish(ctx, t, r)
		}
		if err := s.save(ctx, r); err != nil {
			return err
		}
	}
}

// verifySlice checks the next slice; done when the index has no more.
func (s *Sweeper) verifySlice(ctx context.Context, t Table, r *Result) (bool, error) {
	unlock := s.fwd.LockTable(t.Name)
	defer unlock()
	ids, entries, err := s.nextSlice(t.Name, r.After)
	if err != nil || len(ids) == 0 {
		return len(ids) == 0, err
	}
	got, err := s.src.Fetch(ctx, t.Table, ids)
	if err != nil {
		return false, err
	}
	fetched := map[string]wire.Record{}
	for _, g := range got {
		if g.Table == t.Name && g.Op == wire.OpUpsert {
			fetched[g.SysID] = g
		}
	}
	var recs []wire.Record
	var gone []string
	for i, id := range ids {
		rec, ok := fetched[id]
		e := entries[i]
		switch {
		case !ok:
			gone = append(gone, id)
		case rec.SysUpdatedOn >= r.Bound:
			// a newer version the next poll reads
		case poll.EntryOf(rec) != e:
			rec.Repair = true // same version, other fields: replaces the cloud's copy
			recs = append(recs, rec)
		}
	}
	w := &Window{}
	if err := s.forwardVerified(ctx, t, r, w, recs, gone); err != nil {
		return false, err
	}
	r.Verified += int64(len(ids))
	r.After = ids[len(ids)-1]
	return false, nil
}

// forwardVerified forwards the rows the hash check found different and the
// deletes of rows gone.
func (s *Sweeper) forwardVerified(ctx context.Context, t Table, r *Result, w *Window, recs []wire.Record, gone []string) error {
	out := s.withDeletes(t.Name, recs, gone)
	if len(out) == 0 {
		return nil
	}
	if err := s.fwd.Forward(ctx, t.Name, out); err != nil {
		return err
	}
	r.Repaired += int64(len(recs))
	r.Deleted += int64(len(gone))
	s.log.Info().Str("table", t.Name).Int("records", len(recs)).Int("deleted", len(gone)).Msg("reconcile hash check repaired rows")
	return nil
}

// nextSlice returns up to servicenow.FetchSlice index rows after sys_id
// after ("" from the first), in key order.
func (s *Sweeper) nextSlice(table, after string) ([]string, []poll.IndexEntry, error) {
	var ids []string
	var entries []poll.IndexEntry
	start := ""
	if after != "" {
		start = poll.IndexKey(table, after)
	}
	err := s.idx.ScanState(poll.IndexPrefix(table), start, func(k, v []byte) error {
		id, ok := poll.IndexSysID(table, string(k))
		if !ok || (after != "" && id == after) {
			return nil
		}
		e, err := poll.DecodeEntry(v)
		if err != nil {
			return nil // an unreadable row: refetched as missing by the id sweep
		}
		ids, entries = append(ids, id), append(entries, e)
		if len(ids) == servicenow.FetchSlice {
			return buffer.ErrStopScan
		}
		return nil
	})
	return ids, entries, err
}

// finish counts the index again, compares each window with ServiceNow's
// count (less the rows pending the next poll), asks ServiceNow again for
// the windows that still differ (it may have changed during the sweep),
// and saves the result as done.
func (s *Sweeper) finish(ctx context.Context, t Table, r *Result) error {
	unlock := s.fwd.LockTable(t.Name)
	defer unlock()
	bound := poll.ParseUnix(r.Bound)
	ic, err := s.countIndex(t.Name, bound)
	if err != nil {
		return err
	}
	r.Indexed, r.Total, r.Mismatch = 0, ic.total, nil
	recheck := false
	for i := range r.Windows {
		w := &r.Windows[i]
		have := ic.total
		if !w.single() {
			have = 0
			for m, n := range ic.months {
				if w.contains(uint32(m), bound) {
					have += n
				}
			}
		}
		r.Indexed += have
		if w.Source-w.Pending == have {
			continue
		}
		if !w.Differing && !r.Rechecked { // only the hash check moved it: id-sweep it now
			w.Differing, recheck = true, true
			continue
		}
		again, err := s.src.Count(ctx, t.Table, w.cond(r.Floor, r.boundFor(*w)))
		if err != nil {
			return err
		}
		if again.Rows-w.Pending != have {
			r.Mismatch = append(r.Mismatch, w.name())
		}
	}
	if recheck {
		r.Rechecked, r.Phase, r.Window, r.After = true, phaseIDs, 0, ""
		return s.save(ctx, r)
	}
	r.Phase, r.Finished, r.Window, r.After, r.Error = phaseDone, s.cfg.Now().UTC(), 0, "", ""
	return s.save(ctx, r)
}
