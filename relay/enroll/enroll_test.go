package enroll

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/goccy/go-yaml"
	"github.com/google/go-cmp/cmp"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestRegistry(t *testing.T) {
	dir := t.TempDir()
	r := NewRegistry(dir)
	if got, err := r.List(); err != nil || len(got) != 0 {
		t.Fatalf("empty List() = %v, %v", got, err)
	}
	b, seedB, err := r.Enroll("tb", "snow", "agent2", false)
	if err != nil {
		t.Fatal(err)
	}
	a, seedA, err := r.Enroll("ta", "snow", "agent1", false)
	if err != nil {
		t.Fatal(err)
	}
	kp, err := nkeys.FromSeed(seedA)
	if err != nil {
		t.Fatal(err)
	}
	if pub, _ := kp.PublicKey(); pub != a.PublicKey {
		t.Errorf("seed's public key %s != registry's %s", pub, a.PublicKey)
	}
	got, err := r.List()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]Agent{a, b}, got); diff != "" {
		t.Errorf("List (-want +got):\n%s", diff)
	}
	raw, _ := os.ReadFile(r.Path())
	if strings.Contains(string(raw), string(seedA)) || strings.Contains(string(raw), string(seedB)) {
		t.Error("registry holds a seed")
	}
	if fi, _ := os.Stat(r.Path()); fi.Mode().Perm() != 0o600 {
		t.Errorf("registry mode %v, want 0600", fi.Mode().Perm())
	}

	if _, _, err := r.Enroll("ta", "other", "agent1", false); !errors.Is(err, ErrEnrolled) {
		t.Errorf("second Enroll: %v, want ErrEnrolled", err)
	}
	a2, _, err := r.Enroll("ta", "snow", "agent1", true)
	if err != nil || a2.PublicKey == a.PublicKey {
		t.Errorf("replace: %v, key changed %v", err, a2.PublicKey != a.PublicKey)
	}
	if err := r.Revoke("ta", "agent1"); err != nil {
		t.Fatal(err)
	}
	if err := r.Revoke("ta", "agent1"); !errors.Is(err, ErrNotEnrolled) {
		t.Errorf("second Revoke: %v, want ErrNotEnrolled", err)
	}
	if got, _ := r.List(); len(got) != 1 || got[0].Agent != "agent2" {
		t.Errorf("after revoke: %v", got)
	}
	if _, _, err := r.Enroll("Bad Tenant", "snow", "x", false); err == nil || !strings.Contains(err.Error(), "tenant") {
		t.Errorf("bad tenant: %v", err)
	}
	entries, _ := os.ReadDir(dir)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if diff := cmp.Diff([]string{RegistryFile, RegistryFile + ".lock"}, names); diff != "" {
		t.Errorf("data dir entries (temp files left?) (-want +got):\n%s", diff)
	}
}

// TestRegistryConcurrentChanges runs enrolls and revokes at once, as two
// operators (or a script) running sei-relay enroll in parallel would: none
// may be lost to another's read-modify-write.
func TestRegistryConcurrentChanges(t *testing.T) {
	r := NewRegistry(t.TempDir())
	const n = 40
	for i := range n / 2 {
		if _, _, err := r.Enroll("t", "snow", fmt.Sprintf("old%02d", i), false); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	errs := make(chan error, 2*n)
	for i := range n {
		wg.Go(func() {
			_, _, err := r.Enroll("t", "snow", fmt.Sprintf("new%02d", i), false)
			errs <- err
		})
	}
	for i := range n / 2 {
		wg.Go(func() { errs <- r.Revoke("t", fmt.Sprintf("old%02d", i)) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	got, err := r.List()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, a := range got {
		names = append(names, a.Agent)
	}
	var want []string
	for i := range n {
		want = append(want, fmt.Sprintf("new%02d", i))
	}
	if diff := cmp.Diff(want, names); diff != "" {
		t.Errorf("registry after concurrent enroll/revoke (-want +got):\n%s", diff)
	}
}

func TestRegistryRejectsCorruptFile(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, RegistryFile), []byte(`{"agents":[{"tenant":"t","integration":"i","agent":"a","public_key":"nope"}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := NewRegistry(dir).List(); err == nil || !strings.Contains(err.Error(), "invalid public key") {
		t.Errorf("List() = %v", err)
	}
}

func TestPermissions(t *testing.T) {
	a := Agent{Tenant: "ta", Integration: "snow", Agent: "agent1"}
	if diff := cmp.Diff([]string{"sei.ingest.ta.snow.>", "sei.heartbeat.ta.agent1"}, a.Publish()); diff != "" {
		t.Errorf("Publish (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"_INBOX.ta.agent1.>", "sei.agent.ta.agent1.>"}, a.Subscribe()); diff != "" {
		t.Errorf("Subscribe (-want +got):\n%s", diff)
	}
}

func TestCredentialsFile(t *testing.T) {
	dir := t.TempDir()
	a, seed, err := NewRegistry(dir).Enroll("ta", "snow", "agent1", false)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "creds", "agent1.nk")
	if err := WriteCredentials(path, a, seed); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("credentials mode: %v %v", fi, err)
	}
	// The agent loads it exactly like this.
	if _, err := nats.NkeyOptionFromSeed(path); err != nil {
		t.Errorf("NkeyOptionFromSeed: %v", err)
	}
	raw, _ := os.ReadFile(path)
	kp, err := nkeys.ParseDecoratedNKey(raw)
	if err != nil {
		t.Fatal(err)
	}
	if pub, _ := kp.PublicKey(); pub != a.PublicKey {
		t.Errorf("file key %s, want %s", pub, a.PublicKey)
	}
}

func TestAdminKeyStable(t *testing.T) {
	dir := t.TempDir()
	k1, err := AdminKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	k2, err := AdminKey(dir)
	if err != nil || k1 != k2 || !nkeys.IsValidPublicUserKey(k1) {
		t.Errorf("AdminKey: %q %q %v", k1, k2, err)
	}
	if fi, _ := os.Stat(filepath.Join(dir, AdminKeyFile)); fi.Mode().Perm() != 0o600 {
		t.Errorf("admin key mode %v", fi.Mode().Perm())
	}
}

func TestRelayBlockIsValidYAML(t *testing.T) {
	b := RelayBlock{URL: "tls://relay:4222", Credentials: "/etc/sei/agent1.nk", CAFile: "/etc/sei/ca.pem", Tenant: "ta", Integration: "snow"}
	out, err := b.Marshal("agent1")
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Relay map[string]string `yaml:"relay"`
	}
	if err := yaml.UnmarshalWithOptions(out, &got, yaml.Strict()); err != nil {
		t.Fatalf("parse %s: %v", out, err)
	}
	want := map[string]string{"url": "tls://relay:4222", "credentials": "/etc/sei/agent1.nk", "ca_file": "/etc/sei/ca.pem", "tenant": "ta", "integration": "snow"}
	if diff := cmp.Diff(want, got.Relay); diff != "" {
		t.Errorf("relay block (-want +got):\n%s\n%s", diff, out)
	}
}

func FuzzParseRegistry(f *testing.F) {
	f.Add([]byte(`{"agents":[{"tenant":"t","integration":"i","agent":"a","public_key":"UAXJANWHEWB67I7HZPWVLXGON5MQIJF5WNCYJI5UTITLM4HO7SY3ZSVS"}]}`))
	f.Add([]byte(`{"agents":[]}`))
	f.Add([]byte(`[1,2`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		agents, err := ParseRegistry(raw)
		if err != nil {
			return
		}
		for _, a := range agents {
			if a.check() != nil {
				t.Fatalf("accepted invalid agent %+v", a)
			}
		}
	})
}
