package poll

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/sei-edge/servicenow-edge/agent/servicenow"
	"github.com/sei-edge/servicenow-edge/agent/servicenow/snowtest"
	"github.com/sei-edge/servicenow-edge/buffer"
)

// replay answers each request with the simulator's answer to the first
// request of the same URL, so that a benchmark's allocations and CPU are the
// client's, not the simulator's.
type replay struct {
	h    http.Handler
	mu   sync.Mutex
	seen map[string]*httptest.ResponseRecorder
}

func (p *replay) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	rec, ok := p.seen[r.URL.String()]
	if !ok {
		rec = httptest.NewRecorder()
		p.h.ServeHTTP(rec, r)
		p.seen[r.URL.String()] = rec
	}
	p.mu.Unlock()
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.WriteHeader(rec.Code)
	_, _ = w.Write(rec.Body.Bytes())
}

// BenchmarkPollIncidents is the agent's read path for one page after
// another: 5000 full incidents (92 fields) fetched in pages of 1000 over
// loopback HTTP (answers replayed, so the simulator costs nothing),
// decoded, excluded (description, work_notes), encoded, hashed into the
// index and appended to a real buffer. Run it with -benchmem, -cpuprofile
// and -memprofile to see where a backfill's CPU and allocations go.
//
//	go test -run '^$' -bench PollIncidents -benchmem ./agent/poll/
func BenchmarkPollIncidents(b *testing.B) {
	const n = 5000
	clk := &clock{t: time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)}
	sim := snowtest.New(snowtest.Options{Seed: 1, Now: clk.Now, Incidents: n, Changes: 1, Users: 20, Groups: 2})
	srv := httptest.NewServer(&replay{h: sim, seen: map[string]*httptest.ResponseRecorder{}})
	defer srv.Close()
	c, err := servicenow.New(servicenow.Config{URL: srv.URL, PageSize: 1000, Logger: zerolog.Nop(),
		Auth:    servicenow.Auth{Method: "basic", Username: "admin", Password: "admin"},
		Exclude: servicenow.Exclusions{Global: []string{"description", "work_notes"}}})
	if err != nil {
		b.Fatal(err)
	}
	var incident servicenow.Table
	for _, t := range servicenow.DefaultTables() {
		if t.Name == "incident" {
			incident = t
		}
	}
	ctx := context.Background()
	buf, err := buffer.Open(buffer.Options{Dir: b.TempDir(), MinFreeBytes: 1, Logger: zerolog.Nop()})
	if err != nil {
		b.Fatal(err)
	}
	defer buf.Close()
	start, err := json.Marshal(servicenow.CursorAt(clk.Now().Add(-3650 * 24 * time.Hour)))
	if err != nil {
		b.Fatal(err)
	}
	p := New(Config{Tables: []servicenow.Table{incident}, Interval: time.Hour, Now: clk.Now, Logger: zerolog.Nop()}, c, buf)
	poll := func() {
		if err := buf.Set(ctx, cursorKey("incident"), start); err != nil { // read it all again
			b.Fatal(err)
		}
		if err := p.PollOnce(ctx); err != nil {
			b.Fatal(err)
		}
		if got := p.TableStats("incident").LastRecords; got != n {
			b.Fatalf("polled %d records, want %d", got, n)
		}
	}
	poll() // record the answers
	b.ResetTimer()
	for b.Loop() {
		poll()
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "records/s")
}
