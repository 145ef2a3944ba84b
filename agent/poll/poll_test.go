package poll

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"go.uber.org/goleak"

	"github.com/sei-edge/servicenow-edge/agent/servicenow"
	"github.com/sei-edge/servicenow-edge/agent/servicenow/snowtest"
	"github.com/sei-edge/servicenow-edge/buffer"
	"github.com/sei-edge/servicenow-edge/relay/wire"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// clock is a settable clock shared by the simulator and the poller.
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

func openBuffer(t *testing.T, maxBytes int64) *buffer.Buffer {
	t.Helper()
	b, err := buffer.Open(buffer.Options{Dir: t.TempDir(), MaxBytes: maxBytes, MinFreeBytes: 1, Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// drain leases and acks everything in buf, returning the decoded records
// and the raw NDJSON of every batch.
func drain(t *testing.T, buf *buffer.Buffer) ([]wire.Record, []byte) {
	t.Helper()
	var recs []wire.Record
	var raw bytes.Buffer
	for {
		bs, err := leaseNow(buf, 100)
		if err != nil {
			t.Fatal(err)
		}
		if len(bs) == 0 {
			return recs, raw.Bytes()
		}
		for _, b := range bs {
			rs, err := wire.Decode(b.Data)
			if err != nil {
				t.Fatalf("batch %s: %v", b.ID, err)
			}
			if b.Records != len(rs) {
				t.Errorf("batch %s says %d records, holds %d", b.ID, b.Records, len(rs))
			}
			for _, r := range rs {
				if r.Table != b.Label {
					t.Errorf("batch labelled %s holds a %s record: the relay would reject it", b.Label, r.Table)
				}
			}
			nd, _ := wire.EncodeNDJSON(rs)
			raw.Write(nd)
			recs = append(recs, rs...)
			if err := buf.Ack(context.Background(), b.Seq); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// latest keeps the newest version of each record, as the relay does.
func latest(into map[string]wire.Record, recs []wire.Record) {
	for _, r := range recs {
		k := r.Table + "/" + r.SysID
		if old, ok := into[k]; !ok || r.Version().Newer(old.Version()) {
			into[k] = r
		}
	}
}

func newSim(t *testing.T, clk *clock) (*snowtest.Server, *servicenow.Client) {
	t.Helper()
	sim := snowtest.New(snowtest.Options{Seed: 7, Now: clk.Now, Incidents: 600, Changes: 60, Users: 50, Groups: 5})
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	c, err := servicenow.New(servicenow.Config{
		URL:      srv.URL,
		Auth:     servicenow.Auth{Method: "basic", Username: "admin", Password: "admin"},
		PageSize: 100,
		Exclude:  servicenow.Exclusions{Global: []string{"description", "comments", "work_notes"}},
		Logger:   zerolog.Nop(),
	})
	if err != nil {
		t.Fatal(err)
	}
	return sim, c
}

// TestPollAgainstSimulator polls a simulated instance over real HTTP into a
// real buffer, then updates records and polls again: the buffer ends up with
// every record at its latest version and no excluded field anywhere.
func TestPollAgainstSimulator(t *testing.T) {
	clk := &clock{t: time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)}
	sim, client := newSim(t, clk)
	buf := openBuffer(t, 1<<30)
	p := New(Config{
		Tables:   servicenow.DefaultTables(),
		Lookback: 365 * 24 * time.Hour, Overlap: time.Minute, Lag: 5 * time.Second, Interval: time.Hour,
		Now: clk.Now, Logger: zerolog.Nop(),
	}, client, buf)
	ctx := context.Background()

	if err := p.PollOnce(ctx); err != nil {
		t.Fatal(err)
	}
	got := map[string]wire.Record{}
	recs, raw := drain(t, buf)
	latest(got, recs)
	checkAgainst(t, sim, got, "incident", "change_request")
	checkNoExcluded(t, raw, sim)
	audits := 0
	for _, r := range recs {
		if r.Table != "sys_audit" {
			continue
		}
		audits++
		var f string
		json.Unmarshal(r.Fields["fieldname"], &f)
		if !slices.Contains(servicenow.AuditedFields, f) {
			t.Errorf("sys_audit row about %q read: the default filter reads only %v", f, servicenow.AuditedFields)
		}
	}
	if audits == 0 {
		t.Error("no sys_audit row read")
	}

	// Same-second bulk update of more rows than a page holds, then poll again.
	clk.Add(time.Minute)
	touched := sim.Touch("incident", 250)
	clk.Add(time.Minute)
	if err := p.PollOnce(ctx); err != nil {
		t.Fatal(err)
	}
	recs, raw = drain(t, buf)
	if len(recs) < len(touched) {
		t.Errorf("second poll read %d records, want at least the %d touched", len(recs), len(touched))
	}
	latest(got, recs)
	checkAgainst(t, sim, got, "incident", "change_request")
	checkNoExcluded(t, raw, sim)

	st := p.TableStats("incident")
	if st.LastError != "" || st.TotalRecords < 600 || st.Cursor.Time == "" {
		t.Errorf("incident stats = %+v", st)
	}
	if st.SourceNewest != st.Cursor.Time {
		t.Errorf("newest row on the instance %q, cursor %q: a complete poll ends at the newest row", st.SourceNewest, st.Cursor.Time)
	}
	var c servicenow.Cursor
	rawCur, err := buf.Get(cursorKey("incident"))
	if err != nil || json.Unmarshal(rawCur, &c) != nil || c != st.Cursor {
		t.Errorf("stored cursor %s (%v), stats cursor %+v", rawCur, err, st.Cursor)
	}
}

func checkAgainst(t *testing.T, sim *snowtest.Server, got map[string]wire.Record, tables ...string) {
	t.Helper()
	for _, table := range tables {
		rows := sim.Records(table)
		for _, row := range rows {
			id := row["sys_id"].(string)
			r, ok := got[table+"/"+id]
			if !ok {
				t.Errorf("%s/%s never polled", table, id)
				continue
			}
			if r.SysUpdatedOn != row["sys_updated_on"] || fmt.Sprint(r.SysModCount) != row["sys_mod_count"] {
				t.Errorf("%s/%s at %s/%d, instance has %v/%v", table, id, r.SysUpdatedOn, r.SysModCount, row["sys_updated_on"], row["sys_mod_count"])
			}
		}
		n, deleted := 0, 0
		for k, r := range got {
			if !strings.HasPrefix(k, table+"/") {
				continue
			}
			if r.Op == wire.OpDelete {
				deleted++
				if _, ok := sim.Get(table, r.SysID); ok {
					t.Errorf("%s deleted in the buffer but present on the instance", k)
				}
				continue
			}
			n++
		}
		if n != len(rows) {
			t.Errorf("%s: polled %d live records, instance has %d", table, n, len(rows))
		}
		if table == "incident" && deleted == 0 {
			t.Errorf("no incident deletion reached the buffer")
		}
	}
}

// checkNoExcluded looks for excluded keys and for their values.
func checkNoExcluded(t *testing.T, raw []byte, sim *snowtest.Server) {
	t.Helper()
	for _, f := range []string{`"description"`, `"comments"`, `"work_notes"`} {
		if bytes.Contains(raw, []byte(f)) {
			t.Errorf("excluded field %s found in the buffer", f)
		}
	}
	for _, row := range sim.Records("incident")[:20] {
		if d, _ := row["description"].(string); len(d) > 12 && bytes.Contains(raw, []byte(d)) {
			t.Errorf("an excluded description value reached the buffer: %q", d)
		}
	}
}

// fakeSource serves canned pages and records where each scan started.
type fakeSource struct {
	mu    sync.Mutex
	pages []servicenow.Page
	froms []servicenow.Cursor
	err   error
}

func (f *fakeSource) Scan(ctx context.Context, t servicenow.Table, from servicenow.Cursor, upto time.Time, fn func(servicenow.Page) error) error {
	f.mu.Lock()
	f.froms = append(f.froms, from)
	pages, err := f.pages, f.err
	f.mu.Unlock()
	for _, p := range pages {
		if err := fn(p); err != nil {
			return err
		}
	}
	return err
}

func (f *fakeSource) Newest(context.Context, servicenow.Table) (string, error) { return "", nil }

func page(n int, at string, size int) servicenow.Page {
	p := servicenow.Page{Table: "incident", Number: n, Cursor: servicenow.Cursor{Time: at, SysID: fmt.Sprintf("%032x", n*1000+size)}}
	for i := range size {
		p.Records = append(p.Records, wire.Record{Op: wire.OpUpsert, Table: "incident", SysID: fmt.Sprintf("%032x", n*1000+i),
			SysUpdatedOn: at, SysModCount: 1, Fields: map[string]json.RawMessage{"x": json.RawMessage(`"` + strings.Repeat("y", 2000) + `"`)}})
	}
	return p
}

func TestCursorLookbackAndOverlap(t *testing.T) {
	clk := &clock{t: time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)}
	src := &fakeSource{pages: []servicenow.Page{page(1, "2026-10-31 10:00:00", 3)}}
	buf := openBuffer(t, 1<<30)
	p := New(Config{Tables: []servicenow.Table{{Name: "incident", Field: "sys_updated_on"}},
		Lookback: 24 * time.Hour, Overlap: 2 * time.Minute, Lag: 5 * time.Second, Now: clk.Now, Logger: zerolog.Nop()}, src, buf)
	for range 2 {
		if err := p.PollOnce(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	want := []servicenow.Cursor{{Time: "2026-10-31 11:59:55"}, {Time: "2026-10-31 09:58:00"}}
	if fmt.Sprint(src.froms) != fmt.Sprint(want) {
		t.Errorf("scans started at %v, want %v (lookback, then cursor minus overlap)", src.froms, want)
	}
	// The figures are saved without the cursor, which has its own key.
	if raw, err := buf.Get(statsKey("incident")); err != nil || bytes.Contains(raw, []byte(`"cursor"`)) {
		t.Errorf("saved figures %s (%v), want them without the cursor", raw, err)
	}
	// A restarted poller resumes from the stored cursor, keeps its
	// figures, and shows the exclusions configured now.
	cfg2 := p.cfg
	cfg2.Tables = []servicenow.Table{{Name: "incident", Field: "sys_updated_on", Exclude: []string{"description"}}}
	p2 := New(cfg2, src, buf)
	st := p2.TableStats("incident")
	if st.Cursor.Time != "2026-10-31 10:00:00" || st.TotalRecords != 6 {
		t.Errorf("restarted poller's figures = %+v", st)
	}
	if len(st.Excluded) != 1 || st.Excluded[0] != "description" {
		t.Errorf("restarted poller shows exclusions %v, want the configured [description]", st.Excluded)
	}
}

// TestUnreadableCursorFailsTheTable: a stored cursor that is not a time
// stops that table's run with an error naming it, instead of a scan from a
// made-up position.
func TestUnreadableCursorFailsTheTable(t *testing.T) {
	clk := &clock{t: time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)}
	_, client := newSim(t, clk)
	buf := openBuffer(t, 1<<30)
	if err := buf.Set(context.Background(), cursorKey("incident"), []byte(`{"time":"yesterday","sys_id":""}`)); err != nil {
		t.Fatal(err)
	}
	p := New(Config{Tables: []servicenow.Table{{Name: "incident", Field: "sys_updated_on"}},
		Lookback: time.Hour, Overlap: time.Minute, Now: clk.Now, Logger: zerolog.Nop()}, client, buf)
	err := p.PollOnce(context.Background())
	if err == nil || !strings.Contains(err.Error(), "poll incident") || !strings.Contains(err.Error(), `invalid cursor time "yesterday"`) {
		t.Errorf("PollOnce = %v, want the invalid cursor of incident", err)
	}
	if recs, _ := drain(t, buf); len(recs) != 0 {
		t.Errorf("buffered %d records from an unreadable cursor", len(recs))
	}
}

// TestBufferFullPausesAndResumes: with a buffer that holds one page, the
// poller waits with its cursor held until a forwarder drains the buffer;
// status shows the pause and why, and every page arrives once, in order.
func TestBufferFullPausesAndResumes(t *testing.T) {
	var pages []servicenow.Page
	for i := 1; i <= 12; i++ {
		pages = append(pages, page(i, fmt.Sprintf("2026-10-31 10:%02d:00", i), 20))
	}
	one, err := encodeChunks(pages[0].Records)
	if err != nil || len(one) != 1 {
		t.Fatalf("a page encodes to %d batches (%v), want 1", len(one), err)
	}
	buf := openBuffer(t, int64(len(one[0].data))*3/2)
	fill := &fillingBuffer{Buffer: buf, t: t}
	clk := &clock{t: time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)}
	p := New(Config{Tables: []servicenow.Table{{Name: "incident", Field: "sys_updated_on"}}, Lookback: 48 * time.Hour,
		RetryFull: time.Millisecond, Now: clk.Now, Logger: zerolog.Nop()}, &fakeSource{pages: pages}, fill)
	fill.p = p
	if err := p.PollOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	rest, _ := drain(t, buf)
	recs := append(fill.drained, rest...)
	if len(recs) != 12*20 {
		t.Fatalf("buffered %d records, want %d", len(recs), 12*20)
	}
	for i := 1; i < len(recs); i++ {
		if recs[i].SysUpdatedOn < recs[i-1].SysUpdatedOn {
			t.Fatalf("records out of order at %d", i)
		}
	}
	if fill.pauses != len(pages)-1 || fill.pausedSeen != fill.pauses {
		t.Errorf("paused %d times, status showed %d of them; want %d: every page after the first finds the buffer full",
			fill.pauses, fill.pausedSeen, len(pages)-1)
	}
	if p.Stats().Paused {
		t.Error("still paused after the buffer drained")
	}
	var c servicenow.Cursor
	if raw, err := buf.Get(cursorKey("incident")); err != nil || json.Unmarshal(raw, &c) != nil || c != pages[len(pages)-1].Cursor {
		t.Errorf("stored cursor %s (%v), want the last page's %+v", raw, err, pages[len(pages)-1].Cursor)
	}
}

// fillingBuffer passes appends to a real buffer and plays a forwarder that
// drains it only after the poller found it full three times in a row.
// Meanwhile it checks that the stored cursor stays where it was and that
// status shows the pause. Appends come from the test's goroutine (PollOnce).
type fillingBuffer struct {
	*buffer.Buffer
	t *testing.T
	p *Poller

	fulls      int    // ErrFulls in a row
	held       []byte // the stored cursor when the pause began
	pauses     int
	pausedSeen int // pauses during which Stats showed Paused with the reason
	drained    []wire.Record
}

func (f *fillingBuffer) Append(ctx context.Context, b buffer.Batch, st map[string][]byte) (buffer.Batch, error) {
	out, err := f.Buffer.Append(ctx, b, st)
	if !errors.Is(err, buffer.ErrFull) {
		f.fulls = 0
		return out, err
	}
	f.fulls++
	cur, gerr := f.Buffer.Get(cursorKey("incident"))
	if gerr != nil {
		f.t.Fatalf("a full buffer before any page was stored: %v", gerr)
	}
	switch f.fulls {
	case 1:
		f.pauses++
		f.held = cur
		if bytes.Equal(cur, st[cursorKey("incident")]) {
			f.t.Errorf("cursor %s already stored with the page that did not fit", cur)
		}
	case 2:
		if s := f.p.Stats(); s.Paused && strings.Contains(s.PauseReason, "buffer full") {
			f.pausedSeen++
		} else {
			f.t.Errorf("while the buffer is full, Stats shows paused %v, reason %q", s.Paused, s.PauseReason)
		}
	}
	if !bytes.Equal(cur, f.held) {
		f.t.Errorf("cursor moved from %s to %s while paused", f.held, cur)
	}
	if f.fulls == 3 {
		recs, _ := drain(f.t, f.Buffer)
		f.drained = append(f.drained, recs...)
	}
	return out, err
}

func TestOneTableFailingDoesNotStopOthers(t *testing.T) {
	src := &fakeSource{pages: []servicenow.Page{page(1, "2026-10-31 10:00:00", 2)}, err: errors.New("boom")}
	buf := openBuffer(t, 1<<30)
	p := New(Config{Tables: []servicenow.Table{{Name: "incident", Field: "sys_updated_on"}, {Name: "sys_user", Field: "sys_updated_on"}},
		Lookback: time.Hour, Logger: zerolog.Nop()}, src, buf)
	err := p.PollOnce(context.Background())
	if err == nil || !strings.Contains(err.Error(), "poll incident") || !strings.Contains(err.Error(), "poll sys_user") {
		t.Fatalf("err = %v, want both tables' errors", err)
	}
	if len(src.froms) != 2 {
		t.Errorf("scanned %d tables, want 2", len(src.froms))
	}
	if st := p.TableStats("sys_user"); st.LastError == "" || st.Failures != 1 {
		t.Errorf("sys_user stats = %+v", st)
	}
	// The page committed before the failure stays, with its cursor.
	if _, err := buf.Get(cursorKey("incident")); err != nil {
		t.Errorf("cursor of the committed page: %v", err)
	}
}

func noise(rng *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}

func TestEncodeChunksFitOneMessage(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var recs []wire.Record
	for i := range 3000 {
		recs = append(recs, wire.Record{Op: wire.OpUpsert, Table: "incident", SysID: fmt.Sprintf("%032x", i), SysUpdatedOn: "2026-10-31 10:00:00",
			Fields: map[string]json.RawMessage{"x": json.RawMessage(`"` + hex.EncodeToString(noise(rng, 600)) + `"`)}})
	}
	chunks, err := encodeChunks(recs)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, c := range chunks {
		if len(c.data) > wire.MaxPayload {
			t.Errorf("chunk of %d bytes exceeds %d", len(c.data), wire.MaxPayload)
		}
		rs, err := wire.Decode(c.data)
		if err != nil || len(rs) != c.records {
			t.Fatalf("chunk decodes to %d records (%v), says %d", len(rs), err, c.records)
		}
		n += c.records
	}
	if n != len(recs) || len(chunks) < 2 {
		t.Errorf("%d chunks hold %d records, want %d records in several chunks", len(chunks), n, len(recs))
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
