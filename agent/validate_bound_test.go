package main

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/sei-edge/servicenow-edge/relay/command"
)

// TestValidateDeadProxy: with servicenow.proxy pointing at a port nothing
// listens on, validate reports the refused connection of the proxy. The
// old validate retried eight times with backoff, past 40 s, for one
// check; under the 30 s bound a caller (an admin, a remote request) gives
// it here, it reported only a deadline. The test checks what validate
// says, never how fast.
func TestValidateDeadProxy(t *testing.T) {
	sim := newSim(nil)
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	cfg := vConfig{URL: srv.URL, Relay: vRelay{URL: "tls://" + closedAddr(t), Credentials: newSeedFile(t),
		Tenant: "acme", Integration: "servicenow"}}.write(t)
	raw, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	proxy := "http://" + closedAddr(t)
	withProxy := strings.Replace(string(raw), "servicenow:\n", "servicenow:\n  proxy: "+proxy+"\n", 1)
	if err := os.WriteFile(cfg, []byte(withProxy), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	code, out, errOut := agentCmd(ctx, "validate", "--json", "-c", cfg)
	var checks []check
	if err := json.Unmarshal([]byte(out), &checks); err != nil {
		t.Fatalf("validate --json (exit %d): %v\n%s\n%s", code, err, out, errOut)
	}
	var auth *check
	for i, c := range checks {
		if c.Name == "servicenow auth" {
			auth = &checks[i]
		}
		if strings.Contains(c.Detail, "deadline exceeded") {
			t.Errorf("check %s ran into the caller's deadline: %s", c.Name, c.Detail)
		}
	}
	if auth == nil || auth.OK || !strings.Contains(auth.Detail, "connection refused") || !strings.Contains(auth.Detail, "proxy") {
		t.Errorf("want a failed auth check naming the refused proxy connection, got %+v\n%s", auth, out)
	}
	if code != command.ExitFailure {
		t.Errorf("exit %d, want %d", code, command.ExitFailure)
	}
}
