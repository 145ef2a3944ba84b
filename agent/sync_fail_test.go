package main

import (
	"context"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/goccy/go-yaml"
)

// syncFailure runs `sei-agent sync --timeout 30s` against a small
// simulator with relay as the relay: block, and returns its exit code and
// error output. The timeout bounds how long the old behaviour (wait it
// out, then "last relay error: none") costs the test; the test asserts
// what sync says, never how fast.
func syncFailure(t *testing.T, relay vRelay) (int, string) {
	t.Helper()
	sim := newSim(nil)
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	cfg := vConfig{URL: srv.URL, Relay: relay}.write(t)
	code, _, errOut := agentCmd(context.Background(), "sync", "--timeout", "30s", "-c", cfg)
	return code, errOut
}

// TestSyncReportsBadCredentialsFile: a relay.credentials file that holds
// no seed fails sync with that error, not a timeout with "last relay
// error: none".
func TestSyncReportsBadCredentialsFile(t *testing.T) {
	creds := filepath.Join(t.TempDir(), "agent.nk")
	if err := os.WriteFile(creds, []byte("this is not a seed\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, errOut := syncFailure(t, vRelay{URL: "tls://127.0.0.1:1", Credentials: creds, Tenant: "acme", Integration: "servicenow"})
	if code == 0 || !strings.Contains(errOut, "relay.credentials") || !strings.Contains(errOut, "not an NKEY seed") {
		t.Errorf("sync exited %d, want the credentials error:\n%s", code, errOut)
	}
	if strings.Contains(errOut, "last relay error: none") || strings.Contains(errOut, "deadline exceeded") {
		t.Errorf("sync waited out its timeout instead of reporting the forwarder's error:\n%s", errOut)
	}
}

// TestSyncReportsRelayRefusal: a relay that refuses the agent's
// credentials, or whose certificate the agent does not trust, fails sync
// with the relay's own reason.
func TestSyncReportsRelayRefusal(t *testing.T) {
	if testing.Short() {
		t.Skip("needs sei-relay (not run in -short mode)")
	}
	r := startRelay(t, filepath.Join(t.TempDir(), "relay"), "127.0.0.1:0")
	var parsed struct {
		Relay vRelay `yaml:"relay"`
	}
	if err := yaml.Unmarshal([]byte(r.enroll(t, "acme", "servicenow", "edge-validate")), &parsed); err != nil {
		t.Fatal(err)
	}
	_, otherCA := shortLivedCert(t, time.Hour)
	for _, tc := range []struct {
		name   string
		modify func(*vRelay)
		want   string
	}{
		{"unknown credentials", func(v *vRelay) { v.Credentials = newSeedFile(t) }, "authorization violation"},
		{"unknown CA", func(v *vRelay) { v.CAFile = writeCA(t, otherCA) }, "certificate signed by unknown authority"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			relay := parsed.Relay
			tc.modify(&relay)
			code, errOut := syncFailure(t, relay)
			if code == 0 || !strings.Contains(strings.ToLower(errOut), tc.want) || !strings.Contains(errOut, relay.URL) {
				t.Errorf("sync exited %d, want %q and the relay's URL:\n%s", code, tc.want, errOut)
			}
			if strings.Contains(errOut, "last relay error: none") || strings.Contains(errOut, "deadline exceeded") {
				t.Errorf("sync waited out its timeout:\n%s", errOut)
			}
		})
	}
}
