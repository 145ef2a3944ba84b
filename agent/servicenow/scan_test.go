package servicenow

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sei-edge/servicenow-edge/agent/servicenow/snowtest"
)

var incidentTable = Table{Name: "incident", Field: FieldUpdatedOn}

// run scans table twice, the way the poller does: a first run up to its
// start, then a later run from the first run's cursor minus an overlap.
func twoRuns(t *testing.T, c *Client, clk *clock, tbl Table, onBetween func()) *collector {
	t.Helper()
	ctx := context.Background()
	col := newCollector()
	start := clk.Now()
	if err := c.Scan(ctx, tbl, CursorAt(start.Add(-200*24*time.Hour)), start, col.add); err != nil {
		t.Fatalf("run 1: %v", err)
	}
	if onBetween != nil {
		onBetween()
	}
	clk.Advance(5 * time.Second)
	if err := c.Scan(ctx, tbl, col.last.Rewind(2*time.Second), clk.Now(), col.add); err != nil {
		t.Fatalf("run 2: %v", err)
	}
	return col
}

func TestScanKeysetUnderChurnAndFaults(t *testing.T) {
	clk := newClock()
	s, hs := sim(t, snowtest.Options{Seed: 7, Now: clk.Now, Incidents: 2500, Changes: 1, Users: 20, Groups: 2})
	const hide = 0.3
	// A bulk update inside the window: 600 rows (six pages) in one second.
	clk.Advance(-time.Hour)
	s.Touch("incident", 600)
	clk.Advance(time.Hour)
	s.HideRows("incident", hide)
	// Faults: 429 (Retry-After 3s), 5xx, cut-off JSON, HTML, and pages above
	// 80 rows always cut off (the client must shrink from 100).
	s.SetFaults(snowtest.Faults{RateLimitEvery: 7, RetryAfter: 3 * time.Second, ServerErrorEvery: 11,
		TruncateEvery: 13, HTMLEvery: 17, MaxLimitBeforeTruncate: 80})
	// During paging, bulk updates of more rows than a page move rows out of
	// the window (and into the next run's).
	s.OnPage(func(table string, page int) {
		if page%5 == 0 {
			s.Touch("incident", 150)
		}
	})
	c, sl, _ := testClient(t, hs.URL, nil)
	col := twoRuns(t, c, clk, incidentTable, func() { s.OnPage(nil) })
	missing, visible := col.missing(s, "incident")
	if len(missing) > 0 {
		for _, id := range missing[:min(5, len(missing))] {
			r, _ := s.Get("incident", id)
			t.Logf("missing %s current %v/%v seen %v", id, r["sys_updated_on"], r["sys_mod_count"], col.versions[id])
		}
		t.Fatalf("%d of %d visible rows not seen at their latest version (stats %+v)", len(missing), visible, c.Stats())
	}
	st := c.Stats()
	if st.RateLimited == 0 || st.Errors[500]+st.Errors[503] == 0 || st.PageShrinks == 0 {
		t.Errorf("faults not exercised: %+v", st)
	}
	sawRetryAfter := false
	for _, w := range sl.all() {
		if w == 3*time.Second {
			sawRetryAfter = true
		}
	}
	if !sawRetryAfter {
		t.Errorf("Retry-After 3s not honoured; waits %v", sl.all())
	}
	t.Logf("%d visible rows, %d pages, stats %+v", visible, col.pages, st)
}

// naiveOffsetScan reads the same window with offset paging, the way most
// connectors do.
func naiveOffsetScan(t *testing.T, base string, from, upto time.Time, pageSize int, seen map[string]string) {
	t.Helper()
	c, _, _ := testClient(t, base, nil)
	for off := 0; ; off += pageSize {
		q := url.Values{"sysparm_query": {"sys_updated_on>=" + formatUpto(from) + "^sys_updated_on<" + formatUpto(upto) + "^ORDERBYsys_updated_on"},
			"sysparm_limit": {strconv.Itoa(pageSize)}, "sysparm_offset": {strconv.Itoa(off)}}
		var rows []Row
		err := c.do(context.Background(), request{op: "naive", table: "incident", path: tablePath("incident"),
			query: func() url.Values { return q },
			check: func(r *response) error {
				var err error
				rows, err = decodeList(r.header.Get("Content-Type"), r.body)
				return err
			}})
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) == 0 {
			return
		}
		for _, r := range rows {
			seen[r.String("sys_id")] = r.String("sys_updated_on") + "/" + r.String("sys_mod_count")
		}
	}
}

// TestNaiveOffsetScanLosesRows is the control: the same churn makes offset
// paging skip rows for good, which the keyset scan above does not.
func TestNaiveOffsetScanLosesRows(t *testing.T) {
	clk := newClock()
	s, hs := sim(t, snowtest.Options{Seed: 7, Now: clk.Now, Incidents: 2500, Changes: 1, Users: 20, Groups: 2})
	s.OnPage(func(table string, page int) {
		if page%5 == 0 {
			s.Touch("incident", 150)
		}
	})
	seen := map[string]string{}
	start := clk.Now()
	naiveOffsetScan(t, hs.URL, start.Add(-200*24*time.Hour), start, 100, seen)
	s.OnPage(nil)
	clk.Advance(5 * time.Second)
	naiveOffsetScan(t, hs.URL, start.Add(-2*time.Second), clk.Now(), 100, seen)
	lost := 0
	for _, r := range s.Records("incident") {
		if seen[r["sys_id"].(string)] != r["sys_updated_on"].(string)+"/"+r["sys_mod_count"].(string) {
			lost++
		}
	}
	if lost == 0 {
		t.Fatal("naive offset paging lost nothing: the churn test has no teeth")
	}
	t.Logf("naive offset paging missed %d rows", lost)
}

func TestScanEmptyPagesFromACLs(t *testing.T) {
	for _, tt := range []struct {
		name     string
		hide     float64
		maxLimit int // MaxLimitBeforeTruncate: caps how far a page can grow
		offsets  bool
	}{
		{"larger page finds the rows", 0.95, 0, false},
		{"offset fallback past long hidden runs", 0.995, 30, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			clk := newClock()
			s, hs := sim(t, snowtest.Options{Seed: 3, Now: clk.Now, Incidents: 3000, Changes: 1, Users: 5, Groups: 1})
			s.HideRows("incident", tt.hide)
			s.SetFaults(snowtest.Faults{MaxLimitBeforeTruncate: tt.maxLimit})
			c, _, _ := testClient(t, hs.URL, func(c *Config) { c.PageSize = 20 })
			col := newCollector()
			start := clk.Now()
			if err := c.Scan(context.Background(), incidentTable, CursorAt(start.Add(-200*24*time.Hour)), start, col.add); err != nil {
				t.Fatal(err)
			}
			missing, visible := col.missing(s, "incident")
			if visible == 0 || len(missing) > 0 {
				t.Fatalf("visible %d, missing %d", visible, len(missing))
			}
			t.Logf("visible %d, %d pages, stats %+v", visible, col.pages, c.Stats())
			if got := c.Stats().OffsetFallback > 0; got != tt.offsets {
				t.Errorf("offset fallback used = %v, want %v (%+v)", got, tt.offsets, c.Stats())
			}
		})
	}
}

func TestScanResumesFromPageCursor(t *testing.T) {
	clk := newClock()
	s, hs := sim(t, snowtest.Options{Seed: 5, Now: clk.Now, Incidents: 450, Changes: 1, Users: 5, Groups: 1})
	c, _, _ := testClient(t, hs.URL, nil)
	crash := errors.New("crash")
	col := newCollector()
	start := clk.Now()
	from := CursorAt(start.Add(-200 * 24 * time.Hour))
	err := c.Scan(context.Background(), incidentTable, from, start, func(p Page) error {
		if p.Number == 3 {
			return crash // the page was not committed
		}
		return col.add(p)
	})
	if !errors.Is(err, crash) {
		t.Fatalf("err = %v, want the callback's", err)
	}
	if err := c.Scan(context.Background(), incidentTable, col.last, start, col.add); err != nil {
		t.Fatal(err)
	}
	if missing, _ := col.missing(s, "incident"); len(missing) > 0 {
		t.Fatalf("%d rows missing after resume", len(missing))
	}
}

// BenchmarkScan reads 5000 full incidents (92 fields) from the simulator over
// loopback HTTP in pages of 1000, exclusions and conversion included.
func BenchmarkScan(b *testing.B) {
	clk := newClock()
	s := snowtest.New(snowtest.Options{Seed: 1, Now: clk.Now, Incidents: 5000, Changes: 1, Users: 20, Groups: 2})
	hs := httptest.NewServer(s)
	defer hs.Close()
	c, err := New(Config{URL: hs.URL, Auth: Auth{Method: MethodBasic, Username: "admin", Password: "admin"},
		PageSize: 1000, Exclude: Exclusions{Global: []string{"description", "work_notes"}}})
	if err != nil {
		b.Fatal(err)
	}
	defer c.hc.CloseIdleConnections()
	b.ResetTimer()
	for b.Loop() {
		n := 0
		err := c.Scan(context.Background(), incidentTable, Cursor{}, clk.Now(), func(p Page) error { n += len(p.Records); return nil })
		if err != nil || n != 5000 {
			b.Fatalf("n=%d err=%v", n, err)
		}
	}
	b.ReportMetric(float64(5000*b.N)/b.Elapsed().Seconds(), "records/s")
}

// fakeList answers every list request with body and counts the requests.
func fakeList(t *testing.T, body string, hdr map[string]string) (string, *atomic.Int32) {
	n := new(atomic.Int32)
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		for k, v := range hdr {
			w.Header().Set(k, v)
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, body)
	}))
	t.Cleanup(hs.Close)
	return hs.URL, n
}

func TestScanRejectsUnorderedPage(t *testing.T) {
	url, _ := fakeList(t, `{"result":[{"sys_id":"b","sys_updated_on":"2026-01-01 00:00:00"},{"sys_id":"a","sys_updated_on":"2026-01-01 00:00:00"}]}`, nil)
	c, _, _ := testClient(t, url, nil)
	err := c.Scan(context.Background(), incidentTable, Cursor{}, time.Now(), func(Page) error { return nil })
	if !isPermanent(err) || !strings.Contains(err.Error(), "ORDERBY") {
		t.Fatalf("err = %v", err)
	}
}

func TestScanRejectsStuckCursor(t *testing.T) {
	url, n := fakeList(t, `{"result":[{"sys_id":"a","sys_updated_on":"2026-01-01 00:00:00"}]}`, nil)
	c, _, _ := testClient(t, url, nil)
	pages := 0
	err := c.Scan(context.Background(), incidentTable, Cursor{}, time.Now(), func(Page) error { pages++; return nil })
	if !isPermanent(err) || !strings.Contains(err.Error(), "did not advance") || pages != 1 || n.Load() != 2 {
		t.Fatalf("err = %v after %d pages, %d requests", err, pages, n.Load())
	}
}

// TestScanRejectsBadPages: answers a keyset scan cannot trust stop it with
// a permanent error saying what to check.
func TestScanRejectsBadPages(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		from       Cursor
		want       string
	}{
		{"row before an inclusive cursor", `{"result":[{"sys_id":"a","sys_updated_on":"2026-01-01 00:00:00"}]}`,
			Cursor{Time: "2026-01-02 00:00:00"}, "did not advance"},
		{"no sys_id", `{"result":[{"sys_updated_on":"2026-01-01 00:00:00"}]}`, Cursor{}, "no readable sys_updated_on or sys_id"},
		{"no time", `{"result":[{"sys_id":"a"}]}`, Cursor{}, "field ACL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			url, _ := fakeList(t, tc.body, nil)
			c, _, _ := testClient(t, url, nil)
			err := c.Scan(context.Background(), incidentTable, tc.from, time.Now(), func(Page) error { return nil })
			if !isPermanent(err) || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "fetch incident page 1") {
				t.Fatalf("err = %v, want a permanent error about page 1 with %q", err, tc.want)
			}
		})
	}
}

func TestScanEmptyPageWithoutHeadersEnds(t *testing.T) {
	url, n := fakeList(t, `{"result":[]}`, nil)
	c, _, _ := testClient(t, url, nil)
	if err := c.Scan(context.Background(), incidentTable, Cursor{}, time.Now(), func(Page) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if n.Load() != 2 {
		t.Fatalf("%d requests, want 2 (page, then the count query)", n.Load())
	}
	// With X-Total-Count saying rows follow, the client keeps looking.
	url, n = fakeList(t, `{"result":[]}`, map[string]string{"X-Total-Count": "25000"})
	c, _, _ = testClient(t, url, nil)
	if err := c.Scan(context.Background(), incidentTable, Cursor{}, time.Now(), func(Page) error { return nil }); err != nil {
		t.Fatal(err)
	}
	// The page grows to 10000, then sysparm_offset steps cover the 25000 counted rows.
	if n.Load() < 5 || c.Stats().OffsetFallback == 0 {
		t.Fatalf("%d requests, stats %+v", n.Load(), c.Stats())
	}
}
