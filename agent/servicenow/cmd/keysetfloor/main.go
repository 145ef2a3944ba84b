// Command keysetfloor is the floor the agent's read path is measured
// against (scripts/bench.sh): a bare keyset reader that pages through one
// table of a ServiceNow instance with the agent's paging rule and decodes
// every row the way the client does (into field -> raw JSON), and does
// nothing else: no exclusions, no records, no buffer, no retries. It prints
// one JSON line: records, pages, body bytes and seconds.
//
//	keysetfloor -url http://127.0.0.1:8091 -table incident -page 1000
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"time"
)

// config is the parsed command line.
type config struct {
	url, user, password, table, field string
	page                              int
}

// figures are what one read measured.
type figures struct {
	Records int64   `json:"records"`
	Pages   int64   `json:"pages"`
	Bytes   int64   `json:"bytes"`
	Seconds float64 `json:"seconds"`
}

func main() {
	var cfg config
	fs := flag.NewFlagSet("keysetfloor", flag.ContinueOnError)
	fs.StringVar(&cfg.url, "url", "", "instance URL (required)")
	fs.StringVar(&cfg.user, "user", "admin", "basic auth user")
	fs.StringVar(&cfg.password, "password", "admin", "basic auth password")
	fs.StringVar(&cfg.table, "table", "incident", "table to read")
	fs.StringVar(&cfg.field, "field", "sys_updated_on", "incremental field to page on")
	fs.IntVar(&cfg.page, "page", 1000, "rows per page (1..10000)")
	if err := fs.Parse(os.Args[1:]); err != nil {
		os.Exit(2)
	}
	if cfg.url == "" || cfg.page < 1 || cfg.page > 10000 || fs.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "keysetfloor: want -url and -page 1..10000, no arguments")
		os.Exit(2)
	}
	f, err := read(context.Background(), http.DefaultClient, cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "keysetfloor:", err)
		os.Exit(1)
	}
	_ = json.NewEncoder(os.Stdout).Encode(f)
}

// read pages through cfg.table in (field, sys_id) order up to now.
func read(ctx context.Context, hc *http.Client, cfg config) (figures, error) {
	var f figures
	start := time.Now()
	upto := start.UTC().Format(time.DateTime)
	cur, id := "", ""
	for {
		q := cfg.field + "<" + upto + "^ORDERBY" + cfg.field + "^ORDERBYsys_id"
		if id != "" {
			q = cfg.field + "=" + cur + "^sys_id>" + id + "^NQ" + cfg.field + ">" + cur + "^" + q
		}
		rows, n, err := page(ctx, hc, cfg, q)
		if err != nil {
			return f, fmt.Errorf("read %s page %d: %w", cfg.table, f.Pages+1, err)
		}
		f.Pages++
		f.Bytes += n
		if len(rows) == 0 {
			break
		}
		f.Records += int64(len(rows))
		last := rows[len(rows)-1]
		if err := json.Unmarshal(last[cfg.field], &cur); err != nil {
			return f, fmt.Errorf("read %s: the last row has no %s", cfg.table, cfg.field)
		}
		if err := json.Unmarshal(last["sys_id"], &id); err != nil {
			return f, fmt.Errorf("read %s: the last row has no sys_id", cfg.table)
		}
	}
	f.Seconds = time.Since(start).Seconds()
	return f, nil
}

// page fetches and decodes one page; n is the body's length.
func page(ctx context.Context, hc *http.Client, cfg config, query string) ([]map[string]json.RawMessage, int64, error) {
	v := url.Values{"sysparm_query": {query}, "sysparm_limit": {strconv.Itoa(cfg.page)}, "sysparm_no_count": {"true"}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, cfg.url+"/api/now/table/"+cfg.table+"?"+v.Encode(), nil)
	if err != nil {
		return nil, 0, err
	}
	req.SetBasicAuth(cfg.user, cfg.password)
	req.Header.Set("Accept", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, 0, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, 0, fmt.Errorf("status %d", resp.StatusCode)
	}
	var env struct {
		Result []map[string]json.RawMessage `json:"result"`
	}
	if err := json.Unmarshal(body, &env); err != nil {
		return nil, 0, fmt.Errorf("decode: %w", err)
	}
	if env.Result == nil {
		return nil, 0, errors.New("no result array")
	}
	return env.Result, int64(len(body)), nil
}
