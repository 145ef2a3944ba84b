package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/google/go-cmp/cmp"
	"github.com/nats-io/nkeys"

	"github.com/sei-edge/servicenow-edge/agent/config"
	"github.com/sei-edge/servicenow-edge/agent/servicenow/snowtest"
	"github.com/sei-edge/servicenow-edge/relay/command"
	"github.com/sei-edge/servicenow-edge/relay/natstest"
)

// These tests run `sei-agent validate` as main runs it, against the
// ServiceNow simulator over real HTTP(S) and the real sei-relay binary, one
// failure mode per subtest.

const (
	vUser     = "sei.integration"
	vPassword = "sn-Pa55word-validate"
)

// vConfig is one agent configuration for validate and preview tests.
type vConfig struct {
	URL      string // servicenow.url
	CAFile   string // servicenow.ca_file
	Password string // written to the password file
	DataDir  string // agent.data_dir (default "data", next to the file)
	MinFree  int64  // agent.min_free_bytes (0: the default)
	Relay    vRelay
}

// vRelay is the relay: block.
type vRelay struct {
	URL         string `yaml:"url"`
	Credentials string `yaml:"credentials"`
	CAFile      string `yaml:"ca_file"`
	Tenant      string `yaml:"tenant"`
	Integration string `yaml:"integration"`
}

// vIncidentExcluded are excluded on incident only; the fields of
// excluded (e2e_test.go) are excluded everywhere.
var vIncidentExcluded = []string{"caller_id"}

// write writes c to a fresh folder and returns the file's path.
func (c vConfig) write(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if c.Password == "" {
		c.Password = vPassword
	}
	if c.DataDir == "" {
		c.DataDir = "data"
	}
	if err := os.WriteFile(filepath.Join(dir, "sn-password"), []byte(c.Password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "agent:\n  id: edge-validate\n  data_dir: %q\n", c.DataDir)
	if c.MinFree != 0 {
		fmt.Fprintf(&b, "  min_free_bytes: %d\n", c.MinFree)
	}
	fmt.Fprintf(&b, "servicenow:\n  url: %s\n", c.URL)
	if c.CAFile != "" {
		fmt.Fprintf(&b, "  ca_file: %q\n", c.CAFile)
	}
	fmt.Fprintf(&b, `  auth:
    method: basic
    username: %s
    password_file: sn-password
  lookback: 365d
  exclude_fields: [%s]
  tables:
    incident:
      exclude_fields: [%s]
`, vUser, strings.Join(excluded, ", "), strings.Join(vIncidentExcluded, ", "))
	relay, err := yaml.Marshal(map[string]vRelay{"relay": c.Relay})
	if err != nil {
		t.Fatal(err)
	}
	b.Write(relay)
	path := filepath.Join(dir, "agent.yaml")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// newSim returns a small simulated instance with basic auth; now is its
// clock (nil: the local clock).
func newSim(now func() time.Time) *snowtest.Server {
	return snowtest.New(snowtest.Options{Seed: 11, Incidents: 40, Changes: 6, Users: 20, Groups: 3,
		Username: vUser, Password: vPassword, Now: now})
}

// writeCA writes cert as a PEM file and returns its path.
func writeCA(t *testing.T, cert *x509.Certificate) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// newSeedFile writes a freshly generated NKEY user seed no relay knows.
func newSeedFile(t *testing.T) string {
	t.Helper()
	kp, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	seed, err := kp.Seed()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "unknown.nk")
	if err := os.WriteFile(path, seed, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// closedAddr returns a local address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// validateRun is one `sei-agent validate` run, in text and in JSON.
type validateRun struct {
	code   int
	text   string
	checks []check
}

// byName returns the check called name.
func (r validateRun) byName(t *testing.T, name string) check {
	t.Helper()
	for _, c := range r.checks {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("validate printed no %q check:\n%s", name, r.text)
	return check{}
}

// failed lists the names of the failed checks.
func (r validateRun) failed() []string {
	var out []string
	for _, c := range r.checks {
		if !c.OK {
			out = append(out, c.Name)
		}
	}
	return out
}

// wantFailed checks that exactly the checks named fail (plus "relay" when
// the relay is not running, in -short mode).
func (r validateRun) wantFailed(t *testing.T, names ...string) {
	t.Helper()
	if testing.Short() && !slices.Contains(names, "relay") {
		names = append(names, "relay")
	}
	if diff := cmp.Diff(names, r.failed()); diff != "" {
		t.Errorf("failed checks (-want +got):\n%s\n%s", diff, r.text)
	}
	want := command.ExitFailure
	if len(names) == 0 {
		want = command.ExitOK
	}
	if r.code != want {
		t.Errorf("exit code %d, want %d\n%s", r.code, want, r.text)
	}
}

// runValidate runs validate twice, as text and with --json, and checks
// that both agree: same exit code, one text line per check, each line
// "ok  " or "FAIL", the check's name and its detail.
func runValidate(t *testing.T, cfg string) validateRun {
	t.Helper()
	ctx := context.Background()
	code, out, errOut := agentCmd(ctx, "validate", "-c", cfg)
	jcode, jout, jerrOut := agentCmd(ctx, "validate", "-c", cfg, "--json")
	if errOut != "" || jerrOut != "" {
		t.Errorf("validate wrote to stderr: %q %q", errOut, jerrOut)
	}
	if code != jcode {
		t.Errorf("validate exited %d, with --json %d", code, jcode)
	}
	var checks []check
	dec := json.NewDecoder(strings.NewReader(jout))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&checks); err != nil {
		t.Fatalf("validate --json printed no JSON array of checks: %v\n%s", err, jout)
	}
	if dec.More() {
		t.Errorf("validate --json printed more than one JSON value:\n%s", jout)
	}
	marks := 0
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "ok   ") || strings.HasPrefix(line, "FAIL ") {
			marks++
		}
	}
	if marks != len(checks) {
		t.Errorf("validate printed %d check lines, --json %d checks:\n%s", marks, len(checks), out)
	}
	for _, c := range checks {
		if c.Name == "" || c.Detail == "" {
			t.Errorf("check without a name or detail: %+v", c)
		}
		mark := "ok  "
		if !c.OK {
			mark = "FAIL"
		}
		// The two runs measure again: compare with the numbers masked.
		if line := fmt.Sprintf("%s %-22s %s\n", mark, c.Name, c.Detail); !strings.Contains(maskNumbers(out), maskNumbers(line)) {
			t.Errorf("text output lacks the line %q:\n%s", line, out)
		}
	}
	return validateRun{code: code, text: out, checks: checks}
}

// forbidTable answers 403 with ServiceNow's error envelope for every Table
// API request on table, as an instance does when the API user lacks the
// table's read ACL.
func forbidTable(next http.Handler, table string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Path
		for _, prefix := range []string{"/api/now/table/", "/api/now/v1/table/", "/api/now/v2/table/"} {
			if name, _, _ := strings.Cut(strings.TrimPrefix(p, prefix), "/"); strings.HasPrefix(p, prefix) && name == table {
				w.Header().Set("Content-Type", "application/json;charset=UTF-8")
				w.WriteHeader(http.StatusForbidden)
				io.WriteString(w, `{"error":{"message":"Insufficient rights to query records","detail":"Field(s) present in the query do not have permission to be read"},"status":"failure"}`)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// shortLivedCert returns a self-signed certificate for 127.0.0.1 that
// expires after d.
func shortLivedCert(t *testing.T, d time.Duration) (tls.Certificate, *x509.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(7),
		Subject:               pkix.Name{CommonName: "snow.test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(d),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert}, cert
}

// vTables are the tables the test configuration syncs: the defaults less
// sys_journal_field, whose every field of interest is excluded.
var vTables = []string{"incident", "change_request", "sys_user", "sys_user_group", "sysapproval_approver",
	"sys_audit", "sys_audit_delete"}

// leavingFields parses a table line's "fields that leave" list.
func leavingFields(t *testing.T, c check) []string {
	t.Helper()
	_, rest, ok := strings.Cut(c.Detail, "fields that leave: ")
	if !ok {
		t.Fatalf("%s: no fields-that-leave list in %q", c.Name, c.Detail)
	}
	list, _, _ := strings.Cut(rest, " ")
	if list == "" {
		return nil
	}
	return strings.Split(list, ",")
}

func TestValidate(t *testing.T) {
	// One relay for every subtest (none in -short mode: the relay line
	// then fails, and the subtests that need it are skipped).
	relay := vRelay{URL: "tls://" + closedAddr(t), Credentials: newSeedFile(t), Tenant: "acme", Integration: "servicenow"}
	if !testing.Short() {
		r := startRelay(t, filepath.Join(t.TempDir(), "relay"), "127.0.0.1:0")
		block := r.enroll(t, "acme", "servicenow", "edge-validate")
		var parsed struct {
			Relay vRelay `yaml:"relay"`
		}
		if err := yaml.Unmarshal([]byte(block), &parsed); err != nil {
			t.Fatal(err)
		}
		relay = parsed.Relay
	}
	needRelay := func(t *testing.T) {
		if testing.Short() {
			t.Skip("needs sei-relay (not run in -short mode)")
		}
	}

	sim := newSim(nil)
	tlsSrv := httptest.NewTLSServer(sim)
	t.Cleanup(tlsSrv.Close)
	ca := writeCA(t, tlsSrv.Certificate())
	good := vConfig{URL: tlsSrv.URL, CAFile: ca, Relay: relay}
	if !testing.Short() {
		// The running relay picks an enrolled agent up within a second.
		cfg, err := config.Load(good.write(t))
		if err != nil {
			t.Fatal(err)
		}
		natstest.CheckFor(t, 10*time.Second, 50*time.Millisecond, func() error {
			if c := checkRelay(context.Background(), cfg); !c.OK {
				return fmt.Errorf("relay does not accept the enrolled agent yet: %s", c.Detail)
			}
			return nil
		})
	}

	t.Run("all pass", func(t *testing.T) {
		needRelay(t)
		r := runValidate(t, good.write(t))
		r.wantFailed(t)
		var names []string
		for _, c := range r.checks {
			names = append(names, c.Name)
		}
		want := []string{"config", "data_dir", "buffer", "servicenow dns", "servicenow tcp", "servicenow tls", "servicenow auth", "servicenow clock"}
		for _, tbl := range vTables {
			want = append(want, "table "+tbl)
		}
		want = append(want, "reconcile", "relay")
		if diff := cmp.Diff(want, names); diff != "" {
			t.Errorf("checks (-want +got):\n%s", diff)
		}

		expiry := tlsSrv.Certificate().NotAfter.UTC().Format(time.DateOnly)
		if d := r.byName(t, "servicenow tls").Detail; !strings.Contains(d, "verified, certificate expires "+expiry) {
			t.Errorf("TLS line does not show the certificate expiry %s: %q", expiry, d)
		}
		if d := r.byName(t, "servicenow clock").Detail; !strings.Contains(d, "skew") {
			t.Errorf("clock line: %q", d)
		}
		if d := r.byName(t, "relay").Detail; !strings.Contains(d, relay.URL) || !strings.Contains(d, "round trip") {
			t.Errorf("relay line does not show a round trip to %s: %q", relay.URL, d)
		}
		if d := r.byName(t, "data_dir").Detail; !strings.Contains(d, "writable") || !strings.Contains(d, "free") {
			t.Errorf("data_dir line: %q", d)
		}

		// Every table line lists the fields that leave: real fields of
		// the table, never an excluded one.
		for _, tbl := range vTables {
			c := r.byName(t, "table "+tbl)
			fields := leavingFields(t, c)
			if !slices.Contains(fields, "sys_id") {
				t.Errorf("%s: fields that leave lack sys_id: %q", c.Name, c.Detail)
			}
			for _, f := range fields {
				if slices.Contains(excluded, f) || (tbl == "incident" && slices.Contains(vIncidentExcluded, f)) {
					t.Errorf("%s: excluded field %s listed as leaving: %q", c.Name, f, c.Detail)
				}
			}
			wantEx := slices.Sorted(slices.Values(excluded))
			if tbl == "incident" {
				wantEx = slices.Sorted(slices.Values(slices.Concat(excluded, vIncidentExcluded)))
			}
			if !strings.HasSuffix(c.Detail, "(excluded: "+strings.Join(wantEx, ",")+")") {
				t.Errorf("%s does not name the exclusions %v: %q", c.Name, wantEx, c.Detail)
			}
		}
		// The list is what the instance really returns, less exclusions.
		inc := leavingFields(t, r.byName(t, "table incident"))
		row := sim.Records("incident")[0]
		for _, f := range []string{"number", "short_description", "state", "sys_updated_on"} {
			if !slices.Contains(inc, f) {
				t.Errorf("incident fields that leave lack %s: %v", f, inc)
			}
		}
		for _, f := range slices.Concat(excluded, vIncidentExcluded) {
			if _, ok := row[f]; !ok && f != "comments" && f != "work_notes" {
				t.Errorf("the simulator's incident has no %s: the exclusion check proves nothing", f)
			}
		}
	})

	t.Run("json", func(t *testing.T) {
		needRelay(t)
		_, out, _ := agentCmd(context.Background(), "validate", "-c", good.write(t), "--json")
		var raw []map[string]any
		if err := json.Unmarshal([]byte(out), &raw); err != nil {
			t.Fatalf("not a JSON array: %v\n%s", err, out)
		}
		if len(raw) < 10 {
			t.Fatalf("only %d checks in %s", len(raw), out)
		}
		for _, c := range raw {
			name, ok1 := c["check"].(string)
			pass, ok2 := c["ok"].(bool)
			detail, ok3 := c["detail"].(string)
			if !ok1 || !ok2 || !ok3 || len(c) != 3 || name == "" || detail == "" {
				t.Errorf("check is not {check, ok, detail}: %v", c)
			}
			if !pass {
				t.Errorf("check %s failed on a good configuration: %s", name, detail)
			}
		}
	})

	t.Run("invalid config exits 2", func(t *testing.T) {
		badValue := func(t *testing.T) string {
			path := good.write(t)
			raw := strings.Replace(mustRead(t, path), "lookback: 365d", "lookback: 365d\n  page_size: 0", 1)
			os.WriteFile(path, []byte(raw), 0o600)
			return path
		}
		unknownKey := func(t *testing.T) string {
			path := good.write(t)
			raw := strings.Replace(mustRead(t, path), "data_dir:", "data_dirr:", 1)
			os.WriteFile(path, []byte(raw), 0o600)
			return path
		}
		badFilter := func(t *testing.T) string {
			path := good.write(t)
			raw := strings.Replace(mustRead(t, path), "    incident:\n", "    incident:\n      filter: active=true^NQactive=false\n", 1)
			os.WriteFile(path, []byte(raw), 0o600)
			return path
		}
		missing := func(t *testing.T) string { return filepath.Join(t.TempDir(), "agent.yaml") }
		for _, tc := range []struct {
			name string
			path func(t *testing.T) string
			want string
		}{
			{"unknown key", unknownKey, `unknown field "data_dirr"`},
			{"bad value", badValue, "servicenow.page_size: must be 1..10000 (got 0)"},
			{"bad table filter", badFilter, "servicenow.tables.incident.filter: must be one line without ^NQ"},
			{"missing file", missing, "no such file"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				path := tc.path(t)
				r := runValidate(t, path)
				if r.code != command.ExitUsage {
					t.Errorf("exit code %d, want %d (invalid configuration)", r.code, command.ExitUsage)
				}
				if len(r.checks) != 1 || r.checks[0].Name != "config" || r.checks[0].OK {
					t.Fatalf("want one failed config check, got %+v", r.checks)
				}
				if !strings.Contains(r.checks[0].Detail, tc.want) {
					t.Errorf("config line does not name %q: %s", tc.want, r.checks[0].Detail)
				}
			})
		}
	})

	t.Run("wrong password", func(t *testing.T) {
		c := good
		c.Password = "not-the-password"
		r := runValidate(t, c.write(t))
		r.wantFailed(t, "servicenow auth")
		d := r.byName(t, "servicenow auth").Detail
		for _, s := range []string{"401", "servicenow.auth", "username/password"} {
			if !strings.Contains(d, s) {
				t.Errorf("auth line lacks %q: %s", s, d)
			}
		}
		if strings.Contains(r.text, "not-the-password") {
			t.Errorf("validate printed the password:\n%s", r.text)
		}
	})

	t.Run("table not readable", func(t *testing.T) {
		srv := httptest.NewServer(forbidTable(sim, "change_request"))
		t.Cleanup(srv.Close)
		c := good
		c.URL, c.CAFile = srv.URL, ""
		r := runValidate(t, c.write(t))
		r.wantFailed(t, "table change_request")
		d := r.byName(t, "table change_request").Detail
		for _, s := range []string{"403", "Insufficient rights", "itil role", "read ACL on change_request"} {
			if !strings.Contains(d, s) {
				t.Errorf("table line lacks %q: %s", s, d)
			}
		}
	})

	t.Run("servicenow unreachable", func(t *testing.T) {
		c := good
		c.URL, c.CAFile = "http://"+closedAddr(t), ""
		r := runValidate(t, c.write(t))
		r.wantFailed(t, "servicenow tcp")
		if d := r.byName(t, "servicenow tcp").Detail; !strings.Contains(d, "servicenow.url "+c.URL) || !strings.Contains(d, "refused") {
			t.Errorf("tcp line does not name servicenow.url %s and the refusal: %s", c.URL, d)
		}
		if slices.ContainsFunc(r.checks, func(c check) bool { return strings.HasPrefix(c.Name, "table ") }) {
			t.Errorf("table checks ran although the instance is unreachable:\n%s", r.text)
		}
	})

	t.Run("tls without ca_file", func(t *testing.T) {
		c := good
		c.CAFile = ""
		r := runValidate(t, c.write(t))
		r.wantFailed(t, "servicenow tls")
		if d := r.byName(t, "servicenow tls").Detail; !strings.Contains(d, "certificate") || !strings.Contains(d, "servicenow.ca_file") {
			t.Errorf("tls line does not point at servicenow.ca_file: %s", d)
		}
	})

	t.Run("certificate expires soon", func(t *testing.T) {
		cert, leaf := shortLivedCert(t, 5*24*time.Hour)
		srv := httptest.NewUnstartedServer(sim)
		srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
		srv.StartTLS()
		t.Cleanup(srv.Close)
		c := good
		c.URL, c.CAFile = srv.URL, writeCA(t, leaf)
		r := runValidate(t, c.write(t))
		r.wantFailed(t, "servicenow tls")
		if d := r.byName(t, "servicenow tls").Detail; !strings.Contains(d, "expires "+leaf.NotAfter.UTC().Format(time.DateOnly)) || !strings.Contains(d, "renew") {
			t.Errorf("tls line does not warn of the expiry: %s", d)
		}
	})

	t.Run("clock skew", func(t *testing.T) {
		skewed := newSim(func() time.Time { return time.Now().Add(10 * time.Minute) })
		srv := httptest.NewServer(skewed)
		t.Cleanup(srv.Close)
		c := good
		c.URL, c.CAFile = srv.URL, ""
		r := runValidate(t, c.write(t))
		// Only the clock fails: the tables are still checked.
		r.wantFailed(t, "servicenow clock")
		d := r.byName(t, "servicenow clock").Detail
		if !strings.Contains(d, "by 10m0s") && !strings.Contains(d, "by 9m59s") {
			t.Errorf("clock line does not show the 10 minute skew: %s", d)
		}
		if !strings.Contains(d, "NTP") {
			t.Errorf("clock line does not say what to do: %s", d)
		}
		r.byName(t, "table incident")
	})

	t.Run("relay unreachable", func(t *testing.T) {
		needRelay(t)
		c := good
		c.Relay.URL = "tls://" + closedAddr(t)
		r := runValidate(t, c.write(t))
		r.wantFailed(t, "relay")
		if d := r.byName(t, "relay").Detail; !strings.Contains(d, "relay.url "+c.Relay.URL) {
			t.Errorf("relay line does not name relay.url %s: %s", c.Relay.URL, d)
		}
	})

	t.Run("relay credentials unknown", func(t *testing.T) {
		needRelay(t)
		c := good
		c.Relay.Credentials = newSeedFile(t)
		r := runValidate(t, c.write(t))
		r.wantFailed(t, "relay")
		d := r.byName(t, "relay").Detail
		if !strings.Contains(d, "relay.credentials "+filepath.Base(c.Relay.Credentials)) || !strings.Contains(d, "Authorization Violation") {
			t.Errorf("relay line does not name relay.credentials and the refusal: %s", d)
		}
	})

	t.Run("data_dir not creatable", func(t *testing.T) {
		blocker := filepath.Join(t.TempDir(), "a-file")
		if err := os.WriteFile(blocker, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
		c := good
		c.DataDir = filepath.Join(blocker, "data")
		r := runValidate(t, c.write(t))
		r.wantFailed(t, "data_dir")
		if d := r.byName(t, "data_dir").Detail; !strings.Contains(d, "agent.data_dir "+c.DataDir) || !strings.Contains(d, "not a directory") {
			t.Errorf("data_dir line: %s", d)
		}
	})

	t.Run("free space below min_free_bytes", func(t *testing.T) {
		c := good
		c.MinFree = 1 << 50 // 1 PiB
		r := runValidate(t, c.write(t))
		r.wantFailed(t, "data_dir")
		if d := r.byName(t, "data_dir").Detail; !strings.Contains(d, "agent.min_free_bytes (1.0 PiB)") {
			t.Errorf("data_dir line does not name agent.min_free_bytes: %s", d)
		}
	})
}

var numberRE = regexp.MustCompile(`[0-9][0-9.]*(µs|ms|ns|s)?`)

// maskNumbers replaces every number (and a duration's unit) with #.
func maskNumbers(s string) string { return numberRE.ReplaceAllString(s, "#") }

func mustRead(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(bytes.TrimSpace(b)) + "\n"
}
