package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/url"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/sei-edge/servicenow-edge/relay/api"
	"github.com/sei-edge/servicenow-edge/relay/natstest"
	"github.com/sei-edge/servicenow-edge/relay/store"
	"github.com/sei-edge/servicenow-edge/relay/store/storetest"
	"github.com/sei-edge/servicenow-edge/relay/wire"
)

// TestTwoRelaysChangeFeed runs two relays on one PostgreSQL schema and one
// NATS, with feed.nats on. Agents publish batches (duplicates included)
// that both relays apply, while a reader follows /v1/changes of relay-b in
// small pages with wait. Once everything is applied and the reader caught
// up, its view equals the store; and SEI_CHANGES holds every change the
// store's feed holds.
func TestTwoRelaysChangeFeed(t *testing.T) {
	dsn := storetest.PostgresSchema(t)
	ns := startNATS(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cfg := func(dir string) string {
		return fmt.Sprintf(`
data_dir: %q
http: {listen: "127.0.0.1:0", token: %s}
nats: {url: %q}
store: {kind: postgres, dsn: %q}
stream: {max_bytes: 64MiB, replicas: 1}
feed: {poll: 50ms, nats: true, stream: {max_bytes: 64MiB, replicas: 1}}
log: {level: warn}
`, filepath.Join(dir, "data"), scaleToken, ns.ClientURL(), dsn)
	}
	relays := []*relayProc{startRelayProc(t, "relay-a", cfg), startRelayProc(t, "relay-b", cfg)}
	nc, js := connectJS(t, ns.ClientURL())
	defer nc.Close()

	rng := rand.New(rand.NewPCG(3, 5))
	var batches []testBatch
	for _, table := range []string{"incident", "sys_user"} {
		recs := history("acme", table, 120, func(int) int { return 1 + rng.IntN(4) }, func(int, int) bool { return rng.IntN(6) == 0 })
		rng.Shuffle(len(recs), func(i, j int) { recs[i], recs[j] = recs[j], recs[i] })
		batches = append(batches, chunk("acme", "snow", table, recs, func() int { return 1 + rng.IntN(15) })...)
	}
	for i := range len(batches) / 8 {
		batches = append(batches, batches[i*3]) // republished with the same id
	}

	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		defer close(done)
		for _, b := range batches {
			if _, _, err := publishRetry(ctx, js, b, 10*time.Second); err != nil {
				t.Errorf("publish: %v", err)
				return
			}
		}
	})
	view := map[string]store.Change{}
	since, requests := "", 0
	follow := func() int {
		requests++
		page, next, err := readChangesPage(ctx, relays[1], since)
		if err != nil {
			t.Fatalf("follow /v1/changes: %v", err)
		}
		for _, c := range page {
			view[c.Integration+"/"+c.Table+"/"+c.SysID] = c
		}
		since = next
		return len(page)
	}
	for running := true; running; {
		select {
		case <-done:
			running = false
		default:
			follow()
		}
	}
	wg.Wait()
	waitDrained(ctx, t, js, 30*time.Second)
	for follow() > 0 {
	}
	if t.Failed() {
		return
	}
	stored, err := relays[0].listRecords(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	got := make([]store.Record, 0, len(view))
	for _, c := range view {
		got = append(got, c.Record)
	}
	slices.SortFunc(got, func(a, b store.Record) int { return store.CompareKeys(&a, &b) })
	if diff := cmp.Diff(stored, got); diff != "" {
		t.Errorf("reader's view (-store +reader):\n%s", diff)
	}
	t.Logf("%d batches, %d records stored, reader made %d requests", len(batches), len(stored), requests)

	natstest.CheckFor(t, 20*time.Second, 100*time.Millisecond, func() error {
		ids, err := streamIDs(ctx, js)
		if err != nil {
			return err
		}
		for _, c := range view {
			if !ids[c.Position] {
				return fmt.Errorf("change %s/%s at %s not in %s (%d messages)", c.Table, c.SysID, c.Position, wire.ChangesStreamName, len(ids))
			}
		}
		return nil
	})
	for _, r := range relays {
		r.stop(t)
	}
}

// readChangesPage reads one page of acme's /v1/changes from r.
func readChangesPage(ctx context.Context, r *relayProc, since string) ([]store.Change, string, error) {
	q := url.Values{"tenant": {"acme"}, "limit": {"7"}, "wait": {"200ms"}}
	if since != "" {
		q.Set("since", since)
	}
	resp, err := r.get(ctx, "/v1/changes?"+q.Encode())
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	var out []store.Change
	dec := json.NewDecoder(resp.Body)
	for {
		var c store.Change
		if err := dec.Decode(&c); errors.Is(err, io.EOF) {
			return out, resp.Header.Get(api.HeaderNextSince), nil
		} else if err != nil {
			return nil, "", fmt.Errorf("decode changes: %w", err)
		}
		out = append(out, c)
	}
}

// streamIDs returns the message ids SEI_CHANGES holds.
func streamIDs(ctx context.Context, js jetstream.JetStream) (map[string]bool, error) {
	s, err := js.Stream(ctx, wire.ChangesStreamName)
	if err != nil {
		return nil, err
	}
	info, err := s.Info(ctx)
	if err != nil {
		return nil, err
	}
	ids := map[string]bool{}
	for seq := info.State.FirstSeq; info.State.Msgs > 0 && seq <= info.State.LastSeq; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if err != nil {
			return nil, fmt.Errorf("get message %d: %w", seq, err)
		}
		ids[m.Header.Get(wire.HeaderPosition)] = true
	}
	return ids, nil
}
