package enroll

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/goccy/go-yaml"
	"github.com/google/go-cmp/cmp"
	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nkeys"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func newRegistry(t *testing.T, dir string) *Registry {
	t.Helper()
	r, err := NewRegistry(dir)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// userSeed matches an NKEY user seed: "SU" and 56 more base32 characters
// (a bare "SU" also turns up inside public keys and JWTs by chance).
var userSeed = regexp.MustCompile(`SU[A-Z2-7]{56}`)

func TestRegistry(t *testing.T) {
	dir := t.TempDir()
	r := newRegistry(t, dir)
	if got, err := r.List(); err != nil || len(got) != 0 {
		t.Fatalf("empty List() = %v, %v", got, err)
	}
	b, credsB, _, err := r.Enroll("tb", "snow", "agent2", false)
	if err != nil {
		t.Fatal(err)
	}
	a, credsA, tokA, err := r.Enroll("ta", "snow", "agent1", false)
	if err != nil {
		t.Fatal(err)
	}
	uj, err := jwt.ParseDecoratedJWT(credsA)
	if err != nil {
		t.Fatal(err)
	}
	uc, err := jwt.DecodeUserClaims(uj)
	if err != nil {
		t.Fatal(err)
	}
	ac, err := jwt.DecodeAccountClaims(tokA)
	if err != nil {
		t.Fatal(err)
	}
	if uc.Subject != a.PublicKey || uc.Name != "agent1" || uc.Issuer != ac.Subject {
		t.Errorf("user jwt %s named %q issued by %s; want %s named agent1 issued by account %s", uc.Subject, uc.Name, uc.Issuer, a.PublicKey, ac.Subject)
	}
	if diff := cmp.Diff([]string{"sei.ingest.ta.snow.>", "sei.heartbeat.ta.agent1", "sei.reply.ta.agent1.>"}, []string(uc.Pub.Allow)); diff != "" {
		t.Errorf("user publish permissions (-want +got):\n%s", diff)
	}
	var imports []string
	for _, im := range ac.Imports {
		imports = append(imports, string(im.Subject))
	}
	if diff := cmp.Diff([]string{"sei.agent.ta.>", "sei.heartbeat.ta.*", "sei.reply.ta.>", "sei.submit.ta.>"}, imports); diff != "" {
		t.Errorf("account imports (-want +got):\n%s", diff)
	}
	if ac.Limits.Conn != DefaultConnsPerAgent || ac.Limits.JetStreamLimits.DiskStorage != 0 {
		t.Errorf("account limits %+v", ac.Limits)
	}
	got, err := r.List()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]Agent{a, b}, got); diff != "" {
		t.Errorf("List (-want +got):\n%s", diff)
	}
	for _, ten := range []string{"ta", "tb"} {
		raw, _ := os.ReadFile(filepath.Join(dir, TenantsDir, ten+".json"))
		if userSeed.Match(raw) || len(raw) == 0 {
			t.Errorf("tenant file %s holds a seed or is empty", ten)
		}
		for _, ext := range []string{".json", ".nk"} {
			if fi, err := os.Stat(filepath.Join(dir, TenantsDir, ten+ext)); err != nil || fi.Mode().Perm() != 0o600 {
				t.Errorf("tenant file %s%s: %v", ten, ext, err)
			}
		}
	}
	_ = credsB
	if _, _, _, err := r.Enroll("ta", "other", "agent1", false); !errors.Is(err, ErrEnrolled) {
		t.Errorf("second Enroll: %v, want ErrEnrolled", err)
	}
	a2, _, tok, err := r.Enroll("ta", "snow", "agent1", true)
	if err != nil || a2.PublicKey == a.PublicKey {
		t.Fatalf("replace: %v, key changed %v", err, a2.PublicKey != a.PublicKey)
	}
	if ac, _ := jwt.DecodeAccountClaims(tok); !ac.IsClaimRevoked(uc) {
		t.Error("replaced key not revoked in the account jwt")
	}
	tok, err = r.Revoke("ta", "agent1")
	if err != nil {
		t.Fatal(err)
	}
	if ac, _ := jwt.DecodeAccountClaims(tok); ac.Limits.Conn != 0 || len(ac.Revocations) != 2 {
		t.Errorf("after revoke: conns %d, revocations %v", ac.Limits.Conn, ac.Revocations)
	}
	if _, err := r.Revoke("ta", "agent1"); !errors.Is(err, ErrNotEnrolled) {
		t.Errorf("second Revoke: %v, want ErrNotEnrolled", err)
	}
	if got, _ := r.List(); len(got) != 1 || got[0].Agent != "agent2" {
		t.Errorf("after revoke: %v", got)
	}
	if _, _, _, err := r.Enroll("Bad Tenant", "snow", "x", false); err == nil || !strings.Contains(err.Error(), "tenant") {
		t.Errorf("bad tenant: %v", err)
	}
}

// TestPausedTenantLosesOnlyIngest checks the quota switch: a paused
// tenant's JWT keeps heartbeats and confirmations but not ingest.
func TestPausedTenantLosesOnlyIngest(t *testing.T) {
	r := newRegistry(t, t.TempDir())
	if _, _, _, err := r.Enroll("ta", "snow", "agent1", false); err != nil {
		t.Fatal(err)
	}
	tok, changed, err := r.SetPaused("ta", true)
	if err != nil || !changed {
		t.Fatalf("SetPaused: %v %v", changed, err)
	}
	ac, _ := jwt.DecodeAccountClaims(tok)
	for _, im := range ac.Imports {
		if strings.HasPrefix(string(im.Subject), "sei.submit.") {
			t.Errorf("paused tenant imports %s", im.Subject)
		}
	}
	if len(ac.Imports) != 3 {
		t.Errorf("paused imports %d, want 3", len(ac.Imports))
	}
}

// TestRegistryConcurrentChanges runs enrolls and revokes at once, as two
// operators (or a script) running sei-relay enroll in parallel would: none
// may be lost to another's read-modify-write.
func TestRegistryConcurrentChanges(t *testing.T) {
	r := newRegistry(t, t.TempDir())
	const n = 40
	for i := range n / 2 {
		if _, _, _, err := r.Enroll("t", "snow", fmt.Sprintf("old%02d", i), false); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	errs := make(chan error, 2*n)
	for i := range n {
		wg.Go(func() {
			_, _, _, err := r.Enroll("t", "snow", fmt.Sprintf("new%02d", i), false)
			errs <- err
		})
	}
	for i := range n / 2 {
		wg.Go(func() { _, err := r.Revoke("t", fmt.Sprintf("old%02d", i)); errs <- err })
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
	r := newRegistry(t, dir)
	path := filepath.Join(dir, TenantsDir, "t.json")
	if err := WriteFileAtomic(path, []byte(`{"tenant":"t","account":"nope","agents":[]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := r.List(); err == nil || !strings.Contains(err.Error(), "invalid account key") {
		t.Errorf("List() = %v", err)
	}
}

func TestCredentialsFile(t *testing.T) {
	dir := t.TempDir()
	_, creds, _, err := newRegistry(t, dir).Enroll("ta", "snow", "agent1", false)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "creds", "agent1.creds")
	if err := WriteCredentials(path, creds); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("credentials mode: %v %v", fi, err)
	}
	raw, _ := os.ReadFile(path)
	if _, err := nkeys.ParseDecoratedNKey(raw); err != nil {
		t.Errorf("no seed in the .creds file: %v", err)
	}
	if _, err := jwt.ParseDecoratedJWT(raw); err != nil {
		t.Errorf("no user JWT in the .creds file: %v", err)
	}
}

// TestLegacyAgentsNeedReenrolling reads a data_dir of the single-account
// layout: its agents are listed for re-enrolment until enrolled again.
func TestLegacyAgentsNeedReenrolling(t *testing.T) {
	dir := t.TempDir()
	legacy := `{"agents":[{"tenant":"ta","integration":"snow","agent":"agent1","public_key":"UAXJANWHEWB67I7HZPWVLXGON5MQIJF5WNCYJI5UTITLM4HO7SY3ZSVS"},` +
		`{"tenant":"tb","integration":"snow","agent":"agent2","public_key":"UAXJANWHEWB67I7HZPWVLXGON5MQIJF5WNCYJI5UTITLM4HO7SY3ZSVS"}]}`
	if err := os.WriteFile(filepath.Join(dir, LegacyRegistryFile), []byte(legacy), 0o600); err != nil {
		t.Fatal(err)
	}
	r := newRegistry(t, dir)
	got, err := r.Legacy()
	if err != nil || len(got) != 2 {
		t.Fatalf("Legacy() = %v, %v", got, err)
	}
	if h := ReenrollHint(got[0], "-c relay.yaml"); h != "sei-relay enroll -c relay.yaml --tenant ta --integration snow --agent agent1" {
		t.Errorf("hint %q", h)
	}
	if _, _, _, err := r.Enroll("ta", "snow", "agent1", false); err != nil {
		t.Fatal(err)
	}
	if got, _ := r.Legacy(); len(got) != 1 || got[0].Agent != "agent2" {
		t.Errorf("after re-enrolling agent1: %v", got)
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

func FuzzParseTenant(f *testing.F) {
	f.Add([]byte(`{"tenant":"t","account":"ACZSWBJ4SYILK7QVDELO64VX3EFWB6CXCPMEBN3OKXR5S3GN4JWHKJPY","agents":[{"tenant":"t","integration":"i","agent":"a","public_key":"UAXJANWHEWB67I7HZPWVLXGON5MQIJF5WNCYJI5UTITLM4HO7SY3ZSVS"}]}`))
	f.Add([]byte(`{"agents":[]}`))
	f.Add([]byte(`[1,2`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		ten, err := ParseTenant(raw)
		if err != nil {
			return
		}
		for _, a := range ten.Agents {
			if a.check() != nil || a.Tenant != ten.Name {
				t.Fatalf("accepted invalid agent %+v", a)
			}
		}
	})
}
