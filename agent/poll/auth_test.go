package poll

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/oauth2"

	"github.com/sei-edge/servicenow-edge/agent/servicenow"
	"github.com/sei-edge/servicenow-edge/agent/servicenow/snowtest"
)

// TestAuthFailureEndsCycle: with a wrong password, one poll cycle makes
// one failed login, not one per table (ServiceNow locks accounts after a
// few), and the poller reports the failure once for every table.
func TestAuthFailureEndsCycle(t *testing.T) {
	sim := snowtest.New(snowtest.Options{Seed: 7, Incidents: 5, Changes: 1, Username: "admin", Password: "right"})
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	c, err := servicenow.New(servicenow.Config{URL: srv.URL, Logger: zerolog.Nop(),
		Auth: servicenow.Auth{Method: "basic", Username: "admin", Password: "wrong"}})
	if err != nil {
		t.Fatal(err)
	}
	p := New(Config{Tables: servicenow.DefaultTables(), Lookback: time.Hour, Logger: zerolog.Nop()}, c, openBuffer(t, 1<<30))
	refused := func() int {
		n := 0
		for _, r := range sim.Requests() {
			if r.Status == http.StatusUnauthorized {
				n++
			}
		}
		return n
	}
	for cycle := 1; cycle <= 2; cycle++ {
		err := p.PollOnce(context.Background())
		if err == nil || !strings.Contains(err.Error(), "401") {
			t.Fatalf("cycle %d: err = %v, want the refusal", cycle, err)
		}
		if got := refused(); got != cycle {
			t.Errorf("after cycle %d: %d failed logins, want %d (one per cycle)", cycle, got, cycle)
		}
		st := p.Stats()
		if st.AuthError == "" || st.AuthFailures != cycle {
			t.Errorf("cycle %d: AuthError %q, AuthFailures %d", cycle, st.AuthError, st.AuthFailures)
		}
	}
}

func TestAuthRetryWait(t *testing.T) {
	tests := []struct {
		interval time.Duration
		failures int
		want     time.Duration
	}{
		{time.Hour, 0, time.Hour},
		{time.Hour, 1, time.Hour},
		{time.Hour, 2, 2 * time.Hour},
		{time.Hour, 3, 4 * time.Hour},
		{time.Hour, 4, 6 * time.Hour},
		{time.Hour, 40, 6 * time.Hour},
		{time.Minute, 5, 16 * time.Minute},
		{12 * time.Hour, 3, 12 * time.Hour},
	}
	for _, tt := range tests {
		if got := authRetryWait(tt.interval, tt.failures); got != tt.want {
			t.Errorf("authRetryWait(%v, %d) = %v, want %v", tt.interval, tt.failures, got, tt.want)
		}
	}
}

// staleTokens holds a refresh token the instance no longer knows.
type staleTokens struct{}

func (staleTokens) LoadToken(context.Context) (*oauth2.Token, error) {
	return &oauth2.Token{AccessToken: "gone", RefreshToken: "revoked", Expiry: time.Unix(1, 0)}, nil
}
func (staleTokens) SaveToken(context.Context, *oauth2.Token) error { return nil }

// TestRefusedRefreshTokenIsAnAuthFailure: a refresh token ServiceNow
// refuses (expired or revoked, authorization_code grant) ends the cycle as
// an auth failure with the credential back-off, not as one table error per
// table retried every interval.
func TestRefusedRefreshTokenIsAnAuthFailure(t *testing.T) {
	sim := snowtest.New(snowtest.Options{Seed: 7, Incidents: 5, Changes: 1,
		OAuth: &snowtest.OAuthOptions{ClientID: "id", ClientSecret: "cs"}})
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	c, err := servicenow.New(servicenow.Config{URL: srv.URL, Logger: zerolog.Nop(),
		Auth: servicenow.Auth{Method: servicenow.MethodOAuth, Grant: servicenow.GrantAuthorizationCode,
			ClientID: "id", ClientSecret: "cs", RedirectURL: "http://127.0.0.1:0/cb", Tokens: staleTokens{}}})
	if err != nil {
		t.Fatal(err)
	}
	p := New(Config{Tables: servicenow.DefaultTables(), Lookback: time.Hour, Logger: zerolog.Nop()}, c, openBuffer(t, 1<<30))
	if err := p.PollOnce(context.Background()); err == nil {
		t.Fatal("poll with a revoked refresh token succeeded")
	}
	st := p.Stats()
	if !strings.Contains(st.AuthError, "refresh token was refused") || st.AuthFailures != 1 {
		t.Fatalf("AuthError %q, AuthFailures %d: want the refused refresh token as the cycle's auth failure", st.AuthError, st.AuthFailures)
	}
}
