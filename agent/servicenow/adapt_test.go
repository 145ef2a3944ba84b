package servicenow

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sei-edge/servicenow-edge/agent/servicenow/snowtest"
)

// limitLog records the sysparm_limit of every Table API list request that
// reaches the simulator.
type limitLog struct {
	mu     sync.Mutex
	limits []int
}

func (l *limitLog) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/api/now/table/") {
			n, _ := strconv.Atoi(r.URL.Query().Get("sysparm_limit"))
			l.mu.Lock()
			l.limits = append(l.limits, n)
			l.mu.Unlock()
		}
		h.ServeHTTP(w, r)
	})
}

func (l *limitLog) all() []int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.limits)
}

// recordingSim starts a simulator whose list requests' limits are recorded.
func recordingSim(t *testing.T, opts snowtest.Options) (*snowtest.Server, string, *limitLog) {
	t.Helper()
	s := snowtest.New(opts)
	l := &limitLog{}
	hs := httptest.NewServer(l.wrap(s))
	t.Cleanup(hs.Close)
	return s, hs.URL, l
}

// backfill scans every table in tables once from the beginning, failing the
// test on a row seen twice or a visible row never seen.
func backfill(t *testing.T, s *snowtest.Server, c *Client, upto time.Time, tables ...Table) {
	t.Helper()
	for _, tbl := range tables {
		seen := map[string]int{}
		col := newCollector()
		err := c.Scan(context.Background(), tbl, Cursor{}, upto, func(p Page) error {
			for _, r := range p.Rows {
				seen[r.String("sys_id")]++
			}
			return col.add(p)
		})
		if err != nil {
			t.Fatalf("scan %s: %v", tbl.Name, err)
		}
		for id, n := range seen {
			if n > 1 {
				t.Errorf("%s: row %s read %d times", tbl.Name, id, n)
			}
		}
		if tbl.Field == FieldCreatedOn { // insert-only: every row once, no versions
			all := s.Records(tbl.Name)
			for _, r := range all {
				if seen[r["sys_id"].(string)] == 0 {
					t.Fatalf("%s: row %s missing", tbl.Name, r["sys_id"])
				}
			}
			if len(seen) != len(all) {
				t.Fatalf("%s: read %d rows, the table has %d", tbl.Name, len(seen), len(all))
			}
			continue
		}
		if missing, visible := col.missing(s, tbl.Name); len(missing) > 0 || visible == 0 {
			t.Fatalf("%s: %d of %d rows missing", tbl.Name, len(missing), visible)
		}
	}
}

// TestScanPageSizeSurvivesRandomFaults is issue 10's schedule: 429 with
// Retry-After 1 on every 7th request, a cut-off body on every 11th list and
// 503 on every 13th. The backfill completes with nothing missing or doubled,
// no request asks for fewer rows than the configured page, and the faults
// cost at most twice the fault-free request count. The old adaptation halved
// the page on every cut-off and collapsed it to a few rows.
func TestScanPageSizeSurvivesRandomFaults(t *testing.T) {
	const pageSize = 100
	opts := func(clk *clock) snowtest.Options {
		return snowtest.Options{Seed: 10, Now: clk.Now, Incidents: 2300, Changes: 1, Users: 20, Groups: 2}
	}
	tables := []Table{incidentTable, {Name: tableAudit, Field: FieldCreatedOn}}

	clk := newClock()
	clean, url, cleanLog := recordingSim(t, opts(clk))
	c, _, _ := testClient(t, url, func(c *Config) { c.PageSize = pageSize })
	backfill(t, clean, c, clk.Now(), tables...)

	clk = newClock()
	s, url, faultLog := recordingSim(t, opts(clk))
	s.SetFaults(snowtest.Faults{RateLimitEvery: 7, RetryAfter: time.Second, TruncateEvery: 11, ServerErrorEvery: 13})
	c, sl, _ := testClient(t, url, func(c *Config) { c.PageSize = pageSize })
	backfill(t, s, c, clk.Now(), tables...)

	st := c.Stats()
	if st.RateLimited == 0 || st.Errors[0] == 0 || st.Errors[500]+st.Errors[503] == 0 {
		t.Fatalf("faults not exercised: %+v", st)
	}
	limits := faultLog.all()
	if low := slices.Min(limits); low < pageSize {
		n := 0
		for _, l := range limits {
			if l < pageSize {
				n++
			}
		}
		t.Errorf("%d of %d requests asked for fewer than %d rows (smallest %d); shrinks %d", n, len(limits), pageSize, low, st.PageShrinks)
	}
	if clean, faulted := len(cleanLog.all()), len(limits); faulted > 2*clean {
		t.Errorf("%d requests under faults, %d without: more than twice", faulted, clean)
	}
	if !slices.Contains(sl.all(), time.Second) {
		t.Errorf("Retry-After 1 not honoured; waits %v", sl.all())
	}
	t.Logf("%d requests without faults, %d with; stats %+v", len(cleanLog.all()), len(limits), st)
}

// TestScanShrinksOnRepeatedCutOffs: an instance that cuts off every page
// above 150 rows makes the page shrink (twice cut at one cursor), never below
// what it answers, and grow back to the configured size after whole pages.
func TestScanShrinksOnRepeatedCutOffs(t *testing.T) {
	clk := newClock()
	s, url, log := recordingSim(t, snowtest.Options{Seed: 4, Now: clk.Now, Incidents: 1500, Changes: 1, Users: 5, Groups: 1})
	s.SetFaults(snowtest.Faults{MaxLimitBeforeTruncate: 150})
	c, _, _ := testClient(t, url, func(c *Config) { c.PageSize = 200 })
	backfill(t, s, c, clk.Now(), incidentTable)
	limits := log.all()
	// 200 cut off, retried at 200 and cut off again, then 100 answered,
	// three more whole pages of 100, then 200 again.
	if want := []int{200, 200, 100, 100, 100, 100, 200}; !slices.Equal(limits[:len(want)], want) {
		t.Errorf("first limits %v, want %v", limits[:len(want)], want)
	}
	if low := slices.Min(limits); low < 100 {
		t.Errorf("page shrank to %d though 100 rows were always answered: %v", low, limits)
	}
	if !slices.Contains(limits[7:], 200) {
		t.Errorf("page never grew back to 200: %v", limits)
	}
}

// TestScanShrinksBelowFloorWhenCursorKeepsFailing: when even the floor is
// cut off at one cursor, the page keeps halving there and the scan completes,
// however many shrinking retries that takes.
func TestScanShrinksBelowFloorWhenCursorKeepsFailing(t *testing.T) {
	clk := newClock()
	s, url, log := recordingSim(t, snowtest.Options{Seed: 4, Now: clk.Now, Incidents: 300, Changes: 1, Users: 5, Groups: 1})
	s.SetFaults(snowtest.Faults{MaxLimitBeforeTruncate: 10})
	c, _, _ := testClient(t, url, func(c *Config) { c.PageSize = 1000; c.MaxAttempts = 3 })
	backfill(t, s, c, clk.Now(), incidentTable)
	if low := slices.Min(log.all()); low > 10 {
		t.Fatalf("smallest page %d, want <= 10", low)
	}
}
