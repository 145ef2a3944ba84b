package reconcile

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/rs/zerolog"

	"github.com/sei-edge/servicenow-edge/agent/servicenow"
	"github.com/sei-edge/servicenow-edge/buffer"
	"github.com/sei-edge/servicenow-edge/relay/wire"
)

// memIndex is an in-memory Index.
type memIndex struct {
	mu sync.Mutex
	m  map[string][]byte
}

func (x *memIndex) ScanState(prefix, start string, fn func(_, _ []byte) error) error {
	x.mu.Lock()
	var keys []string
	for k := range x.m {
		if strings.HasPrefix(k, prefix) && k >= start {
			keys = append(keys, k)
		}
	}
	x.mu.Unlock()
	slices.Sort(keys)
	for _, k := range keys {
		x.mu.Lock()
		v := x.m[k]
		x.mu.Unlock()
		if err := fn([]byte(k), v); errors.Is(err, buffer.ErrStopScan) {
			return nil
		} else if err != nil {
			return err
		}
	}
	return nil
}

func (x *memIndex) Get(key string) ([]byte, error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	v, ok := x.m[key]
	if !ok {
		return nil, buffer.ErrNotFound
	}
	return v, nil
}

func (x *memIndex) Set(_ context.Context, key string, val []byte) error {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.m == nil {
		x.m = map[string][]byte{}
	}
	x.m[key] = val
	return nil
}

// countingSource answers every count with 0 rows (an empty table) and
// counts the sweeps by their count requests.
type countingSource struct{ counts atomic.Int64 }

func (s *countingSource) Count(context.Context, servicenow.Table, string) (servicenow.Counts, error) {
	s.counts.Add(1)
	return servicenow.Counts{}, nil
}
func (s *countingSource) IDs(context.Context, servicenow.Table, string, string, int) ([]servicenow.IDVersion, bool, error) {
	return nil, false, errors.New("not in this test")
}
func (s *countingSource) Fetch(context.Context, servicenow.Table, []string) ([]wire.Record, error) {
	return nil, errors.New("not in this test")
}

// TestRunSchedules: Run waits for a table's first poll, sweeps it, then
// sweeps again Interval after the last sweep ended, and never sweeps a
// table whose interval is 0.
func TestRunSchedules(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var bound atomic.Value
		bound.Store("")
		src := &countingSource{}
		s := New(Config{
			Tables: []Table{
				{Table: servicenow.Table{Name: "incident", Field: servicenow.FieldUpdatedOn}, Interval: 24 * time.Hour},
				{Table: servicenow.Table{Name: "sys_user", Field: servicenow.FieldUpdatedOn}}, // off
			},
			Bound:  func(string) string { return bound.Load().(string) },
			Logger: zerolog.Nop(),
		}, src, &memIndex{}, &noForward{})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- s.Run(ctx) }()

		synctest.Wait()
		if n := src.counts.Load(); n != 0 {
			t.Fatalf("swept %d times before the first poll", n)
		}
		bound.Store(time.Now().UTC().Format(wire.TimeLayout))
		time.Sleep(11 * time.Second) // the retry after "not polled yet"
		synctest.Wait()
		if n := src.counts.Load(); n != 1 {
			t.Fatalf("after the first poll: %d sweeps, want 1", n)
		}
		time.Sleep(23 * time.Hour)
		synctest.Wait()
		if n := src.counts.Load(); n != 1 {
			t.Fatalf("23h later: %d sweeps, want still 1", n)
		}
		time.Sleep(time.Hour + time.Second)
		synctest.Wait()
		if n := src.counts.Load(); n != 2 {
			t.Fatalf("24h after the first: %d sweeps, want 2", n)
		}
		if r := s.Results(); r["sys_user"].Table != "" || r["incident"].Phase != phaseDone {
			t.Errorf("results = %+v", r)
		}
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Run returned %v", err)
		}
	})
}
