package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/sei-edge/servicenow-edge/agent/config"
	"github.com/sei-edge/servicenow-edge/agent/status"
)

// TestStatusShowsAuthFailureOnce: with a wrong password a poll cycle
// makes one failed login and status says so once, for every table, not
// in one near-identical block per table.
func TestStatusShowsAuthFailureOnce(t *testing.T) {
	sim := newSim(nil)
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	path := vConfig{URL: srv.URL, Password: "not-the-password", Relay: vRelay{URL: "tls://127.0.0.1:1",
		Credentials: newSeedFile(t), Tenant: "acme", Integration: "servicenow"}}.write(t)
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	a, err := openAgent(t.Context(), cfg, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if err := a.poller.PollOnce(context.Background()); err == nil {
		t.Fatal("poll with a wrong password succeeded")
	}
	refused := 0
	for _, r := range sim.Requests() {
		if r.Status == http.StatusUnauthorized {
			refused++
		}
	}
	if refused != 1 {
		t.Errorf("%d failed logins in one cycle, want 1", refused)
	}
	snap := a.Snapshot()
	snap.Verdict = status.Evaluate(snap, status.Thresholds{}, time.Now())
	var text bytes.Buffer
	if err := status.Render(&text, snap, false); err != nil {
		t.Fatal(err)
	}
	out := text.String()
	if n := strings.Count(out, "User Not Authenticated"); n > 2 { // the auth error line and the verdict
		t.Errorf("the refusal is shown %d times:\n%s", n, out)
	}
	if !strings.Contains(out, "auth error") || strings.Contains(out, " error: ") {
		t.Errorf("want one auth error line and no per-table error block:\n%s", out)
	}
	auth := 0
	for _, r := range snap.Verdict.Reasons {
		if strings.Contains(r, "authentication") {
			auth++
		}
	}
	if snap.Verdict.Level != status.LevelFailing || auth != 1 {
		t.Errorf("verdict %s %v, want FAILING with one authentication reason", snap.Verdict.Level, snap.Verdict.Reasons)
	}
}
