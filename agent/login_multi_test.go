package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sei-edge/servicenow-edge/agent/config"
	"github.com/sei-edge/servicenow-edge/agent/servicenow/snowtest"
)

// TestLoginOneInstance: `login --integration snow-emea` signs in to that
// instance and stores its tokens in that instance's own folder; the other
// instance's store holds none.
func TestLoginOneInstance(t *testing.T) {
	sim := snowtest.New(snowtest.Options{Seed: 9, Incidents: 5,
		OAuth: &snowtest.OAuthOptions{ClientID: "emea-client", ClientSecret: "emea-secret", AccessTTL: time.Hour}})
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	dir := t.TempDir()
	path := filepath.Join(dir, "agent.yaml")
	cfg := fmt.Sprintf(`agent: {id: edge-login, data_dir: data}
instances:
  - {integration: snow-prod, servicenow: {url: http://%s, auth: {method: basic, username: u, password: p}}}
  - integration: snow-emea
    servicenow:
      url: %s
      auth: {method: oauth, grant: authorization_code, client_id: emea-client, client_secret: emea-secret,
             redirect_url: "http://127.0.0.1:0/oauth/callback"}
relay: {url: "nats://%s", credentials: %s, tenant: acme}
`, closedAddr(t), srv.URL, closedAddr(t), newSeedFile(t))
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	pr, pw := io.Pipe()
	var errb bytes.Buffer
	done := make(chan int, 1)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	go func() {
		done <- run(ctx, []string{"login", "-c", path, "--integration", "snow-emea"}, pw, &errb)
		pw.Close()
	}()
	var out strings.Builder
	sc := bufio.NewScanner(pr)
	for sc.Scan() {
		out.WriteString(sc.Text() + "\n")
		if u := strings.TrimSpace(sc.Text()); strings.HasPrefix(u, "http") {
			resp, err := http.Get(u)
			if err != nil {
				t.Errorf("follow the login URL: %v", err)
				continue
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	}
	if code := <-done; code != 0 {
		t.Fatalf("login exited %d:\n%s%s", code, out.String(), errb.String())
	}
	data := filepath.Join(dir, "data")
	if tok := instanceToken(t, data, "snow-emea"); tok == "" {
		t.Error("no token stored for snow-emea")
	}
	buf, err := openExistingBuffer(&config.Config{Agent: config.Agent{DataDir: config.InstanceDataDir(data, "snow-prod")}})
	if err == nil {
		defer buf.Close()
		if tok, _ := (&tokenStore{buf: buf}).LoadToken(ctx); tok != nil {
			t.Error("snow-prod's store holds a token from snow-emea's login")
		}
	}
}
