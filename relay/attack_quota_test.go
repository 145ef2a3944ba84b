package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/sei-edge/servicenow-edge/relay/api"
	"github.com/sei-edge/servicenow-edge/relay/natstest"
	"github.com/sei-edge/servicenow-edge/relay/wire"
)

// floodBatch is a batch of tenant ta of about 400 KiB compressed: 40
// records of 10 KiB random text each, so zstd cannot shrink it.
func floodBatch(t *testing.T, n int) *nats.Msg {
	t.Helper()
	var recs []wire.Record
	for i := range 40 {
		raw := make([]byte, 7500)
		_, _ = rand.Read(raw)
		recs = append(recs, wire.Record{Op: wire.OpUpsert, Table: "incident", SysID: fmt.Sprintf("flood%03d-%02d", n, i),
			SysUpdatedOn: "2026-01-02 03:04:05", SysModCount: 1,
			Fields: map[string]json.RawMessage{"description": json.RawMessage(`"` + base64.StdEncoding.EncodeToString(raw) + `"`)}})
	}
	body, err := wire.Encode(recs)
	if err != nil {
		t.Fatal(err)
	}
	m := nats.NewMsg(wire.IngestSubject("ta", "snow", "incident"))
	m.Data = body
	m.Header.Set(wire.HeaderMsgID, fmt.Sprintf("flood-%03d", n))
	m.Header.Set(wire.HeaderSchema, wire.SchemaVersion)
	m.Header.Set(wire.HeaderEncoding, wire.Encoding)
	m.Header.Set(wire.HeaderRecords, "40")
	m.Header.Set(wire.HeaderAgent, "agent1")
	return m
}

// countRecords counts tenant's records through the API, page by page.
func (r *attackRelay) countRecords(ctx context.Context, tenant string) (int, error) {
	n, after := 0, ""
	for {
		q := url.Values{"tenant": {tenant}, "limit": {"1000"}}
		if after != "" {
			q.Set("after", after)
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.ri.HTTPURL+"/v1/records?"+q.Encode(), nil)
		if err != nil {
			return 0, err
		}
		req.Header.Set("Authorization", "Bearer "+r.adminToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, err
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			return 0, fmt.Errorf("records: %d %v", resp.StatusCode, err)
		}
		n += strings.Count(string(body), "\n")
		if after = resp.Header.Get(api.HeaderNextCursor); after == "" {
			return n, nil
		}
	}
}

// quotaOf reads GET /v1/quota?tenant= with token.
func (r *attackRelay) quotaOf(t *testing.T, tenant, token string) (api.QuotaUsage, int) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, r.ri.HTTPURL+"/v1/quota?tenant="+tenant, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var u api.QuotaUsage
	if resp.StatusCode == http.StatusOK {
		if err := json.NewDecoder(resp.Body).Decode(&u); err != nil {
			t.Fatal(err)
		}
	}
	return u, resp.StatusCode
}

// TestAttackFillingItsQuota floods the real `sei-relay run` with tenant
// ta's credentials (quota.max_bytes 1 MiB), batches of 400 KiB as fast as
// 16 publishers go. The contract:
//   - ta gets a clear refusal (its publish fails with an error naming
//     quota.max_bytes, or with "no responders" once the relay withdrew its
//     ingest import), and /v1/quota and the metrics show it;
//   - tb's batches, published while ta is refused, are acknowledged and
//     stored as usual, and tb's state is otherwise unchanged;
//   - nothing of ta is lost: every batch the stream acknowledged is stored,
//     and a refused batch stays with its sender (an agent keeps it in its
//     buffer), which sends it again once ta drained; in the end every one of
//     ta's records is stored and ta is no longer paused.
func TestAttackFillingItsQuota(t *testing.T) {
	r := startAttackRelayWith(t, "quota: {max_bytes: 1MiB, check_interval: 100ms}\n")
	victim := r.mustDial(t, "agent2")
	vjs, err := jetstream.New(victim)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if u, code := r.quotaOf(t, "ta", r.victimToken); code != http.StatusForbidden {
		t.Errorf("tb's token read ta's quota: %d %+v", code, u)
	}

	attacker := r.mustDial(t, "agent1")
	ajs, err := jetstream.New(attacker)
	if err != nil {
		t.Fatal(err)
	}
	const batches, publishers = 48, 16
	refused := make(chan error, batches*1000)
	var calm sync.WaitGroup // closed once the flood's publishers have all their batches acked
	work := make(chan int, batches)
	for i := range batches {
		work <- i
	}
	close(work)
	var lastErr sync.Map
	for range publishers {
		calm.Add(1)
		go func() {
			defer calm.Done()
			for n := range work {
				m := floodBatch(t, n)
				// Like an agent: the batch stays here until acked.
				for ctx.Err() == nil {
					pctx, pcancel := context.WithTimeout(ctx, 10*time.Second)
					_, err := ajs.PublishMsg(pctx, m)
					pcancel()
					if err == nil {
						break
					}
					lastErr.Store(n, err)
					select {
					case refused <- err:
					default:
					}
					select { // back off as an agent does, not as a barrier
					case <-ctx.Done():
					case <-time.After(50 * time.Millisecond):
					}
				}
			}
		}()
	}
	var first error
	select {
	case first = <-refused:
	case <-ctx.Done():
		t.Fatal("the flood was never refused")
	}
	clear := errors.Is(first, nats.ErrNoResponders) || strings.Contains(first.Error(), "quota.max_bytes")
	if !clear {
		t.Errorf("refusal does not say why: %v", first)
	}

	// While ta is refused, tb's batches land as usual.
	for i := range 5 {
		id := fmt.Sprintf("tb-during-flood-%d", i)
		if _, err := vjs.PublishMsg(ctx, batchMsg(t, "tb", id, id, "agent2")); err != nil {
			t.Fatalf("tb's batch %d refused during ta's flood: %v", i, err)
		}
	}
	natstest.CheckFor(t, 20*time.Second, 50*time.Millisecond, func() error {
		body, err := httpGet(r.ri.HTTPURL+"/v1/records?tenant=tb", r.victimToken)
		if err != nil || strings.Count(body, "tb-during-flood-") != 5 {
			return fmt.Errorf("tb's batches not all stored during the flood: %v %s", err, body)
		}
		return nil
	})
	before := r.victimState(t) // tb, mid-flood
	metrics, _ := httpGet(r.ri.HTTPURL+"/metrics", r.adminToken)
	if !strings.Contains(metrics, "sei_relay_quota_refused_batches_total") || strings.Contains(metrics, "sei_relay_quota_refused_batches_total 0\n") {
		t.Errorf("refusals not counted in sei_relay_quota_refused_batches_total")
	}

	done := make(chan struct{})
	go func() { calm.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		t.Fatal("ta's refused batches were never accepted after it calmed down")
	}
	natstest.CheckFor(t, time.Minute, 100*time.Millisecond, func() error {
		n, err := r.countRecords(ctx, "ta")
		if err != nil || n != batches*40 {
			return fmt.Errorf("ta holds %d records, want %d: %v", n, batches*40, err)
		}
		return nil
	})
	natstest.CheckFor(t, 20*time.Second, 100*time.Millisecond, func() error {
		u, code := r.quotaOf(t, "ta", r.adminToken)
		if code != http.StatusOK || u.Paused || u.Batches != 0 || u.MaxBytes != 1<<20 {
			return fmt.Errorf("ta's quota after the flood: %d %+v", code, u)
		}
		return nil
	})
	n := 0
	lastErr.Range(func(_, v any) bool { n++; return true })
	t.Logf("%d of %d flood batches were refused at least once; first refusal: %v", n, batches, first)

	if after := r.victimState(t); after != before {
		t.Errorf("tenant tb changed while ta flooded:\nbefore %s\nafter %s", before, after)
	}
}
