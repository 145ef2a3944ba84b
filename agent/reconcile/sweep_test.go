package reconcile

import (
	"context"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/rs/zerolog"
	"go.uber.org/goleak"

	"github.com/sei-edge/servicenow-edge/agent/poll"
	"github.com/sei-edge/servicenow-edge/agent/servicenow"
	"github.com/sei-edge/servicenow-edge/agent/servicenow/snowtest"
	"github.com/sei-edge/servicenow-edge/buffer"
	"github.com/sei-edge/servicenow-edge/relay/wire"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// rig is a simulated instance, a real buffer, a poller and a sweeper, and
// the cloud: what the buffer forwarded, newest version wins.
type rig struct {
	t      *testing.T
	clk    *clock
	sim    *snowtest.Server
	client *servicenow.Client
	buf    *buffer.Buffer
	poller *poll.Poller
	cloud  map[string]wire.Record
	tables []Table
}

func newRig(t *testing.T, incidents int, verify bool) *rig {
	t.Helper()
	clk := &clock{t: time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)}
	sim := snowtest.New(snowtest.Options{Seed: 11, Now: clk.Now, Incidents: incidents, Changes: 10, Users: 20, Groups: 3, Spread: 200 * 24 * time.Hour})
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	client, err := servicenow.New(servicenow.Config{
		URL: srv.URL, Auth: servicenow.Auth{Method: "basic", Username: "admin", Password: "admin"},
		PageSize: 100, Exclude: servicenow.Exclusions{Global: []string{"description"}}, Logger: zerolog.Nop(),
	})
	if err != nil {
		t.Fatal(err)
	}
	buf, err := buffer.Open(buffer.Options{Dir: t.TempDir(), MaxBytes: 1 << 30, MinFreeBytes: 1, Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { buf.Close() })
	tables := servicenow.DefaultTables()
	p := poll.New(poll.Config{Tables: tables, Lookback: 365 * 24 * time.Hour, Overlap: time.Minute, Lag: 5 * time.Second,
		Interval: time.Hour, Now: clk.Now, Logger: zerolog.Nop()}, client, buf)
	var rt []Table
	for _, tb := range tables {
		if tb.Field == servicenow.FieldUpdatedOn {
			rt = append(rt, Table{Table: tb, Interval: 24 * time.Hour, VerifyFields: verify})
		}
	}
	return &rig{t: t, clk: clk, sim: sim, client: client, buf: buf, poller: p, cloud: map[string]wire.Record{}, tables: rt}
}

func (r *rig) sweeper(page int) *Sweeper {
	return New(Config{Tables: r.tables, IDPage: page, Now: r.clk.Now, Logger: zerolog.Nop(), Lookback: 365 * 24 * time.Hour,
		Bound: func(table string) string { return r.poller.TableStats(table).Cursor.Time }}, r.client, r.buf, r.poller)
}

// poll polls once and drains into the cloud; it returns what was forwarded.
func (r *rig) poll() []wire.Record {
	r.t.Helper()
	r.clk.Add(time.Minute)
	if err := r.poller.PollOnce(context.Background()); err != nil {
		r.t.Fatal(err)
	}
	return r.drain()
}

func (r *rig) drain() []wire.Record {
	r.t.Helper()
	var all []wire.Record
	for {
		bs, err := leaseNow(r.buf, 100)
		if err != nil {
			r.t.Fatal(err)
		}
		if len(bs) == 0 {
			return all
		}
		for _, b := range bs {
			recs, err := wire.Decode(b.Data)
			if err != nil {
				r.t.Fatal(err)
			}
			for _, rec := range recs {
				k := rec.Table + "/" + rec.SysID
				old, ok := r.cloud[k]
				repair := rec.Repair && ok && old.Op == wire.OpUpsert && rec.Version() == old.Version()
				if !ok || rec.Version().Newer(old.Version()) || repair {
					r.cloud[k] = rec
				}
			}
			all = append(all, recs...)
			if err := r.buf.Ack(context.Background(), b.Seq); err != nil {
				r.t.Fatal(err)
			}
		}
	}
}

// checkCloud compares the cloud's incidents with the instance: the same
// live rows, versions, and (fields) the same forwarded fields.
func (r *rig) checkCloud(fields bool) {
	r.t.Helper()
	var want, got []string
	for _, row := range r.sim.Records("incident") {
		id := row["sys_id"].(string)
		if !r.sim.Hidden("incident", id) {
			want = append(want, id+" "+row["sys_updated_on"].(string)+" "+row["sys_mod_count"].(string))
		}
	}
	var ids []string
	for _, rec := range r.cloud {
		if rec.Table == "incident" && rec.Op == wire.OpUpsert {
			got = append(got, rec.SysID+" "+rec.SysUpdatedOn+" "+itoa(rec.SysModCount))
			ids = append(ids, rec.SysID)
		}
	}
	sort.Strings(want)
	sort.Strings(got)
	if diff := cmp.Diff(want, got); diff != "" {
		r.t.Errorf("cloud's live incidents differ from the instance (-instance +cloud):\n%s", diff)
	}
	if !fields {
		return
	}
	fresh, err := r.client.Fetch(context.Background(), r.tables[0].Table, ids)
	if err != nil {
		r.t.Fatal(err)
	}
	for _, f := range fresh {
		if c := r.cloud["incident/"+f.SysID]; poll.FieldHash(c.Fields) != poll.FieldHash(f.Fields) {
			r.t.Errorf("incident %s: cloud fields differ from the instance's", f.SysID)
		}
	}
}

func itoa(n int64) string { b, _ := json.Marshal(n); return string(b) }

// invisible makes one change of each kind a poll cannot see and returns
// (silently updated, hard-deleted, shown again). The shown row was hidden
// before the first poll by hideFirst.
func (r *rig) invisible(shown string) (string, string) {
	r.t.Helper()
	rows := r.sim.Records("incident")
	var silent, gone string
	for _, row := range rows {
		id := row["sys_id"].(string)
		if id == shown {
			continue
		}
		if silent == "" {
			silent = id
		} else if gone == "" {
			gone = id
		}
	}
	if err := r.sim.UpdateSilently("incident", silent, map[string]string{"short_description": "changed by a script, autoSysFields(false)"}); err != nil {
		r.t.Fatal(err)
	}
	if err := r.sim.HardDelete("incident", gone); err != nil {
		r.t.Fatal(err)
	}
	r.sim.SetHidden("incident", shown, false)
	return silent, gone
}

// TestSweepRepairsInvisibleChanges: each kind of invisible change is missed
// by polls (checked), and one sweep with verify_fields repairs them all.
func TestSweepRepairsInvisibleChanges(t *testing.T) {
	r := newRig(t, 400, true)
	shown := r.sim.Records("incident")[5]["sys_id"].(string)
	r.sim.SetHidden("incident", shown, true)
	r.poll()
	silent, gone := r.invisible(shown)
	for _, rec := range r.poll() {
		if rec.Table == "incident" && (rec.SysID == silent || rec.SysID == gone || rec.SysID == shown) {
			t.Fatalf("the poll saw the invisible change of %s: the test changes nothing a poll misses", rec.SysID)
		}
	}
	if _, ok := r.cloud["incident/"+shown]; ok {
		t.Fatal("the row hidden at poll time reached the cloud")
	}
	res, err := r.sweeper(50).Sweep(context.Background(), "incident")
	if err != nil {
		t.Fatal(err)
	}
	forwarded := r.drain()
	r.checkCloud(true)
	var del *wire.Record
	for i, rec := range forwarded {
		if rec.SysID == gone {
			del = &forwarded[i]
		}
	}
	if del == nil || del.Op != wire.OpDelete || del.Reason != wire.DeleteReconciliation {
		t.Errorf("hard-deleted row: forwarded %+v, want a delete with reason %q", del, wire.DeleteReconciliation)
	}
	if res.Repaired != 2 || res.Deleted != 1 || len(res.Mismatch) != 0 || res.Source != res.Indexed {
		t.Errorf("result = repaired %d deleted %d mismatch %v servicenow %d forwarded %d; want 2, 1, none, equal",
			res.Repaired, res.Deleted, res.Mismatch, res.Source, res.Indexed)
	}
	// A second sweep of the now equal table repairs nothing.
	res, err = r.sweeper(50).Sweep(context.Background(), "incident")
	if err != nil {
		t.Fatal(err)
	}
	if res.Repaired != 0 || res.Deleted != 0 || len(r.drain()) != 0 {
		t.Errorf("second sweep repaired %d, deleted %d", res.Repaired, res.Deleted)
	}
}

// TestSweepWithoutVerifyCountsOnly: without verify_fields, a sweep of
// unchanged data makes only count requests, and a silent update is not
// seen (what verify_fields is for) while the other changes are repaired.
func TestSweepWithoutVerifyCountsOnly(t *testing.T) {
	r := newRig(t, 300, false)
	shown := r.sim.Records("incident")[5]["sys_id"].(string)
	r.sim.SetHidden("incident", shown, true)
	r.poll()
	before := len(r.sim.Requests())
	res, err := r.sweeper(0).Sweep(context.Background(), "incident")
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range r.sim.Requests()[before:] {
		if !contains(q.Path, "/api/now/stats/") {
			t.Errorf("sweep of unchanged data made a request other than a count: %s", q.Path)
		}
	}
	if res.Repaired != 0 || res.Deleted != 0 || len(res.Windows) == 0 {
		t.Errorf("unchanged data: %+v", res)
	}
	silent, _ := r.invisible(shown)
	r.poll()
	if _, err := r.sweeper(0).Sweep(context.Background(), "incident"); err != nil {
		t.Fatal(err)
	}
	r.drain()
	r.checkCloud(false)
	row, _ := r.sim.Get("incident", silent)
	var cloudDesc string
	json.Unmarshal(r.cloud["incident/"+silent].Fields["short_description"], &cloudDesc)
	if cloudDesc == row["short_description"] {
		t.Error("a sweep without verify_fields repaired a silent update: it should cost counts only")
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }

// failingSource fails the nth Fetch, as a stop or a network failure would.
type failingSource struct {
	Source
	fetches, failAt int
}

func (f *failingSource) Fetch(ctx context.Context, t servicenow.Table, ids []string) ([]wire.Record, error) {
	f.fetches++
	if f.fetches == f.failAt {
		return nil, errors.New("connection reset")
	}
	return f.Source.Fetch(ctx, t, ids)
}

// TestSweepResumes: a sweep interrupted in its id sweep resumes from its
// saved position (same bound, windows and counters) in a new Sweeper, and
// ends with the same cloud as an uninterrupted one.
func TestSweepResumes(t *testing.T) {
	r := newRig(t, 400, false)
	r.poll()
	// Many rows missing from the index: delete them from the index's view
	// by hard-deleting in the cloud's source? No: hide them at poll, show later.
	var shown []string
	for i, row := range r.sim.Records("incident") {
		if i%7 == 0 {
			shown = append(shown, row["sys_id"].(string))
		}
	}
	r2 := newRigFrom(t, r, shown)
	src := &failingSource{Source: r2.client, failAt: 3}
	s := New(Config{Tables: r2.tables, IDPage: 20, Now: r2.clk.Now, Logger: zerolog.Nop(), Lookback: 365 * 24 * time.Hour,
		Bound: func(table string) string { return r2.poller.TableStats(table).Cursor.Time }}, src, r2.buf, r2.poller)
	if _, err := s.Sweep(context.Background(), "incident"); err == nil {
		t.Fatal("the sweep did not fail at the third fetch")
	}
	saved, err := loadResult(r2.buf.Get, "incident")
	if err != nil || saved == nil || saved.Phase != phaseIDs || saved.After == "" || saved.Repaired == 0 {
		t.Fatalf("saved progress = %+v, %v; want the id phase part done", saved, err)
	}
	r2.clk.Add(time.Hour)
	res, err := r2.sweeper(20).Sweep(context.Background(), "incident")
	if err != nil {
		t.Fatal(err)
	}
	if res.Started != saved.Started || res.Bound != saved.Bound {
		t.Errorf("resumed sweep started %v bound %s; saved %v %s", res.Started, res.Bound, saved.Started, saved.Bound)
	}
	if res.Repaired != int64(len(shown)) || len(res.Mismatch) != 0 {
		t.Errorf("resumed sweep repaired %d (want %d), mismatch %v", res.Repaired, len(shown), res.Mismatch)
	}
	r2.drain()
	r2.checkCloud(false)
	if src.fetches > 3 {
		t.Errorf("the resumed sweep used the failed source again")
	}
}

// newRigFrom is a fresh rig over r's instance whose first poll runs with
// hidden rows hidden, which are then shown.
func newRigFrom(t *testing.T, r *rig, hidden []string) *rig {
	t.Helper()
	for _, id := range hidden {
		r.sim.SetHidden("incident", id, true)
	}
	buf, err := buffer.Open(buffer.Options{Dir: t.TempDir(), MaxBytes: 1 << 30, MinFreeBytes: 1, Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { buf.Close() })
	p := poll.New(poll.Config{Tables: servicenow.DefaultTables(), Lookback: 365 * 24 * time.Hour, Overlap: time.Minute, Lag: 5 * time.Second,
		Interval: time.Hour, Now: r.clk.Now, Logger: zerolog.Nop()}, r.client, buf)
	r2 := &rig{t: t, clk: r.clk, sim: r.sim, client: r.client, buf: buf, poller: p, cloud: map[string]wire.Record{}, tables: r.tables}
	r2.poll()
	for _, id := range hidden {
		r.sim.SetHidden("incident", id, false)
	}
	return r2
}

// TestSweepOddSysIDs: rows whose sys_id is not 32 hex digits (kept under
// their literal id in the index) are compared too: one hard-deleted is
// deleted in the cloud, one shown after it was polled hidden is fetched.
func TestSweepOddSysIDs(t *testing.T) {
	r := newRig(t, 100, false)
	gone := r.sim.Insert("incident", map[string]string{"sys_id": "custom.row-1", "short_description": "odd id"})
	shown := r.sim.Insert("incident", map[string]string{"sys_id": "custom.row-2", "short_description": "odd id, hidden"})
	if gone != "custom.row-1" || shown != "custom.row-2" {
		t.Fatalf("simulator made ids %q %q", gone, shown)
	}
	// An update, so the two rows' mod counts differ: with equal ones, a
	// delete and an appearance in one month offset each other in both
	// the count and the mod-count sum (a documented limit).
	if err := r.sim.Update("incident", gone, map[string]string{"short_description": "odd id, updated"}); err != nil {
		t.Fatal(err)
	}
	r.sim.SetHidden("incident", shown, true)
	r.poll()
	if _, ok := r.cloud["incident/"+gone]; !ok {
		t.Fatal("the odd row was not polled")
	}
	r.clk.Add(time.Hour)
	r.sim.Touch("incident", 1) // moves the cursor past the odd rows and the overlap
	r.poll()
	if err := r.sim.HardDelete("incident", gone); err != nil {
		t.Fatal(err)
	}
	r.sim.SetHidden("incident", shown, false)
	r.poll()
	if _, ok := r.cloud["incident/"+shown]; ok {
		t.Fatal("the poll saw the row shown after it was polled hidden")
	}
	res, err := r.sweeper(30).Sweep(context.Background(), "incident")
	if err != nil {
		t.Fatal(err)
	}
	r.drain()
	r.checkCloud(false)
	if res.Repaired != 1 || res.Deleted != 1 || len(res.Mismatch) != 0 {
		t.Errorf("result: repaired %d deleted %d mismatch %v; want 1, 1, none", res.Repaired, res.Deleted, res.Mismatch)
	}
}

// TestSweepOffsettingChanges: in one month, a hard delete and a row shown
// again with the same mod count leave the window's count and mod-count sum
// equal. With verify_fields the hash check finds the deleted row, and the
// window it changed is id-swept in the same sweep, finding the other.
func TestSweepOffsettingChanges(t *testing.T) {
	r := newRig(t, 100, true)
	gone := r.sim.Insert("incident", map[string]string{"short_description": "will vanish"})
	shown := r.sim.Insert("incident", map[string]string{"short_description": "hidden at poll time"})
	r.sim.SetHidden("incident", shown, true)
	r.poll()
	r.clk.Add(time.Hour)
	r.sim.Touch("incident", 1) // moves the cursor past both rows and the overlap
	r.poll()
	if err := r.sim.HardDelete("incident", gone); err != nil {
		t.Fatal(err)
	}
	r.sim.SetHidden("incident", shown, false)
	r.poll()
	res, err := r.sweeper(30).Sweep(context.Background(), "incident")
	if err != nil {
		t.Fatal(err)
	}
	r.drain()
	r.checkCloud(true)
	if res.Repaired != 1 || res.Deleted != 1 || len(res.Mismatch) != 0 || !res.Rechecked {
		t.Errorf("result: repaired %d deleted %d mismatch %v rechecked %v; want 1, 1, none, true", res.Repaired, res.Deleted, res.Mismatch, res.Rechecked)
	}
}

// leaseNow leases what is pending in buf now, without waiting: Lease with
// a done context.
func leaseNow(buf *buffer.Buffer, max int) ([]buffer.Batch, error) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	batches, err := buf.Lease(ctx, max)
	if errors.Is(err, context.Canceled) {
		err = nil
	}
	return batches, err
}
