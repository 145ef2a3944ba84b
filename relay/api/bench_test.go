package api

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/sei-edge/servicenow-edge/relay/store"
	"github.com/sei-edge/servicenow-edge/relay/store/badgerstore"
	"github.com/sei-edge/servicenow-edge/relay/store/pgstore"
	"github.com/sei-edge/servicenow-edge/relay/store/storetest"
)

// BenchmarkReadAll reads one tenant of 20,000 records (about 600 bytes of
// fields each) whole, over HTTP, through /v1/records and through
// /v1/changes from the start, in pages of 1000, on both stores (PostgreSQL
// when SEI_TEST_POSTGRES_URL is set), and reports records/s:
//
//	go test -run '^$' -bench ReadAll -benchtime 5x ./relay/api/
func BenchmarkReadAll(b *testing.B) {
	const n = 20000
	stores := map[string]func(b *testing.B) store.Store{
		"badger": func(b *testing.B) store.Store {
			s, err := badgerstore.Open(b.TempDir(), zerolog.Nop())
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = s.Close() })
			return s
		},
	}
	if os.Getenv(storetest.PostgresURLEnv) != "" {
		stores["postgres"] = func(b *testing.B) store.Store {
			s, err := pgstore.Open(b.Context(), storetest.PostgresSchema(b), zerolog.Nop())
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = s.Close() })
			return s
		}
	}
	for _, kind := range []string{"badger", "postgres"} {
		open, ok := stores[kind]
		if !ok {
			continue
		}
		b.Run(kind, func(b *testing.B) {
			st := open(b)
			fill(b, st, n)
			srv, err := New(Config{Token: adminToken, Store: st, Logger: zerolog.Nop()})
			if err != nil {
				b.Fatal(err)
			}
			ts := httptest.NewServer(srv.Handler())
			defer ts.Close()
			for _, ep := range []struct{ name, path, param, header string }{
				{"records", "/v1/records", "after", HeaderNextCursor},
				{"changes", "/v1/changes", "since", HeaderNextSince},
			} {
				b.Run(ep.name, func(b *testing.B) {
					for b.Loop() {
						if got := readAll(b, ts, ep.path, ep.param, ep.header); got != n {
							b.Fatalf("read %d records, want %d", got, n)
						}
					}
					b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "records/s")
				})
			}
		})
	}
}

func fill(b *testing.B, st store.Store, n int) {
	desc := strings.Repeat("lorem ipsum ", 40)
	var batch []store.Record
	for i := range n {
		batch = append(batch, store.Record{Tenant: "t1", Integration: "snow1", Table: "incident", SysID: fmt.Sprintf("%032x", i),
			SysUpdatedOn: "2026-01-01 00:00:00", SysModCount: int64(i),
			Fields: fmt.Appendf(nil, `{"number":"INC%08d","state":"2","priority":"3","short_description":"%s"}`, i, desc)})
		if len(batch) == 1000 {
			if _, err := st.Apply(b.Context(), batch); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
	}
}

// readAll pages through path until its last page and counts the lines.
func readAll(b *testing.B, ts *httptest.Server, path, param, header string) int {
	count, pos := 0, ""
	for {
		q := ts.URL + path + "?tenant=t1&limit=1000"
		if pos != "" {
			q += "&" + param + "=" + url.QueryEscape(pos)
		}
		req, _ := http.NewRequestWithContext(b.Context(), http.MethodGet, q, nil)
		req.Header.Set("Authorization", "Bearer "+adminToken)
		resp, err := ts.Client().Do(req)
		if err != nil || resp.StatusCode != http.StatusOK {
			b.Fatalf("GET %s: %v", q, err)
		}
		lines := 0
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			lines++
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		count += lines
		next := resp.Header.Get(header)
		if next == "" || lines == 0 {
			return count
		}
		pos = next
	}
}
