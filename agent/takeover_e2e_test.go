package main

import (
	"context"
	"encoding/pem"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/rs/zerolog"

	"github.com/sei-edge/servicenow-edge/agent/servicenow/snowtest"
	"github.com/sei-edge/servicenow-edge/agent/status"
	"github.com/sei-edge/servicenow-edge/buffer"
	"github.com/sei-edge/servicenow-edge/relay/natstest"
	"github.com/sei-edge/servicenow-edge/relay/wire"
)

// firstBound returns the lower sys_updated_on bound of the first Table
// API request for table among reqs, "" when there is none (or it has no
// lower bound: a scan from the beginning).
func firstBound(reqs []snowtest.RequestLog, table string) (string, bool) {
	re := regexp.MustCompile(`sys_updated_on>=?(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)`)
	for _, r := range reqs {
		q := r.Query.Get("sysparm_query")
		if r.Path != "/api/now/table/"+table || !strings.Contains(q, "^ORDERBYsys_updated_on") {
			continue // not a scan (the newest row, a count)
		}
		m := re.FindStringSubmatch(q)
		if m == nil {
			return "(no lower bound: " + q + ")", true
		}
		return m[1], true
	}
	return "", false
}

// runPipelineAgent runs a until the returned stop is called.
func runPipelineAgent(t *testing.T, a *Agent) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	return func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
		a.Close()
	}
}

// TestHostedTakeoverResumesFromConfirmed: a hosted pipeline that takes
// its integration over in a new data folder starts each table at the
// relay's confirmation (less the overlap), not at the lookback as the
// old holder's first start did; its takeover is not damage (neither in
// the verdict nor in the log), and nothing is lost or doubled.
func TestHostedTakeoverResumesFromConfirmed(t *testing.T) {
	dir, hdir := t.TempDir(), shortDir(t)
	r := startRelay(t, filepath.Join(dir, "relay"), "127.0.0.1:0")
	var block struct {
		Relay struct {
			URL, Credentials string
			CAFile           string `yaml:"ca_file"`
		} `yaml:"relay"`
	}
	if err := yaml.Unmarshal([]byte(r.enroll(t, "acme", "snow", "hosted-snow")), &block); err != nil {
		t.Fatal(err)
	}
	sim := snowtest.New(snowtest.Options{Seed: 31, Incidents: 60, Changes: 6, Users: 15, Groups: 2, Spread: 30 * 24 * time.Hour,
		Now: func() time.Time { return time.Now().Add(-time.Minute) }, Username: "sei.basic", Password: basicPassword})
	srv := httptest.NewTLSServer(sim)
	defer srv.Close()
	caFile := filepath.Join(dir, "instances-ca.pem")
	os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600)
	h := &hostedAgent{cfg: &hostedConfig{Hosted: hostedSection{Name: "h1", DataDir: hdir, CAFile: caFile},
		Relay: hostedRelay{URL: block.Relay.URL, Credentials: block.Relay.Credentials, CAFile: block.Relay.CAFile}}, log: zerolog.Nop()}
	p := wire.HostedPipeline{ID: "acme.snow", Tenant: "acme", Name: "snow", URL: srv.URL, Agent: "hosted-snow",
		Auth: wire.HostedAuth{Method: "basic", Username: "sei.basic", Password: basicPassword}}
	tables := []string{"incident", "change_request", "sys_user"}

	// The old holder: its first start reads the lookback (as an on-prem
	// agent's does), and the relay confirms what it stored.
	cfg1, err := h.pipelineConfig(p, filepath.Join(hdir, "old"), "")
	if err != nil {
		t.Fatal(err)
	}
	old, err := openAgent(t.Context(), cfg1, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	stopOld := runPipelineAgent(t, old)
	waitHolds(t, r, "acme", sim, tables...)
	natstest.CheckFor(t, 30*time.Second, 50*time.Millisecond, func() error {
		c := old.fwd.Stats().Confirmed
		for _, table := range tables {
			if _, ok := c[table]; !ok {
				return fmt.Errorf("confirmed: %v", c)
			}
		}
		return nil
	})
	stopOld()
	confirmed := old.fwd.Stats().Confirmed["incident"]
	lookback := time.Now().Add(-time.Duration(cfg1.ServiceNow.Lookback))
	if b, ok := firstBound(sim.Requests(), "incident"); !ok || b == "" || !near(t, b, lookback, 2*time.Minute) {
		t.Fatalf("the old holder's first start read incident from %q, want the lookback %s", b, lookback.UTC().Format(wire.TimeLayout))
	}

	// Changes made while nobody holds it; then the takeover, in a new
	// data folder.
	touched := sim.Touch("incident", 3)
	mark := len(sim.Requests())
	var logs syncWriter
	var logBuf strings.Builder
	logs.w = &logBuf
	cfg2, err := h.pipelineConfig(p, filepath.Join(hdir, "new"), "")
	if err != nil {
		t.Fatal(err)
	}
	a, err := openPipelineAgent(t.Context(), cfg2, zerolog.New(&logs))
	if err != nil {
		t.Fatal(err)
	}
	if a.confirmWait == 0 || len(a.buf.Repairs()) != 1 {
		t.Errorf("a new data folder: wait %s, repairs %+v", a.confirmWait, a.buf.Repairs())
	}
	v := status.Evaluate(a.Snapshot(), a.thresholds(), time.Now())
	if strings.Contains(strings.Join(v.Reasons, "\n"), "damage") || a.Snapshot().Buffer.RepairsPending != 0 {
		t.Errorf("the takeover counts as damage: %+v", v)
	}
	started := time.Now()
	stop := runPipelineAgent(t, a)
	natstest.CheckFor(t, 60*time.Second, 50*time.Millisecond, func() error {
		if n := len(a.buf.Repairs()); n != 0 {
			return fmt.Errorf("%d repairs pending", n)
		}
		if st := a.poller.TableStats("incident"); st.LastSuccess.Before(started) {
			return fmt.Errorf("incident not polled yet")
		}
		return nil
	})
	b, ok := firstBound(sim.Requests()[mark:], "incident")
	want := servicenowTime(t, confirmed.UpdatedOn).Add(-time.Duration(cfg2.ServiceNow.Overlap))
	if !ok || b == "" || !near(t, b, want, time.Second) {
		t.Errorf("after the takeover incident was first read from %q, want the relay's confirmation %s less the overlap (%s)", b, confirmed.UpdatedOn, want.Format(wire.TimeLayout))
	}
	var scans int
	for _, q := range sim.Requests()[mark:] {
		if strings.HasPrefix(q.Path, "/api/now/table/") && strings.Contains(q.Query.Get("sysparm_query"), "^ORDERBYsys_updated_on") {
			scans++
		}
	}
	var records int
	for _, st := range a.poller.Stats().Tables {
		records += st.LastRecords
	}
	t.Logf("the takeover's first poll: %d Table API scan requests, %d records read; incident from %s", scans, records, b)
	got := waitHolds(t, r, "acme", sim, tables...)
	for _, id := range touched {
		if _, ok := got["incident/"+id]; !ok {
			t.Errorf("touched incident %s lost", id)
		}
	}
	stop()
	if out := logBuf.String(); strings.Contains(strings.ToLower(out), "damage") || !strings.Contains(out, "taking over") {
		t.Errorf("the takeover's log:\n%s", out)
	}

	// A restart in the same folder is no takeover: no repair, no wait.
	again, err := openPipelineAgent(t.Context(), cfg2, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	if again.confirmWait != 0 || len(again.buf.Repairs()) != 0 {
		t.Errorf("restart in the same folder: wait %s, repairs %+v", again.confirmWait, again.buf.Repairs())
	}
}

func servicenowTime(t *testing.T, s string) time.Time {
	t.Helper()
	at, err := time.ParseInLocation(wire.TimeLayout, s, time.UTC)
	if err != nil {
		t.Fatalf("time %q: %v", s, err)
	}
	return at
}

// near reports whether ServiceNow time s is within d of want.
func near(t *testing.T, s string, want time.Time, d time.Duration) bool {
	return servicenowTime(t, s).Sub(want).Abs() <= d
}

// TestTakeoverSection: the pending takeover repair is neither pending
// damage nor a damaged table; real damage beside it still is.
func TestTakeoverSection(t *testing.T) {
	pending := []buffer.Repair{{Reason: takeoverReason + "x"}, {Range: buffer.Range{Table: "incident"}, Reason: "checksum"}}
	b := status.Buffer{Repairs: 2, RepairsPending: 2, RepairTables: []string{"", "incident"}}
	takeoverSection(&b, pending)
	if b.RepairsPending != 1 || len(b.RepairTables) != 1 || b.RepairTables[0] != "incident" {
		t.Errorf("with damage: %+v", b)
	}
	b = status.Buffer{Repairs: 1, RepairsPending: 1, RepairTables: []string{""}}
	takeoverSection(&b, pending[:1])
	if b.RepairsPending != 0 || b.RepairTables != nil {
		t.Errorf("takeover only: %+v", b)
	}
	v := status.Evaluate(&status.Snapshot{Buffer: b}, status.DefaultThresholds(), time.Now())
	if strings.Contains(strings.Join(v.Reasons, "\n"), "damage") {
		t.Errorf("verdict: %+v", v)
	}
}
