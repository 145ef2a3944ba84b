package servicenow

import (
	"context"
	"encoding/base64"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"encoding/pem"

	"github.com/sei-edge/servicenow-edge/agent/servicenow/snowtest"
)

// authProxy is a real HTTP proxy that demands Basic Proxy-Authorization:
// it forwards plain-HTTP requests and tunnels CONNECT, and answers 407
// without the right credentials. target maps the instance's name to the
// simulator's address.
type authProxy struct {
	user, pass string
	target     string // host:port every request goes to
	forwarded  atomic.Int32
	tunnelled  atomic.Int32
	refused    atomic.Int32
	wg         sync.WaitGroup
}

func (p *authProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	want := "Basic " + base64.StdEncoding.EncodeToString([]byte(p.user+":"+p.pass))
	if r.Header.Get("Proxy-Authorization") != want {
		p.refused.Add(1)
		w.Header().Set("Proxy-Authenticate", `Basic realm="test"`)
		http.Error(w, "proxy authentication required", http.StatusProxyAuthRequired)
		return
	}
	if r.Method == http.MethodConnect {
		p.tunnel(w)
		return
	}
	p.forwarded.Add(1)
	req, _ := http.NewRequestWithContext(r.Context(), r.Method, "http://"+p.target+r.URL.RequestURI(), nil)
	req.Header = r.Header.Clone()
	req.Header.Del("Proxy-Authorization")
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
	io.Copy(w, resp.Body)
}

// tunnel joins the client to the target; the goroutines end when either
// side closes, and the test waits for them.
func (p *authProxy) tunnel(w http.ResponseWriter) {
	p.tunnelled.Add(1)
	up, err := net.Dial("tcp", p.target)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	w.WriteHeader(http.StatusOK)
	conn, rw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		up.Close()
		return
	}
	if n := rw.Reader.Buffered(); n > 0 {
		b, _ := rw.Reader.Peek(n)
		up.Write(b)
	}
	p.wg.Add(2)
	go func() { defer p.wg.Done(); io.Copy(up, conn); up.Close() }()
	go func() { defer p.wg.Done(); io.Copy(conn, up); conn.Close() }()
}

// TestProxyAuthentication: proxy_username/proxy_password reach a real
// authenticating proxy for plain HTTP (forwarded) and HTTPS (CONNECT); a
// wrong password gets the proxy's refusal, whose error shows no password.
func TestProxyAuthentication(t *testing.T) {
	s := snowtest.New(snowtest.Options{Incidents: 3, Changes: 1})
	plain := httptest.NewServer(s)
	defer plain.Close()
	tlsSrv := httptest.NewUnstartedServer(s)
	tlsSrv.Config.ErrorLog = log.New(io.Discard, "", 0)
	tlsSrv.StartTLS()
	defer tlsSrv.Close()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: tlsSrv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	const pass = "UNIQUE-proxy-pw-3307"
	for _, tc := range []struct {
		name, scheme string
		srv          *httptest.Server
	}{{"forward", "http", plain}, {"connect", "https", tlsSrv}} {
		t.Run(tc.name, func(t *testing.T) {
			p := &authProxy{user: "pu", pass: pass, target: tc.srv.Listener.Addr().String()}
			proxy := httptest.NewServer(p)
			defer func() { proxy.Close(); p.wg.Wait() }()
			// The instance "lives" at a name only the proxy can reach
			// (the certificate is for 127.0.0.1, so CONNECT uses that).
			instance := tc.scheme + "://acme.service-now.invalid"
			if tc.scheme == "https" {
				instance = "https://127.0.0.1:1"
			}
			c, _, _ := testClient(t, instance, func(c *Config) {
				c.Proxy, c.ProxyUsername, c.ProxyPassword, c.MaxAttempts, c.CAFile = proxy.URL, "pu", pass, 1, ca
			})
			defer c.hc.CloseIdleConnections()
			if _, err := c.CheckTable(context.Background(), incidentTable); err != nil {
				t.Fatalf("through the proxy: %v", err)
			}
			if p.forwarded.Load()+p.tunnelled.Load() == 0 || p.refused.Load() != 0 {
				t.Fatalf("forwarded %d, tunnelled %d, refused %d", p.forwarded.Load(), p.tunnelled.Load(), p.refused.Load())
			}
			bad, _, logs := testClient(t, instance, func(c *Config) {
				c.Proxy, c.ProxyUsername, c.ProxyPassword, c.MaxAttempts, c.CAFile = proxy.URL, "pu", "wrong-"+pass, 1, ca
			})
			defer bad.hc.CloseIdleConnections()
			_, err := bad.CheckTable(context.Background(), incidentTable)
			if err == nil || p.refused.Load() == 0 {
				t.Fatalf("wrong proxy password: err %v, refused %d", err, p.refused.Load())
			}
			if strings.Contains(err.Error()+logs.String(), pass) {
				t.Fatalf("the proxy password shows: %v\n%s", err, logs)
			}
		})
	}
}

// TestProxyUserinfoRefused: the client refuses a proxy URL with a
// password and does not print it.
func TestProxyUserinfoRefused(t *testing.T) {
	_, err := New(Config{URL: "https://a.service-now.com", Proxy: "http://u:UNIQUE-pp-1@proxy:3128", Auth: Auth{Method: MethodBasic, Username: "a", Password: "b"}})
	if err == nil || !strings.Contains(err.Error(), "servicenow.proxy: must not hold") || strings.Contains(err.Error(), "UNIQUE-pp-1") {
		t.Fatalf("err = %v", err)
	}
}
