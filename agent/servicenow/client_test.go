package servicenow

import (
	"context"
	"encoding/pem"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sei-edge/servicenow-edge/agent/servicenow/snowtest"
)

func TestPermanentErrors(t *testing.T) {
	tests := []struct {
		name   string
		opts   snowtest.Options
		faults snowtest.Faults
		table  Table
		status int
		want   []string // substrings of the message
	}{
		{"400 invalid table", snowtest.Options{}, snowtest.Faults{}, Table{Name: "incidnt", Field: FieldUpdatedOn}, 400,
			[]string{"fetch incidnt page 1", "/api/now/table/incidnt", "400 Invalid table incidnt", "servicenow.tables"}},
		{"401 wrong password", snowtest.Options{Username: "admin", Password: "other"}, snowtest.Faults{}, incidentTable, 401,
			[]string{"fetch incident page 1", "/api/now/table/incident", "401 User Not Authenticated", "servicenow.auth"}},
		{"403 field ACL", snowtest.Options{}, snowtest.Faults{UnknownFieldIs403: true}, Table{Name: "incident", Field: FieldUpdatedOn, Filter: "u_secretISNOTEMPTY"}, 403,
			[]string{"fetch incident page 1", "/api/now/table/incident", "403 Insufficient rights to query records", "itil role", "read ACL on incident"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.opts.Incidents, tt.opts.Changes = 5, 1
			s, hs := sim(t, tt.opts)
			s.SetFaults(tt.faults)
			c, sl, _ := testClient(t, hs.URL, nil)
			err := c.Scan(context.Background(), tt.table, Cursor{}, time.Now(), func(Page) error { return nil })
			if !isPermanent(err) {
				t.Fatalf("err = %v, want permanent", err)
			}
			e := err.(*Error)
			if e.Status != tt.status || e.Table != tt.table.Name {
				t.Errorf("status %d table %q, want %d %q", e.Status, e.Table, tt.status, tt.table.Name)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("message %q lacks %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "other") {
				t.Errorf("message leaks a credential: %q", err)
			}
			if n := len(s.Requests()); n != 1 || len(sl.all()) != 0 {
				t.Errorf("%d requests, %d waits: a permanent error was retried", n, len(sl.all()))
			}
			if got := c.Stats().Tables[tt.table.Name].Errors[tt.status]; got != 1 {
				t.Errorf("Stats().Tables[%q].Errors[%d] = %d, want 1", tt.table.Name, tt.status, got)
			}
		})
	}
}

func TestTransientErrorsGiveUp(t *testing.T) {
	s, hs := sim(t, snowtest.Options{Incidents: 5, Changes: 1})
	s.SetFaults(snowtest.Faults{ServerErrorEvery: 1})
	c, sl, logs := testClient(t, hs.URL, func(c *Config) { c.MaxAttempts = 4 })
	err := c.Scan(context.Background(), incidentTable, Cursor{}, time.Now(), func(Page) error { return nil })
	if err == nil || isPermanent(err) || !strings.Contains(err.Error(), "gave up after 4 attempts") {
		t.Fatalf("err = %v, want transient after 4 attempts", err)
	}
	waits := sl.all()
	if len(waits) != 3 {
		t.Fatalf("waits %v, want 3", waits)
	}
	for i, w := range waits {
		lo, hi := (time.Second<<i)/2, time.Second<<i
		if w < lo || w > hi {
			t.Errorf("wait %d = %v, want in [%v, %v] (exponential with jitter)", i, w, lo, hi)
		}
	}
	if !strings.Contains(logs.String(), `"table":"incident"`) {
		t.Errorf("retries not logged with the table: %s", logs)
	}
}

func TestBackoffCapped(t *testing.T) {
	for n := 1; n < 40; n++ {
		if d := backoff(n); d > backoffMax || d < backoffBase/2 {
			t.Fatalf("backoff(%d) = %v", n, d)
		}
	}
}

func TestRateLimit(t *testing.T) {
	_, hs := sim(t, snowtest.Options{Incidents: 50, Changes: 1})
	c, sl, _ := testClient(t, hs.URL, func(c *Config) { c.RateLimit = 4; c.PageSize = 10 })
	// The fake sleep returns at once, so the limiter sees no time pass and
	// must space every request 250ms after the previous one.
	err := c.Scan(context.Background(), incidentTable, Cursor{}, time.Now(), func(Page) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	st := c.Stats()
	if st.RateLimitWaits < 4 || len(sl.all()) == 0 {
		t.Fatalf("no rate-limit waits: %+v", st)
	}
	// The fake sleep lets no time pass, so request k+1 is due k*250ms
	// from the start (less the little real time the test took).
	for k, w := range sl.all() {
		want := time.Duration(k+1) * 250 * time.Millisecond
		if w > want || w < want-time.Second {
			t.Errorf("wait %d = %v, want about %v", k, w, want)
		}
	}
}

func TestCAFileAndInsecure(t *testing.T) {
	s := snowtest.New(snowtest.Options{Incidents: 3, Changes: 1})
	hs := httptest.NewUnstartedServer(s)
	hs.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake is expected
	hs.StartTLS()
	defer hs.Close()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: hs.Certificate().Raw})
	if err := os.WriteFile(ca, pemBytes, 0o600); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	c, _, logs := testClient(t, hs.URL, func(c *Config) { c.CAFile = ca })
	if _, err := c.CheckTable(ctx, incidentTable); err != nil {
		t.Fatalf("with ca_file: %v", err)
	}
	if strings.Contains(logs.String(), "insecure") {
		t.Errorf("insecure warning without insecure_skip_verify: %s", logs)
	}
	if got, want := c.Stats().CertExpiry, hs.Certificate().NotAfter; !got.Equal(want) {
		t.Errorf("Stats().CertExpiry = %v, want the server certificate's %v", got, want)
	}
	defer c.hc.CloseIdleConnections()

	res := c.Probe(ctx)
	if len(res.Checks) < 3 || res.Checks[2].Name != "tls" || !res.Checks[2].OK || res.CertExpiry.IsZero() {
		t.Errorf("probe over TLS: %+v", res)
	}

	c2, _, _ := testClient(t, hs.URL, func(c *Config) { c.MaxAttempts = 1 })
	if res := c2.Probe(ctx); res.OK() || len(res.Checks) != 3 || res.Checks[2].OK || !strings.Contains(res.Checks[2].Detail, "servicenow.ca_file") {
		t.Errorf("probe without ca_file: %+v", res.Checks)
	}
	if _, err := c2.CheckTable(ctx, incidentTable); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("without ca_file: err = %v, want a certificate error", err)
	}

	c3, _, logs3 := testClient(t, hs.URL, func(c *Config) { c.InsecureSkipVerify = true })
	defer c3.hc.CloseIdleConnections()
	if _, err := c3.CheckTable(ctx, incidentTable); err != nil {
		t.Fatalf("insecure: %v", err)
	}
	if !strings.Contains(logs3.String(), `"level":"warn"`) || !strings.Contains(logs3.String(), "insecure_skip_verify") {
		t.Errorf("no insecure warning logged: %s", logs3)
	}

	if _, err := New(Config{URL: hs.URL, Auth: Auth{Method: MethodBasic, Username: "a", Password: "b"}, CAFile: filepath.Join(t.TempDir(), "none.pem")}); err == nil || !strings.Contains(err.Error(), "servicenow.ca_file") {
		t.Errorf("missing ca_file: err = %v", err)
	}
}

func TestProxy(t *testing.T) {
	_, hs := sim(t, snowtest.Options{Incidents: 3, Changes: 1})
	var proxied atomic.Int32
	target := hs.URL
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		proxied.Add(1)
		req, _ := http.NewRequestWithContext(r.Context(), r.Method, target+r.URL.RequestURI(), nil)
		req.Header = r.Header.Clone()
		resp, err := http.DefaultTransport.RoundTrip(req)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		for k, v := range resp.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(resp.StatusCode)
		buf := make([]byte, 32<<10)
		for {
			n, err := resp.Body.Read(buf)
			w.Write(buf[:n])
			if err != nil {
				break
			}
		}
	}))
	defer proxy.Close()
	// The instance "lives" at a name only the proxy can reach.
	c, _, _ := testClient(t, "http://acme.service-now.invalid", func(c *Config) { c.Proxy = proxy.URL; c.MaxAttempts = 1 })
	defer c.hc.CloseIdleConnections()
	if _, err := c.CheckTable(context.Background(), incidentTable); err != nil {
		t.Fatal(err)
	}
	if proxied.Load() == 0 {
		t.Fatal("request did not go through the proxy")
	}
	http.DefaultTransport.(*http.Transport).CloseIdleConnections()
}

func TestConfigValidate(t *testing.T) {
	err := Config{URL: "acme.service-now.com/x", PageSize: 20000, Auth: Auth{Method: "kerberos"}}.Validate()
	for _, w := range []string{"servicenow.url", "servicenow.page_size", "servicenow.auth.method"} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("err = %v, lacks %s", err, w)
		}
	}
	err = Config{URL: "https://a.service-now.com", Auth: Auth{Method: MethodOAuth, Grant: "implicit", ClientID: "c", ClientSecret: "s", RedirectURL: DefaultRedirectURL}}.withDefaults().Validate()
	if err == nil || !strings.Contains(err.Error(), "servicenow.auth.grant") {
		t.Errorf("err = %v", err)
	}
}

func TestRequestTimeout(t *testing.T) {
	_, hs := sim(t, snowtest.Options{Incidents: 3, Changes: 1, Latency: 2 * time.Second})
	c, sl, _ := testClient(t, hs.URL, func(c *Config) { c.Timeout = 100 * time.Millisecond; c.MaxAttempts = 2 })
	start := time.Now()
	_, err := c.CheckTable(context.Background(), incidentTable)
	if err == nil || isPermanent(err) || !strings.Contains(err.Error(), "gave up after 2 attempts") {
		t.Fatalf("err = %v, want a transient timeout", err)
	}
	if d := time.Since(start); d > 1500*time.Millisecond || len(sl.all()) != 1 {
		t.Fatalf("took %v with waits %v: the per-request timeout did not fire", d, sl.all())
	}
}

// isPermanent reports whether err carries a permanent *Error.
func isPermanent(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Permanent
}
