package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"

	"github.com/sei-edge/servicenow-edge/relay/enroll"
	"github.com/sei-edge/servicenow-edge/relay/natstest"
	"github.com/sei-edge/servicenow-edge/relay/wire"
)

// TestMigrationFromSingleAccount starts the relay on a data_dir of the
// single-account layout (agents.json with NKEY users, the agent holding a
// bare seed). The old credentials cannot authenticate any more, so the
// relay says, on stderr, exactly which command re-enrolls each agent; after
// running it, the agent connects with the new file and the relay stops
// asking.
func TestMigrationFromSingleAccount(t *testing.T) {
	dir := t.TempDir()
	dataDir := filepath.Join(dir, "data")
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		t.Fatal(err)
	}
	kp, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := kp.PublicKey()
	seed, _ := kp.Seed()
	oldCreds := filepath.Join(dir, "acme.a1.nk")
	if err := os.WriteFile(oldCreds, append(seed, '\n'), 0o600); err != nil {
		t.Fatal(err)
	}
	legacy := fmt.Sprintf(`{"agents":[{"tenant":"acme","integration":"snow","agent":"a1","public_key":%q,"created":"2026-01-01T00:00:00Z"}]}`, pub)
	if err := os.WriteFile(filepath.Join(dataDir, enroll.LegacyRegistryFile), []byte(legacy), 0o600); err != nil {
		t.Fatal(err)
	}
	cfgPath := writeConfig(t, dir, `
data_dir: data
http: {listen: "127.0.0.1:0", token: tok}
nats: {listen: "127.0.0.1:0", max_store: 256MiB, max_memory: 32MiB}
stream: {max_bytes: 64MiB}
log: {level: error}
`)
	start := func() (runInfo, *syncBuffer, func()) {
		r := startRun(t, cfgPath, dataDir)
		return r.ri, r.stderr, func() { r.stop(t) }
	}
	ri, stderr, stop := start()
	hint := "sei-relay enroll -c " + cfgPath + " --tenant acme --integration snow --agent a1"
	if !strings.Contains(stderr.String(), hint) || !strings.Contains(stderr.String(), "enrolled before tenant accounts") {
		t.Errorf("stderr does not say how to re-enroll a1 (%q):\n%s", hint, stderr)
	}
	opt, err := nats.NkeyOptionFromSeed(oldCreds)
	if err != nil {
		t.Fatal(err)
	}
	if nc, err := nats.Connect(ri.NATSURL, opt, nats.RootCAs(ri.CAFile), nats.MaxReconnects(0)); err == nil {
		nc.Close()
		t.Error("old NKEY-only credentials still connect")
	} else if !strings.Contains(strings.ToLower(err.Error()), "authorization") {
		t.Errorf("old credentials: %v, want an authorization error", err)
	}

	// The printed command, run as printed.
	args := strings.Fields(strings.TrimPrefix(hint, "sei-relay "))
	var out, errb bytes.Buffer
	if code := run(context.Background(), args, &out, &errb); code != 0 {
		t.Fatalf("%s: %d %s", hint, code, errb.String())
	}
	var block struct {
		Relay enroll.RelayBlock `yaml:"relay"`
	}
	if err := yaml.Unmarshal(out.Bytes(), &block); err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect(block.Relay.URL, nats.UserCredentials(block.Relay.Credentials), nats.RootCAs(block.Relay.CAFile),
		nats.CustomInboxPrefix(wire.InboxPrefix("acme", "a1")), nats.MaxReconnects(0))
	if err != nil {
		t.Fatalf("re-enrolled agent: %v", err)
	}
	natstest.CheckFor(t, 10*time.Second, 50*time.Millisecond, func() error {
		// Agents heartbeat on a timer; the relay may still be setting up.
		if err := nc.Publish(wire.HeartbeatSubject("acme", "a1"), []byte(`{"agent":"a1"}`)); err != nil {
			return err
		}
		body, err := httpGet(ri.HTTPURL+"/v1/agents?tenant=acme", "tok")
		if err != nil || !strings.Contains(body, `"agent":"a1"`) {
			return fmt.Errorf("re-enrolled agent's heartbeat: %v %s", err, body)
		}
		return nil
	})
	nc.Close()
	stop()

	_, stderr, stop = start()
	defer stop()
	if strings.Contains(stderr.String(), "enrolled before tenant accounts") {
		t.Errorf("relay still asks to re-enroll after it was done:\n%s", stderr)
	}
}
