package servicenow

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sei-edge/servicenow-edge/agent/servicenow/snowtest"
	"golang.org/x/oauth2"
)

// memTokens is a TokenStore in memory that counts saves.
type memTokens struct {
	mu    sync.Mutex
	tok   *oauth2.Token
	saves int
}

func (m *memTokens) LoadToken(context.Context) (*oauth2.Token, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.tok == nil {
		return nil, nil
	}
	t := *m.tok
	return &t, nil
}

func (m *memTokens) SaveToken(_ context.Context, t *oauth2.Token) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	c := *t
	m.tok, m.saves = &c, m.saves+1
	return nil
}

func (m *memTokens) get() oauth2.Token {
	m.mu.Lock()
	defer m.mu.Unlock()
	return *m.tok
}

const clientID, clientSecret = "sei-client", "s3cr3t-client"

func oauthSim(t *testing.T, clk *clock, oa snowtest.OAuthOptions) (*snowtest.Server, string) {
	oa.ClientID, oa.ClientSecret = clientID, clientSecret
	s, hs := sim(t, snowtest.Options{Seed: 11, Now: clk.Now, Incidents: 300, Changes: 1, Users: 5, Groups: 1,
		Username: "svc", Password: "pw-svc", OAuth: &oa})
	return s, hs.URL
}

func oauthClient(t *testing.T, url, grant string, store TokenStore) (*Client, func() string) {
	c, _, logs := testClient(t, url, func(c *Config) {
		c.Auth = Auth{Method: MethodOAuth, Grant: grant, Username: "svc", Password: "pw-svc",
			ClientID: clientID, ClientSecret: clientSecret, Tokens: store, RedirectURL: "http://127.0.0.1:0/cb"}
	})
	return c, logs.String
}

// grants counts token requests by grant type.
func grants(s *snowtest.Server) map[string]int {
	out := map[string]int{}
	for _, r := range s.Requests() {
		if r.Path == "/oauth_token.do" {
			out[r.Grant]++
		}
	}
	return out
}

func scanAll(ctx context.Context, c *Client, clk *clock) (*collector, error) {
	col := newCollector()
	err := c.Scan(ctx, incidentTable, CursorAt(clk.Now().Add(-200*24*time.Hour)), clk.Now(), col.add)
	return col, err
}

func TestOAuthPasswordGrantRefreshMidScan(t *testing.T) {
	clk := newClock()
	s, url := oauthSim(t, clk, snowtest.OAuthOptions{AccessTTL: time.Minute})
	store := &memTokens{}
	c, logs := oauthClient(t, url, GrantPassword, store)
	// Each page moves the instance clock past the access token's life: the
	// next request gets a 401 and the client refreshes.
	s.OnPage(func(string, int) { clk.Advance(2 * time.Minute) })
	col, err := scanAll(context.Background(), c, clk)
	if err != nil {
		t.Fatal(err)
	}
	if missing, _ := col.missing(s, "incident"); len(missing) > 0 {
		t.Fatalf("%d rows missing", len(missing))
	}
	g := grants(s)
	if g["password"] != 1 || g["refresh_token"] < 2 {
		t.Fatalf("grants %v, want one password grant and refreshes", g)
	}
	for _, r := range s.Requests() {
		if strings.HasPrefix(r.Path, "/api/now/") && r.Auth != "bearer" {
			t.Fatalf("table request with %s auth", r.Auth)
		}
	}
	if tok := store.get(); tok.RefreshToken == "" || tok.AccessToken == "" {
		t.Fatalf("stored token lost its refresh token: %+v", tok)
	}
	for _, secret := range []string{store.get().AccessToken, store.get().RefreshToken, clientSecret, "pw-svc"} {
		if strings.Contains(logs(), secret) {
			t.Fatalf("log holds a secret")
		}
	}

	// A restart with the same store reuses the saved token: no new grant.
	s.OnPage(nil)
	if _, err := c.CheckTable(context.Background(), incidentTable); err != nil {
		t.Fatal(err)
	}
	before := grants(s)
	c2, _ := oauthClient(t, url, GrantPassword, store)
	if _, err := c2.CheckTable(context.Background(), incidentTable); err != nil {
		t.Fatal(err)
	}
	if after := grants(s); after["password"] != before["password"] || after["refresh_token"] != before["refresh_token"] {
		t.Errorf("restart requested a token: before %v after %v", before, after)
	}
}

func TestOAuthRefreshKeepsRefreshToken(t *testing.T) {
	clk := newClock()
	s, url := oauthSim(t, clk, snowtest.OAuthOptions{AccessTTL: time.Minute})
	store := &memTokens{}
	c, _ := oauthClient(t, url, GrantPassword, store)
	ctx := context.Background()
	if _, err := c.CheckTable(ctx, incidentTable); err != nil {
		t.Fatal(err)
	}
	rt := store.get().RefreshToken
	clk.Advance(5 * time.Minute)
	if _, err := c.CheckTable(ctx, incidentTable); err != nil {
		t.Fatal(err)
	}
	if g := grants(s); g["refresh_token"] != 1 {
		t.Fatalf("grants %v, want one refresh", g)
	}
	if got := store.get().RefreshToken; got != rt {
		t.Fatalf("refresh token changed to %q, want the original kept", got)
	}
	if store.saves != 2 {
		t.Errorf("%d saves, want 2", store.saves)
	}
}

func TestOAuthClientCredentials(t *testing.T) {
	clk := newClock()
	s, url := oauthSim(t, clk, snowtest.OAuthOptions{ClientCredentials: true})
	c, _ := oauthClient(t, url, GrantClientCredentials, &memTokens{})
	if _, err := c.CheckTable(context.Background(), incidentTable); err != nil {
		t.Fatal(err)
	}
	if g := grants(s); g["client_credentials"] != 1 || len(g) != 1 {
		t.Fatalf("grants %v", g)
	}
	if exp := c.Stats().TokenExpiry; exp.IsZero() {
		t.Error("token expiry not in stats")
	}
}

func TestOAuthWrongSecretSingleRequest(t *testing.T) {
	clk := newClock()
	s, url := oauthSim(t, clk, snowtest.OAuthOptions{})
	c, _, _ := testClient(t, url, func(c *Config) {
		c.Auth = Auth{Method: MethodOAuth, Grant: GrantPassword, Username: "svc", Password: "pw-svc", ClientID: clientID, ClientSecret: "wrong-secret"}
	})
	_, err := c.CheckTable(context.Background(), incidentTable)
	if !isPermanent(err) || !strings.Contains(err.Error(), "client_secret") || strings.Contains(err.Error(), "wrong-secret") {
		t.Fatalf("err = %v", err)
	}
	if g := grants(s); g["password"] != 1 {
		t.Fatalf("grants %v: want exactly one token request (explicit AuthStyle)", g)
	}
}

// login runs Login against the simulator, driving the browser step with an
// HTTP client that follows the printed URL to the loopback redirect.
func login(t *testing.T, url string, store TokenStore) *oauth2.Token {
	t.Helper()
	var out strings.Builder
	browser := func(u string) error {
		if !strings.Contains(out.String(), u) {
			t.Errorf("URL %s not printed", u)
		}
		resp, err := http.Get(u)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 || !strings.Contains(string(body), "authorized") {
			t.Errorf("callback answered %d %s", resp.StatusCode, body)
		}
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	tok, err := Login(ctx, Config{URL: url, Auth: Auth{ClientID: clientID, ClientSecret: clientSecret,
		RedirectURL: "http://127.0.0.1:0/oauth/callback", Tokens: store}}, &out, browser)
	if err != nil {
		t.Fatal(err)
	}
	http.DefaultClient.CloseIdleConnections()
	return tok
}

func TestLoginThenRevoked(t *testing.T) {
	clk := newClock()
	s, url := oauthSim(t, clk, snowtest.OAuthOptions{})
	store := &memTokens{}
	tok := login(t, url, store)
	if tok.AccessToken == "" || tok.RefreshToken == "" || store.get().AccessToken != tok.AccessToken {
		t.Fatalf("token %+v not returned and saved", tok)
	}
	c, _ := oauthClient(t, url, GrantAuthorizationCode, store)
	ctx := context.Background()
	if _, err := c.CheckTable(ctx, incidentTable); err != nil {
		t.Fatalf("with the login token: %v", err)
	}

	s.RevokeTokens()
	before := grants(s)["refresh_token"]
	_, err := c.CheckTable(ctx, incidentTable)
	if !isPermanent(err) || !strings.Contains(err.Error(), "sei-agent login") {
		t.Fatalf("err = %v, want a permanent error saying to run login", err)
	}
	// The poller counts it as ServiceNow refusing the credentials (the
	// credential back-off and the auth verdict), not as a table error.
	if e := (*Error)(nil); !errors.As(err, &e) || !e.Refused {
		t.Fatalf("err = %#v, want Refused", err)
	}
	if n := grants(s)["refresh_token"] - before; n != 1 {
		t.Fatalf("%d refresh attempts, want exactly 1", n)
	}
}

func TestLoginStateMismatch(t *testing.T) {
	codes, fails := make(chan string, 1), make(chan error, 1)
	h := callbackHandler("/cb", "expected", codes, fails)
	for _, q := range []string{"?code=c&state=forged", "?error=access_denied&state=expected", "?state=expected"} {
		rec := httptest.NewRecorder()
		req, _ := http.NewRequest(http.MethodGet, "http://127.0.0.1/cb"+q, nil)
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusBadRequest {
			t.Errorf("%s: status %d", q, rec.Code)
		}
		select {
		case err := <-fails:
			if err == nil {
				t.Error("nil error")
			}
		default:
			t.Errorf("%s: no failure reported", q)
		}
	}
	if len(codes) != 0 {
		t.Error("a code was accepted")
	}
}

func TestOAuthTokenEndpointTransient(t *testing.T) {
	clk := newClock()
	s := snowtest.New(snowtest.Options{Now: clk.Now, Incidents: 3, Changes: 1, Username: "svc", Password: "pw-svc",
		OAuth: &snowtest.OAuthOptions{ClientID: clientID, ClientSecret: clientSecret}})
	var mu sync.Mutex
	failed := 0
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		first := r.URL.Path == "/oauth_token.do" && failed < 2
		if first {
			failed++
		}
		mu.Unlock()
		if first {
			http.Error(w, "upstream busy", http.StatusServiceUnavailable)
			return
		}
		s.ServeHTTP(w, r)
	}))
	defer hs.Close()
	c, sl, logs := testClient(t, hs.URL, func(c *Config) {
		c.Auth = Auth{Method: MethodOAuth, Grant: GrantPassword, Username: "svc", Password: "pw-svc", ClientID: clientID, ClientSecret: clientSecret}
	})
	if _, err := c.CheckTable(context.Background(), incidentTable); err != nil {
		t.Fatalf("token endpoint 503 twice then fine: %v", err)
	}
	if len(sl.all()) != 2 {
		t.Errorf("waits %v, want 2 backoffs", sl.all())
	}
	// Each retry line names the request and the token URL once.
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		if !strings.Contains(line, "retrying") {
			continue
		}
		if strings.Count(line, "fetch one incident row") != 1 || strings.Count(line, "/oauth_token.do") != 1 || strings.Contains(line, "/api/now/table") {
			t.Errorf("retry log repeats or mixes the request context: %s", line)
		}
	}
}
