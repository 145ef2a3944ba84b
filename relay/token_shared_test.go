package main

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/sei-edge/servicenow-edge/relay/natstest"
	relaytoken "github.com/sei-edge/servicenow-edge/relay/token"
)

// TestTenantTokensSharedByReplicas runs two relays on one external NATS
// server, each with its own data_dir, as replicas do. A token created
// through one relay's configuration reads its tenant on both relays at
// once, and a revoke through the other is refused by both. A token of the
// older per-data_dir file of relay b is moved into the shared bucket when b
// starts (the file renamed), and then works on a too. The bucket holds only
// hashes. Before the bucket, each relay knew only its own data_dir's
// tokens.
func TestTenantTokensSharedByReplicas(t *testing.T) {
	ns := natstest.Start(t, &server.Options{JetStreamMaxStore: 128 << 20, JetStreamMaxMemory: 16 << 20})
	cfgs := map[string]string{}
	dataDirs := map[string]string{}
	for _, name := range []string{"a", "b"} {
		dir := t.TempDir()
		dataDirs[name] = filepath.Join(dir, "data")
		cfgs[name] = writeConfig(t, dir, fmt.Sprintf(`
data_dir: data
http: {listen: "127.0.0.1:0", token: admin}
nats: {url: %q}
stream: {max_bytes: 64MiB, replicas: 1}
log: {level: warn}
`, ns.ClientURL()))
	}
	// b's data_dir holds a token of the file an older relay kept.
	if err := os.MkdirAll(dataDirs["b"], 0o700); err != nil {
		t.Fatal(err)
	}
	legacy, _, err := relaytoken.Open(dataDirs["b"]).Create("acme", "from the file", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	a := startRun(t, cfgs["a"], dataDirs["a"])
	b := startRun(t, cfgs["b"], dataDirs["b"])
	if _, err := os.Stat(filepath.Join(dataDirs["b"], relaytoken.FileName)); !os.IsNotExist(err) {
		t.Errorf("b's token file still in place after the move: %v", err)
	}
	relays := map[string]string{"a": a.ri.HTTPURL, "b": b.ri.HTTPURL}
	status := func(relay, tok string) int {
		return httpStatus(t, relays[relay]+"/v1/agents?tenant=acme", tok)
	}

	code, out, errOut := runCmd(t, "token", "create", "-c", cfgs["a"], "--tenant", "acme", "--name", "shared")
	if code != 0 {
		t.Fatalf("token create through a: %d %s", code, errOut)
	}
	tok := strings.TrimSpace(out)
	for _, relay := range []string{"a", "b"} {
		if got := status(relay, tok); got != http.StatusOK {
			t.Errorf("token created through a, on relay %s: %d, want 200", relay, got)
		}
		if got := status(relay, legacy); got != http.StatusOK {
			t.Errorf("token from b's old file, on relay %s: %d, want 200", relay, got)
		}
		if got := httpStatus(t, relays[relay]+"/v1/agents?tenant=other", tok); got != http.StatusForbidden {
			t.Errorf("acme's token reading tenant other on relay %s: %d, want 403", relay, got)
		}
	}
	code, out, _ = runCmd(t, "token", "list", "-c", cfgs["b"])
	if code != 0 || !strings.Contains(out, "shared") || !strings.Contains(out, "from the file") || strings.Contains(out, tok) {
		t.Errorf("token list through b: %d\n%s", code, out)
	}
	id := ""
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, "shared") {
			id = strings.Fields(line)[0]
		}
	}
	if code, _, errOut := runCmd(t, "token", "revoke", "-c", cfgs["b"], id); code != 0 {
		t.Fatalf("token revoke through b: %d %s", code, errOut)
	}
	for _, relay := range []string{"a", "b"} {
		if got := status(relay, tok); got != http.StatusUnauthorized {
			t.Errorf("token revoked through b, on relay %s: %d, want 401", relay, got)
		}
	}
	checkBucketHoldsHashes(t, ns.ClientURL(), tok, legacy)
	a.stop(t)
	b.stop(t)
}

// checkBucketHoldsHashes reads every value of the token bucket and fails
// when one holds a token itself.
func checkBucketHoldsHashes(t *testing.T, url string, toks ...string) {
	t.Helper()
	nc, js := connectJS(t, url)
	defer nc.Close()
	kv, err := js.KeyValue(t.Context(), relaytoken.Bucket)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := kv.ListKeys(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for k := range keys.Keys() {
		e, err := kv.Get(t.Context(), k)
		if err != nil {
			continue
		}
		n++
		for _, tok := range toks {
			if strings.Contains(k+string(e.Value()), tok) {
				t.Errorf("token bucket key %s holds a token", k)
			}
		}
	}
	if n == 0 {
		t.Error("token bucket is empty")
	}
}
