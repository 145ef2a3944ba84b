package reconcile

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/sei-edge/servicenow-edge/agent/poll"
	"github.com/sei-edge/servicenow-edge/agent/servicenow"
	"github.com/sei-edge/servicenow-edge/buffer"
	"github.com/sei-edge/servicenow-edge/relay/wire"
)

// countPhase scans the index once, asks ServiceNow for each window's count
// and marks the windows that differ.
func (s *Sweeper) countPhase(ctx context.Context, t Table, r *Result) error {
	unlock := s.fwd.LockTable(t.Name) // the index and ServiceNow counted at one point of the poll
	defer unlock()
	bound := poll.ParseUnix(r.Bound)
	ic, err := s.countIndex(t.Name, bound)
	if err != nil {
		return err
	}
	r.Floor = s.floor(r, ic.floor)
	r.Windows = ic.windows()
	r.Source = 0
	for i := range r.Windows {
		w := &r.Windows[i]
		n, err := s.src.Count(ctx, t.Table, w.cond(r.Floor, r.boundFor(*w)))
		if err != nil {
			return err
		}
		w.Source, w.SourceSum = n.Rows, n.ModCountSum
		w.Differing = n.Rows != w.Index || n.ModCountSum >= 0 && n.ModCountSum != w.IndexSum
		r.Source += n.Rows
	}
	r.Phase, r.Window, r.After = phaseIDs, 0, ""
	return s.save(ctx, r)
}

// floor is the sys_updated_on below which rows are not compared: where the
// table's first backfill began (the bound less the lookback, at the first
// sweep; kept by every later sweep), or the oldest version the index
// holds if older. Rows ServiceNow last updated before it predate the
// agent's lookback and were never meant to be forwarded.
func (s *Sweeper) floor(r *Result, oldest uint32) string {
	f := poll.ParseUnix(r.Bound) - uint32(min(s.cfg.Lookback, time.Duration(poll.ParseUnix(r.Bound))*time.Second)/time.Second)
	if r.Previous != nil && r.Previous.Floor != "" {
		f = poll.ParseUnix(r.Previous.Floor)
	}
	if oldest != 0 && oldest < f {
		f = oldest
	}
	return poll.FormatUnix(f)
}

// boundFor is the created bound of w's condition: the sweep's bound, or
// none for the single window (its index rows have no creation time).
func (r *Result) boundFor(w Window) string {
	if w.single() {
		return ""
	}
	return r.Bound
}

// idPhase id-sweeps each differing window from where it stopped.
func (s *Sweeper) idPhase(ctx context.Context, t Table, r *Result) error {
	for r.Window < len(r.Windows) {
		if w := &r.Windows[r.Window]; w.Differing && !w.Swept {
			if err := s.sweepWindow(ctx, t, r); err != nil {
				return err
			}
			w.Swept = true
		}
		r.Window, r.After = r.Window+1, ""
		if err := s.save(ctx, r); err != nil {
			return err
		}
	}
	r.Phase, r.Window, r.After = phaseVerify, 0, ""
	if !t.VerifyFields || r.Rechecked {
		return s.finish(ctx, t, r)
	}
	return s.save(ctx, r)
}

// sweepWindow reads the ids of window r.Window page by page, after
// r.After, and repairs each page against the index, holding the table's
// poll lock for a page at a time.
func (s *Sweeper) sweepWindow(ctx context.Context, t Table, r *Result) error {
	w := &r.Windows[r.Window]
	cond := w.cond(r.Floor, r.boundFor(*w))
	for {
		more, err := s.sweepPage(ctx, t, r, w, cond)
		if err != nil {
			return err
		}
		if err := s.save(ctx, r); err != nil {
			return err
		}
		if !more {
			return nil
		}
	}
}

// sweepPage reads one page of ids and repairs it; more says whether pages
// follow. r.After moves to the page's last sys_id.
func (s *Sweeper) sweepPage(ctx context.Context, t Table, r *Result, w *Window, cond string) (bool, error) {
	unlock := s.fwd.LockTable(t.Name)
	defer unlock()
	rows, more, err := s.src.IDs(ctx, t.Table, cond, r.After, s.cfg.IDPage)
	if err != nil {
		return false, err
	}
	end := ""
	if more && len(rows) > 0 {
		end = rows[len(rows)-1].SysID
	}
	if more && len(rows) == 0 {
		return true, nil // IDs only answers empty at the end
	}
	indexed, err := s.indexRange(t.Name, r, w, r.After, end)
	if err != nil {
		return false, err
	}
	var fetch []string
	bound := r.Bound
	for _, row := range rows {
		e, ok := indexed[row.SysID]
		if !ok && !isHex(row.SysID) {
			e, ok, err = s.indexGet(t.Name, row.SysID)
			if err != nil {
				return false, err
			}
		}
		delete(indexed, row.SysID)
		same := ok && e.Updated == poll.ParseUnix(row.UpdatedOn) && e.ModCount == row.ModCount
		switch {
		case same:
		case row.UpdatedOn >= bound:
			if !ok {
				w.Pending++ // a row the next poll reads: counted by ServiceNow, not yet indexed
			}
		default:
			fetch = append(fetch, row.SysID)
		}
	}
	var gone []string
	for id := range indexed {
		gone = append(gone, id)
	}
	if !more { // the window's last page: index rows of other id forms
		odd, err := s.oddIDs(t.Name, r, w)
		if err != nil {
			return false, err
		}
		gone = append(gone, s.absent(ctx, t, odd, rows)...)
	}
	if err := s.repair(ctx, t, r, w, fetch, gone); err != nil {
		return false, err
	}
	if len(rows) > 0 {
		r.After = rows[len(rows)-1].SysID
	}
	return more, nil
}

// absent returns the ids of odd not among rows (the window's last page):
// odd ids are few, so each not seen is looked up by fetching it.
func (s *Sweeper) absent(ctx context.Context, t Table, odd []string, rows []servicenow.IDVersion) []string {
	if len(odd) == 0 {
		return nil
	}
	got, err := s.src.Fetch(ctx, t.Table, odd)
	if err != nil {
		return nil // looked up again at the next sweep
	}
	seen := map[string]bool{}
	for _, g := range got {
		seen[g.SysID] = true
	}
	var out []string
	for _, id := range odd {
		if !seen[id] {
			out = append(out, id)
		}
	}
	return out
}

// repair fetches and forwards the rows in fetch and forwards deletes of
// the rows in gone.
func (s *Sweeper) repair(ctx context.Context, t Table, r *Result, w *Window, fetch, gone []string) error {
	var recs []wire.Record
	if len(fetch) > 0 {
		got, err := s.src.Fetch(ctx, t.Table, fetch)
		if err != nil {
			return err
		}
		for _, rec := range got {
			if rec.Table == t.Name && rec.Op == wire.OpUpsert {
				recs = append(recs, rec) // new to the cloud, or newer: no Repair flag needed
			}
		}
	}
	repaired := int64(len(recs))
	recs = s.withDeletes(t.Name, recs, gone)
	if len(recs) == 0 {
		return nil
	}
	if err := s.fwd.Forward(ctx, t.Name, recs); err != nil {
		return err
	}
	w.Repaired += repaired
	w.Deleted += int64(len(gone))
	r.Repaired += repaired
	r.Deleted += int64(len(gone))
	s.log.Info().Str("table", t.Name).Str("window", w.name()).Int64("records", repaired).Int("deleted", len(gone)).Msg("reconcile repaired rows")
	return nil
}

// withDeletes returns recs followed by a reconciliation delete, stamped
// now, for each sys_id of table in gone.
func (s *Sweeper) withDeletes(table string, recs []wire.Record, gone []string) []wire.Record {
	at := s.cfg.Now().UTC().Format(wire.TimeLayout)
	for _, id := range gone {
		recs = append(recs, wire.Record{Op: wire.OpDelete, Table: table, SysID: id, SysUpdatedOn: at,
			SysModCount: servicenow.DeleteModCount, Reason: wire.DeleteReconciliation})
	}
	return recs
}

// isHex reports whether id is stored under the index's compact key form.
func isHex(id string) bool {
	return strings.HasPrefix(poll.IndexKey("t", id), poll.IndexPrefix("t")+"h")
}

// indexRange returns the index rows of window w whose (compact, hex)
// sys_id is in (after, end]; end "" means to the last.
func (s *Sweeper) indexRange(table string, r *Result, w *Window, after, end string) (map[string]poll.IndexEntry, error) {
	out := map[string]poll.IndexEntry{}
	prefix := poll.IndexPrefix(table) + "h"
	start := prefix
	if isHex(after) {
		start = poll.IndexKey(table, after) // ServiceNow orders sys_ids as strings; hex keys sort the same
	}
	bound := poll.ParseUnix(r.Bound)
	err := s.idx.ScanState(prefix, start, func(k, v []byte) error {
		id, ok := poll.IndexSysID(table, string(k))
		if !ok {
			return nil
		}
		if id <= after {
			return nil
		}
		if end != "" && id > end {
			return buffer.ErrStopScan
		}
		e, err := poll.DecodeEntry(v)
		if err != nil {
			return fmt.Errorf("index row %s of %s: %w", id, table, err)
		}
		if w.contains(e.Created, bound) {
			out[id] = e
		}
		return nil
	})
	return out, err
}

// oddIDs returns the index rows of w stored under their literal sys_id
// (not 32 lower-case hex digits).
func (s *Sweeper) oddIDs(table string, r *Result, w *Window) ([]string, error) {
	var out []string
	bound := poll.ParseUnix(r.Bound)
	err := s.idx.ScanState(poll.IndexPrefix(table)+"s", "", func(k, v []byte) error {
		id, ok := poll.IndexSysID(table, string(k))
		e, err := poll.DecodeEntry(v)
		if ok && err == nil && w.contains(e.Created, bound) {
			out = append(out, id)
		}
		return nil
	})
	return out, err
}

// indexGet reads one index row.
func (s *Sweeper) indexGet(table, id string) (poll.IndexEntry, bool, error) {
	raw, err := s.idx.Get(poll.IndexKey(table, id))
	if err != nil {
		return poll.IndexEntry{}, false, nil // absent (or unreadable: repaired as missing)
	}
	e, err := poll.DecodeEntry(raw)
	return e, err == nil, nil
}
