package api

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/rs/zerolog"

	"github.com/sei-edge/servicenow-edge/relay/store"
)

// feedStub is a store whose feed is empty until add; it counts reads. Only
// the feed methods the long poll calls are real: the embedded Store is nil.
type feedStub struct {
	store.Store
	sig   store.Signal
	mu    sync.Mutex // guards the fields below
	page  []store.Change
	reads int
}

func (f *feedStub) Changes(_ context.Context, q store.ChangeQuery) ([]store.Change, store.FeedPosition, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reads++
	return f.page, store.FeedPosition{Epoch: "e", Tenant: q.Tenant, Seq: uint64(len(f.page))}, nil
}

func (f *feedStub) Changed() <-chan struct{} { return f.sig.Changed() }

func (f *feedStub) add(c store.Change) {
	f.mu.Lock()
	f.page = append(f.page, c)
	f.mu.Unlock()
	f.sig.Notify()
}

func (f *feedStub) readCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.reads
}

// longPoll serves one /v1/changes request in the bubble's fake time and
// returns the answer and how long it took.
func longPoll(t *testing.T, h http.Handler, query string) (*httptest.ResponseRecorder, time.Duration) {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, "/v1/changes?"+query, nil)
	req.Header.Set("Authorization", "Bearer "+adminToken)
	rec := httptest.NewRecorder()
	start := time.Now()
	h.ServeHTTP(rec, req)
	return rec, time.Since(start)
}

// TestLongPollTimers runs /v1/changes' wait in fake time (testing/synctest):
// an empty feed is answered when wait ends, having looked again at every
// FeedPoll tick (other relays' writes); a write of this relay answers at
// once, without waiting for a tick.
func TestLongPollTimers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := &feedStub{}
		srv, err := New(Config{Token: adminToken, Store: st, FeedPoll: 7 * time.Second, Logger: zerolog.Nop()})
		if err != nil {
			t.Fatal(err)
		}
		rec, took := longPoll(t, srv.Handler(), "tenant=t1&wait=30s")
		if rec.Code != http.StatusOK || rec.Body.Len() != 0 || took != 30*time.Second {
			t.Errorf("empty feed: %d %q after %s, want 200, no lines, after 30s", rec.Code, rec.Body, took)
		}
		if n := st.readCount(); n != 5 { // at 0s, 7s, 14s, 21s and 28s; 30s is the deadline
			t.Errorf("feed read %d times in 30s at a 7s poll, want 5", n)
		}

		go func() {
			time.Sleep(4 * time.Second)
			st.add(store.Change{Record: store.Record{Tenant: "t1", Integration: "sn", Table: "incident", SysID: "a",
				SysUpdatedOn: "2026-01-01 00:00:00", Fields: []byte(`{}`)}, Position: "p1"})
		}()
		rec, took = longPoll(t, srv.Handler(), "tenant=t1&wait=60s")
		if rec.Code != http.StatusOK || took != 4*time.Second || rec.Header().Get(HeaderNextSince) == "" {
			t.Errorf("write after 4s: %d after %s (next %q), want 200 after 4s", rec.Code, took, rec.Header().Get(HeaderNextSince))
		}
		if rec.Body.Len() == 0 {
			t.Error("the write is not in the answer")
		}
	})
}
