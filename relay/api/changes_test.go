package api

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/rs/zerolog"

	"github.com/sei-edge/servicenow-edge/relay/httpjson"
	"github.com/sei-edge/servicenow-edge/relay/natstest"
	"github.com/sei-edge/servicenow-edge/relay/store"
)

// readChanges decodes an NDJSON body of /v1/changes, checking each line has
// the keys of /v1/records plus position (and reason only on tombstones).
func readChanges(t testing.TB, body io.Reader) []store.Change {
	t.Helper()
	var out []store.Change
	sc := bufio.NewScanner(body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var keys map[string]json.RawMessage
		if err := json.Unmarshal(sc.Bytes(), &keys); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		for _, k := range []string{"tenant", "integration", "table", "sys_id", "sys_updated_on", "sys_mod_count", "deleted", "fields", "position"} {
			if _, ok := keys[k]; !ok {
				t.Fatalf("line %s lacks %q", sc.Text(), k)
			}
		}
		var c store.Change
		if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
			t.Fatal(err)
		}
		if string(c.Fields) == "null" {
			c.Fields = nil
		}
		if _, ok := keys["reason"]; ok && !c.Deleted {
			t.Fatalf("reason on an upsert: %s", sc.Text())
		}
		out = append(out, c)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// getChanges fetches one page of /v1/changes from base.
func getChanges(t testing.TB, client *http.Client, base, query, since string) ([]store.Change, string) {
	t.Helper()
	page, next, err := fetchChanges(t, client, base, query, since)
	if err != nil {
		t.Fatal(err)
	}
	return page, next
}

// fetchChanges is getChanges for goroutines other than the test's: it
// returns its error.
func fetchChanges(t testing.TB, client *http.Client, base, query, since string) ([]store.Change, string, error) {
	q := base + "/v1/changes?" + query
	if since != "" {
		q += "&since=" + url.QueryEscape(since)
	}
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, q, nil)
	req.Header.Set("Authorization", "Bearer "+adminToken)
	resp, err := client.Do(req)
	if err != nil {
		return nil, "", fmt.Errorf("GET %s: %w", q, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		return nil, "", fmt.Errorf("GET %s: %s %s", q, resp.Status, b)
	}
	next := resp.Header.Get(HeaderNextSince)
	if next == "" {
		return nil, "", fmt.Errorf("GET %s: no %s", q, HeaderNextSince)
	}
	return readChanges(t, resp.Body), next, nil
}

// view is a consumer's copy of a tenant: newest version wins, as the relay
// applies. apply reports whether c changed it.
type view map[string]store.Record

func (v view) apply(r store.Record) bool {
	k := r.Integration + "/" + r.Table + "/" + r.SysID
	if old, ok := v[k]; ok && !r.Version().Newer(old.Version()) {
		return false
	}
	v[k] = r
	return true
}

func (v view) records() []store.Record {
	out := make([]store.Record, 0, len(v))
	for _, r := range v {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return store.CompareKeys(&out[i], &out[j]) < 0 })
	return out
}

func TestChangesFollowFromStart(t *testing.T) {
	f := newFixture(t)
	var got []store.Change
	since := ""
	for pages := 0; ; pages++ {
		page, next := getChanges(t, f.ts.Client(), f.ts.URL, "tenant=t1&limit=7", since)
		if len(page) == 0 {
			if next != since {
				t.Errorf("an empty page moved the position from %s to %s", since, next)
			}
			break
		}
		got = append(got, page...)
		since = next
	}
	v := view{}
	for _, c := range got {
		if c.Tenant != "t1" {
			t.Fatalf("feed of t1 holds a record of %s", c.Tenant)
		}
		v.apply(c.Record)
	}
	if diff := cmp.Diff(f.recs, v.records()); diff != "" {
		t.Errorf("records from the feed (-store +feed):\n%s", diff)
	}
	filtered, _ := getChanges(t, f.ts.Client(), f.ts.URL, "tenant=t1&integration=snow2&table=sys_user", "")
	if len(filtered) != 30 {
		t.Errorf("filtered feed holds %d changes, want 30", len(filtered))
	}
}

func TestChangesWaitsForAWrite(t *testing.T) {
	f := newFixture(t)
	_, end := getChanges(t, f.ts.Client(), f.ts.URL, "tenant=t1&limit=10000", "")
	// Nothing new: a short wait ends empty, at the same position.
	page, next := getChanges(t, f.ts.Client(), f.ts.URL, "tenant=t1&wait=20ms", end)
	if len(page) != 0 || next != end {
		t.Fatalf("wait with no write = %d changes at %s, want none at %s", len(page), next, end)
	}
	type result struct {
		page []store.Change
		next string
		err  error
	}
	done := make(chan result, 1)
	go func() {
		p, n, err := fetchChanges(t, f.ts.Client(), f.ts.URL, "tenant=t1&wait=60s", end)
		done <- result{p, n, err}
	}()
	r := store.Record{Tenant: "t1", Integration: "snow1", Table: "incident", SysID: "new", SysUpdatedOn: "2026-02-01 00:00:00", Fields: []byte(`{"n":1}`)}
	if _, err := f.st.Apply(t.Context(), []store.Record{r}); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	res := <-done
	if res.err != nil {
		t.Fatal(res.err)
	}
	if len(res.page) != 1 || res.page[0].SysID != "new" || res.next == end {
		t.Errorf("long poll returned %+v next %s", res.page, res.next)
	}
}

func TestChangesBadRequests(t *testing.T) {
	f := newFixture(t)
	_, t1 := getChanges(t, f.ts.Client(), f.ts.URL, "tenant=t1&limit=1", "")
	_, t2 := getChanges(t, f.ts.Client(), f.ts.URL, "tenant=t2&limit=1", "")
	p, err := store.ParseFeedPosition(t1)
	if err != nil {
		t.Fatal(err)
	}
	otherStore := p
	otherStore.Epoch = "ffffffffffffffff"
	ahead := p
	ahead.Seq = 1 << 40
	for _, tc := range []struct {
		name, query string
		status      int
		param, want string
	}{
		{"position of another tenant", "tenant=t1&since=" + url.QueryEscape(t2), 400, "since", "snapshot"},
		{"garbage position", "tenant=t1&since=xyz", 400, "since", "snapshot"},
		{"records cursor as position", "tenant=t1&since=c1.abc", 400, "since", "Sei-Next-Since"},
		{"position of another store", "tenant=t1&since=" + url.QueryEscape(otherStore.String()), 410, "since", "snapshot"},
		{"position ahead of the feed", "tenant=t1&since=" + url.QueryEscape(ahead.String()), 410, "since", "snapshot"},
		{"empty since", "tenant=t1&since=", 400, "since", "omit it"},
		{"wait too long", "tenant=t1&wait=61s", 400, "wait", "0s to 1m0s"},
		{"wait not a duration", "tenant=t1&wait=30", 400, "wait", "such as 30s"},
		{"no tenant", "limit=5", 400, "tenant", "required"},
		{"bad limit", "tenant=t1&limit=0", 400, "limit", "limit"},
		{"unknown parameter", "tenant=t1&after=x", 400, "after", "unknown parameter"},
		{"twice", "tenant=t1&wait=1s&wait=2s", 400, "wait", "more than once"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := f.get(t, "/v1/changes?"+tc.query, adminToken)
			defer resp.Body.Close()
			var e httpjson.Error
			if err := json.NewDecoder(resp.Body).Decode(&e); err != nil {
				t.Fatalf("decode error body: %v", err)
			}
			if resp.StatusCode != tc.status || e.Param != tc.param || !strings.Contains(e.Error, tc.want) {
				t.Errorf("got %d %+v, want %d param %q mentioning %q", resp.StatusCode, e, tc.status, tc.param, tc.want)
			}
		})
	}
}

// snapshotThenFollow pages a snapshot of tenant t1 from base with small
// pages, calling between after each page, then follows /v1/changes of
// followBase from its
// Sei-Feed-Position until a page comes back empty after stop returned
// true. It returns the consumer's view and how many feed changes were
// no-ops (versions the snapshot had already).
func snapshotThenFollow(t *testing.T, client *http.Client, base, followBase string, between func(page int), stop func() bool) (view, int) {
	t.Helper()
	v := view{}
	after, feedPos := "", ""
	for page := 0; ; page++ {
		q := base + "/v1/records?tenant=t1&limit=9"
		if after != "" {
			q += "&after=" + url.QueryEscape(after)
		}
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, q, nil)
		req.Header.Set("Authorization", "Bearer "+adminToken)
		resp, err := client.Do(req)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %v %v", q, err, resp.Status)
		}
		for _, r := range readRecords(t, resp.Body) {
			v.apply(r)
		}
		resp.Body.Close()
		after = resp.Header.Get(HeaderNextCursor)
		if after == "" {
			feedPos = resp.Header.Get(HeaderFeedPosition)
			break
		}
		if resp.Header.Get(HeaderFeedPosition) != "" {
			t.Fatalf("page %d has a %s but is not the last", page, HeaderFeedPosition)
		}
		between(page)
	}
	if feedPos == "" {
		t.Fatalf("last page of the snapshot has no %s", HeaderFeedPosition)
	}
	noops := 0
	since := feedPos
	for done := false; ; {
		page, next := getChanges(t, client, followBase, "tenant=t1&limit=5&wait=50ms", since)
		for _, c := range page {
			if !v.apply(c.Record) {
				noops++
			}
		}
		since = next
		if len(page) == 0 && done {
			return v, noops
		}
		done = stop()
	}
}

// TestSnapshotThenFollow writes between the pages of a snapshot: to records
// already paged (which only the feed can bring), to records not yet paged
// (which the snapshot may bring too), new records and deletes. The consumer
// must end equal to the store.
func TestSnapshotThenFollow(t *testing.T) {
	f := newFixture(t)
	n := 0
	between := func(page int) {
		n++
		ts := fmt.Sprintf("2026-02-01 00:00:%02d", n%60)
		recs := []store.Record{
			{Tenant: "t1", Integration: "snow1", Table: "incident", SysID: "id000", SysUpdatedOn: ts, SysModCount: int64(n), Fields: []byte(fmt.Sprintf(`{"page":%d}`, page))},
			{Tenant: "t1", Integration: "snow2", Table: "sys_user", SysID: fmt.Sprintf("id%03d", 29-page%30), SysUpdatedOn: ts, SysModCount: int64(n), Fields: []byte(fmt.Sprintf(`{"late":%d}`, page))},
			{Tenant: "t1", Integration: "snow1", Table: "incident", SysID: fmt.Sprintf("new%03d", page), SysUpdatedOn: ts, Fields: []byte(`{}`)},
			{Tenant: "t1", Integration: "snow1", Table: "sys_user", SysID: fmt.Sprintf("id%03d", page%30), SysUpdatedOn: ts, SysModCount: int64(n), Deleted: true, Reason: "audit"},
			{Tenant: "t2", Integration: "snow1", Table: "incident", SysID: "id000", SysUpdatedOn: ts, SysModCount: int64(n), Fields: []byte(`{}`)},
		}
		if _, err := f.st.Apply(t.Context(), recs); err != nil {
			t.Fatalf("Apply: %v", err)
		}
	}
	v, noops := snapshotThenFollow(t, f.ts.Client(), f.ts.URL, f.ts.URL, between, func() bool { return true })
	want, _ := f.pageAll(t, "tenant=t1", 10000)
	if diff := cmp.Diff(want, v.records()); diff != "" {
		t.Errorf("consumer after snapshot and follow (-store +consumer):\n%s", diff)
	}
	if n == 0 {
		t.Fatal("no writes happened during the snapshot")
	}
	t.Logf("%d writes during the snapshot; %d feed changes the snapshot already held", n, noops)
}

// countingStore counts Changes calls, to know a long poll is under way.
type countingStore struct {
	store.Store
	calls atomic.Int64
}

func (s *countingStore) Changes(ctx context.Context, q store.ChangeQuery) ([]store.Change, store.FeedPosition, error) {
	s.calls.Add(1)
	return s.Store.Changes(ctx, q)
}

// TestLongPollEndsAtShutdown: a waiting /v1/changes answers (empty) as soon
// as the server shuts down, so a shutdown does not wait out the poll and
// then cut the connection.
func TestLongPollEndsAtShutdown(t *testing.T) {
	f := newFixture(t)
	cs := &countingStore{Store: f.st}
	srv, err := New(Config{Token: adminToken, Store: cs, FeedPoll: time.Hour, Logger: zerolog.New(zerolog.NewTestWriter(t))})
	if err != nil {
		t.Fatal(err)
	}
	_, end := getChanges(t, f.ts.Client(), f.ts.URL, "tenant=t1&limit=10000", "")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx, ln) }()
	client := &http.Client{Transport: &http.Transport{}}
	defer client.CloseIdleConnections()
	type answer struct {
		page []store.Change
		next string
		err  error
	}
	answered := make(chan answer, 1)
	go func() {
		p, n, err := fetchChanges(t, client, "http://"+ln.Addr().String(), "tenant=t1&wait=60s", end)
		answered <- answer{p, n, err}
	}()
	natstest.CheckFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		if cs.calls.Load() == 0 {
			return errors.New("the long poll has not read the feed yet")
		}
		return nil
	})
	cancel()
	a := <-answered
	if a.err != nil {
		t.Fatalf("long poll at shutdown: %v", a.err)
	}
	if len(a.page) != 0 || a.next != end {
		t.Errorf("long poll at shutdown = %d changes, next %s; want none at %s", len(a.page), a.next, end)
	}
	if err := <-served; err != nil {
		t.Errorf("Serve = %v, want a clean shutdown", err)
	}
}

func FuzzParseChangesQuery(f *testing.F) {
	for _, s := range []string{"tenant=t1", "tenant=t1&since=p1.abc&wait=30s", "tenant=t1&wait=-1s", "tenant=t1&wait=1h", "tenant=t1&since=", "tenant=t1&limit=5&table=x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		v, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		q, wait, err := parseChangesQuery(v)
		if err != nil {
			var pe *paramError
			if !errors.As(err, &pe) || pe.param == "" {
				t.Fatalf("error %v names no parameter", err)
			}
			return
		}
		if q.Tenant == "" || q.Limit < 0 || q.Limit > store.MaxLimit || wait < 0 || wait > MaxWait || (v.Has("since") && q.Since == "") {
			t.Fatalf("accepted %q as %+v, wait %s", raw, q, wait)
		}
	})
}
