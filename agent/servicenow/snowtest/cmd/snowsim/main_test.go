package main

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/sei-edge/servicenow-edge/agent/servicenow/snowtest"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestParseFaults(t *testing.T) {
	got, err := parseFaults("rate=5, retry-after=2s,5xx=7,html=11,truncate=3,max-limit=500,unknown-403")
	want := snowtest.Faults{RateLimitEvery: 5, RetryAfter: 2 * time.Second, ServerErrorEvery: 7,
		HTMLEvery: 11, TruncateEvery: 3, MaxLimitBeforeTruncate: 500, UnknownFieldIs403: true}
	if err != nil || !cmp.Equal(got, want) {
		t.Errorf("parseFaults = %+v, %v", got, err)
	}
	for _, bad := range []string{"rate=x", "nope=1", "retry-after=soon", "html=-1"} {
		if _, err := parseFaults(bad); err == nil {
			t.Errorf("parseFaults(%q): no error", bad)
		}
	}
}

// TestCountFlags: an unset count takes the simulator's default, and 0
// means none (in Options zero means the default).
func TestCountFlags(t *testing.T) {
	cfg, err := parseFlags(nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	got, want := cfg.opts.WithDefaults(), (snowtest.Options{Seed: 1}).WithDefaults()
	got.Now, want.Now = nil, nil // functions do not compare
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("default flags differ from the simulator's defaults (-want +got):\n%s", diff)
	}
	cfg, err = parseFlags([]string{"-incidents", "3", "-changes", "0", "-journal", "0", "-audit", "0", "-approvals", "0"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	sim := snowtest.New(cfg.opts)
	for table, want := range map[string]int{"incident": 3, "change_request": 0, "sys_journal_field": 0, "sysapproval_approver": 0} {
		if got := len(sim.Records(table)); got != want {
			t.Errorf("%s: %d rows, want %d", table, got, want)
		}
	}
}

func TestUsageErrorsExit2(t *testing.T) {
	for _, args := range [][]string{{"-nosuch"}, {"-hide", "incident=2"}, {"-page-faults", "x=1"}, {"extra"}} {
		if code := run(args, io.Discard, io.Discard); code != 2 {
			t.Errorf("run(%q) = %d, want 2", args, code)
		}
	}
}

func TestServePrintsURLAndServes(t *testing.T) {
	cfg, err := parseFlags([]string{"-listen", "127.0.0.1:0", "-incidents", "7", "-oauth-client-id", "c",
		"-oauth-client-secret", "s", "-hide", "incident=0"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() { done <- serve(ctx, cfg, pw) }()
	lines := bufio.NewScanner(pr)
	var out []string
	for range 3 {
		if !lines.Scan() {
			t.Fatalf("stdout ended early: %v", out)
		}
		out = append(out, lines.Text())
	}
	if !strings.HasPrefix(out[0], "http://127.0.0.1:") || out[1] != "username=admin password=admin" ||
		out[2] != "oauth_client_id=c oauth_client_secret=s" {
		t.Errorf("stdout = %q", out)
	}
	req, _ := http.NewRequest(http.MethodGet, out[0]+"/api/now/stats/incident?sysparm_count=true", nil)
	req.SetBasicAuth("admin", "admin")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != `{"result":{"stats":{"count":"7"}}}` {
		t.Errorf("stats = %d %s", resp.StatusCode, body)
	}
	http.DefaultClient.CloseIdleConnections()
	cancel()
	if err := <-done; err != nil {
		t.Errorf("serve: %v", err)
	}
}
