package reconcile

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/sei-edge/servicenow-edge/agent/poll"
	"github.com/sei-edge/servicenow-edge/agent/servicenow"
	"github.com/sei-edge/servicenow-edge/buffer"
	"github.com/sei-edge/servicenow-edge/relay/wire"
)

// countServer answers the Aggregate API from the rows' creation times and
// mod counts (sorted, with prefix sums), like an instance holding exactly
// what the index holds, and counts every request; any other request is a
// 500 (a sweep of unchanged data must make none).
type countServer struct {
	created []int64 // sorted
	sums    []int64 // sums[i] = mod counts of rows [0, i)
	counts  atomic.Int64
	others  atomic.Int64
}

func (s *countServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !strings.HasPrefix(r.URL.Path, "/api/now/stats/") {
		s.others.Add(1)
		http.Error(w, "not in this benchmark", http.StatusInternalServerError)
		return
	}
	s.counts.Add(1)
	lo, hi := int64(0), int64(1)<<62
	for _, c := range strings.Split(r.URL.Query().Get("sysparm_query"), "^") {
		if v, ok := strings.CutPrefix(c, "sys_created_on>="); ok {
			lo = int64(poll.ParseUnix(v))
		} else if v, ok := strings.CutPrefix(c, "sys_created_on<"); ok {
			hi = int64(poll.ParseUnix(v))
		}
	}
	i, _ := slices.BinarySearch(s.created, lo)
	j, _ := slices.BinarySearch(s.created, hi)
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, `{"result":{"stats":{"count":"%d","sum":{"sys_mod_count":"%d"}}}}`, j-i, s.sums[j]-s.sums[i])
}

// noForward is a Forwarder that must not be asked to forward anything.
type noForward struct{ calls atomic.Int64 }

func (f *noForward) LockTable(string) func() { return func() {} }
func (f *noForward) Forward(context.Context, string, []wire.Record) error {
	f.calls.Add(1)
	return nil
}

// buildIndex writes n index rows of incident into buf, created over three
// years, the way the poller does (IndexedPerBatch rows per transaction,
// with a batch), then acks the batches. It returns the instance's view.
func buildIndex(b *testing.B, buf *buffer.Buffer, n int) *countServer {
	rng := rand.New(rand.NewPCG(1, 2))
	start := time.Date(2023, 1, 1, 0, 0, 0, 0, time.UTC).Unix()
	span := int64(3 * 365 * 24 * 3600)
	type row struct{ created, mod int64 }
	rows := make([]row, 0, n)
	ctx := context.Background()
	id := make([]byte, 16)
	for done := 0; done < n; {
		state := map[string][]byte{}
		for k := 0; k < poll.IndexedPerBatch && done < n; k, done = k+1, done+1 {
			for i := range id {
				id[i] = byte(rng.Uint32())
			}
			created := start + rng.Int64N(span)
			e := poll.IndexEntry{Created: uint32(created), Updated: uint32(created + rng.Int64N(3600*24*30)),
				ModCount: rng.Int64N(20), Hash: rng.Uint64()}
			state[poll.IndexKey("incident", hex.EncodeToString(id))] = e.Encode()
			rows = append(rows, row{created, e.ModCount})
		}
		bt, err := buf.Append(ctx, buffer.Batch{Label: "incident", Data: []byte("x")}, state)
		if err != nil {
			b.Fatal(err)
		}
		if err := buf.Ack(ctx, bt.Seq); err != nil {
			b.Fatal(err)
		}
	}
	slices.SortFunc(rows, func(a, b row) int { return int(a.created - b.created) })
	s := &countServer{created: make([]int64, n), sums: make([]int64, n+1)}
	for i, r := range rows {
		s.created[i] = r.created
		s.sums[i+1] = s.sums[i] + r.mod
	}
	return s
}

func dirBytes(dir string) (total, sst int64) {
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			total += fi.Size()
			if strings.HasSuffix(p, ".sst") {
				sst += fi.Size()
			}
		}
		return nil
	})
	return total, sst
}

// BenchmarkSweepUnchanged sweeps a table of SEI_BENCH_ROWS (default
// 1,000,000) unchanged rows: it costs one Aggregate request per month and
// nothing else. Run with scripts/bench-reconcile.sh.
func BenchmarkSweepUnchanged(b *testing.B) {
	n := 1_000_000
	if v, err := strconv.Atoi(os.Getenv("SEI_BENCH_ROWS")); err == nil && v > 0 {
		n = v
	}
	dir := b.TempDir()
	buf, err := buffer.Open(buffer.Options{Dir: dir, MaxBytes: 1 << 30, MinFreeBytes: 1, Logger: zerolog.Nop()})
	if err != nil {
		b.Fatal(err)
	}
	defer buf.Close()
	t0 := time.Now()
	inst := buildIndex(b, buf, n)
	built := time.Since(t0)
	srv := httptest.NewServer(inst)
	defer srv.Close()
	client, err := servicenow.New(servicenow.Config{URL: srv.URL, Logger: zerolog.Nop(),
		Auth: servicenow.Auth{Method: "basic", Username: "u", Password: "p"}})
	if err != nil {
		b.Fatal(err)
	}
	bound := poll.FormatUnix(uint32(inst.created[n-1] + 1))
	fwd := &noForward{}
	tables := []Table{{Table: servicenow.Table{Name: "incident", Field: servicenow.FieldUpdatedOn}, Interval: 24 * time.Hour}}
	var ms0, ms1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms0)
	var res *Result
	var peak atomic.Uint64 // the largest heap in use seen during the sweeps
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
			}
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		s := New(Config{Tables: tables, Lookback: 4 * 365 * 24 * time.Hour, Logger: zerolog.Nop(), Bound: func(string) string { return bound }},
			client, buf, fwd)
		if res, err = s.Sweep(context.Background(), "incident"); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	close(stop)
	<-sampled
	runtime.ReadMemStats(&ms1)
	if res.Repaired != 0 || res.Deleted != 0 || len(res.Mismatch) != 0 || fwd.calls.Load() != 0 || inst.others.Load() != 0 {
		b.Fatalf("unchanged data: repaired %d deleted %d mismatch %v forwards %d other requests %d",
			res.Repaired, res.Deleted, res.Mismatch, fwd.calls.Load(), inst.others.Load())
	}
	buf.Close() // flushes the memtables: the index is then all in the tables (*.sst)
	total, sst := dirBytes(dir)
	b.ReportMetric(float64(inst.counts.Load())/float64(b.N), "requests/sweep")
	b.ReportMetric(float64(n), "rows")
	b.ReportMetric(float64(sst)/float64(n), "sst-bytes/row")
	b.ReportMetric(float64(ms1.TotalAlloc-ms0.TotalAlloc)/float64(b.N), "alloc-bytes/sweep")
	b.Logf("%d rows: index built in %s; buffer dir %d bytes (preallocated logs included), tables %d bytes (%.1f/row); sweep: %d count requests, %d windows, heap in use before %d, peak during the sweeps %d, after %d bytes",
		n, built.Round(time.Millisecond), total, sst, float64(sst)/float64(n), inst.counts.Load()/int64(b.N), len(res.Windows), ms0.HeapInuse, peak.Load(), ms1.HeapInuse)
	raw, _ := json.Marshal(res.Windows[:2])
	b.Logf("first windows: %s", raw)
}
