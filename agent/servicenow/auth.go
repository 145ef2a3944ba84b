package servicenow

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// expiryMargin renews an access token this long before it expires, so a
// request never leaves with a token about to die on the way.
const expiryMargin = 30 * time.Second

// authenticator puts credentials on Table API requests. For OAuth it owns
// the token: loaded from the TokenStore once, renewed before expiry or after
// a 401, and saved after every change. Safe for concurrent use.
type authenticator struct {
	cfg   Auth
	url   string
	hc    *http.Client // for token requests; has the client's transport and timeout
	stats *stats
	now   func() time.Time

	mu     sync.Mutex // guards the fields below
	tok    *oauth2.Token
	loaded bool
}

func newAuthenticator(cfg Config, hc *http.Client, st *stats) *authenticator {
	return &authenticator{cfg: cfg.Auth, url: cfg.URL, hc: hc, stats: st, now: time.Now}
}

// oauthConfig is the x/oauth2 view of the instance. AuthStyleInParams:
// ServiceNow reads client_id/secret from the form; autodetect would send a
// second token request after every failure (lockout risk).
func oauthConfig(a Auth, base string) *oauth2.Config {
	return &oauth2.Config{
		ClientID:     a.ClientID,
		ClientSecret: a.ClientSecret,
		Endpoint: oauth2.Endpoint{
			AuthURL:   base + "/oauth_auth.do",
			TokenURL:  base + "/oauth_token.do",
			AuthStyle: oauth2.AuthStyleInParams,
		},
		RedirectURL: a.RedirectURL,
	}
}

// apply sets the Authorization header and returns the access token used
// ("" for basic auth).
func (a *authenticator) apply(ctx context.Context, req *http.Request) (string, error) {
	if a.cfg.Method == MethodBasic {
		req.SetBasicAuth(a.cfg.Username, a.cfg.Password)
		return "", nil
	}
	tok, err := a.token(ctx)
	if err != nil {
		return "", err
	}
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	return tok.AccessToken, nil
}

// invalidate forgets the access token used when the server answered 401, so
// the next apply refreshes it. A token renewed meanwhile by another request
// is kept.
func (a *authenticator) invalidate(used string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.tok != nil && a.tok.AccessToken == used {
		a.tok.AccessToken = ""
	}
}

// token returns a valid access token, loading, refreshing or granting one.
func (a *authenticator) token(ctx context.Context) (*oauth2.Token, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.loaded && a.cfg.Tokens != nil {
		t, err := a.cfg.Tokens.LoadToken(ctx)
		if err != nil {
			return nil, fmt.Errorf("load OAuth token: %w", err)
		}
		a.tok, a.loaded = t, true
	}
	if a.validLocked() {
		return a.tok, nil
	}
	t, err := a.renewLocked(ctx)
	if err != nil {
		return nil, err
	}
	if t.RefreshToken == "" && a.tok != nil {
		t.RefreshToken = a.tok.RefreshToken // ServiceNow's refresh grant returns none: keep the old one
	}
	a.tok = t
	a.stats.setToken(t.Expiry)
	if a.cfg.Tokens != nil {
		if err := a.cfg.Tokens.SaveToken(ctx, t); err != nil {
			return nil, fmt.Errorf("save OAuth token: %w", err)
		}
	}
	return t, nil
}

func (a *authenticator) validLocked() bool {
	if a.tok == nil || a.tok.AccessToken == "" {
		return false
	}
	return a.tok.Expiry.IsZero() || a.now().Add(expiryMargin).Before(a.tok.Expiry)
}

// renewLocked refreshes the token once; when that fails (or there is no
// refresh token) it falls back to the configured grant, which for
// authorization_code means the admin must run `sei-agent login` again.
func (a *authenticator) renewLocked(ctx context.Context) (*oauth2.Token, error) {
	octx := context.WithValue(ctx, oauth2.HTTPClient, a.hc)
	oc := oauthConfig(a.cfg, a.url)
	var refreshErr error
	if a.tok != nil && a.tok.RefreshToken != "" {
		a.stats.tokenRequest()
		old := &oauth2.Token{RefreshToken: a.tok.RefreshToken, Expiry: time.Unix(1, 0)}
		t, err := oc.TokenSource(octx, old).Token()
		if err == nil {
			return t, nil
		}
		refreshErr = tokenError("refresh", a.url, err)
	}
	switch a.cfg.Grant {
	case GrantPassword:
		a.stats.tokenRequest()
		t, err := oc.PasswordCredentialsToken(octx, a.cfg.Username, a.cfg.Password)
		if err != nil {
			return nil, errors.Join(refreshErr, tokenError("password grant", a.url, err))
		}
		return t, nil
	case GrantClientCredentials:
		a.stats.tokenRequest()
		cc := clientcredentials.Config{ClientID: a.cfg.ClientID, ClientSecret: a.cfg.ClientSecret,
			TokenURL: oc.Endpoint.TokenURL, AuthStyle: oauth2.AuthStyleInParams}
		t, err := cc.Token(octx)
		if err != nil {
			return nil, errors.Join(refreshErr, tokenError("client credentials grant", a.url, err))
		}
		return t, nil
	}
	e := &Error{Op: "get OAuth token", URL: a.url + "/oauth_token.do", Permanent: true, Refused: true,
		Message: "no valid OAuth token for the authorization_code grant",
		Hint:    "run `sei-agent login -c FILE` to authorize the agent again", Err: refreshErr}
	if refreshErr != nil {
		e.Message = "the refresh token was refused (expired or revoked)"
	}
	return nil, e
}

// tokenError turns an x/oauth2 error into a permanent *Error without echoing
// the request (which holds the secret).
func tokenError(grant, base string, err error) error {
	e := &Error{Op: "get OAuth token (" + grant + ")", URL: base + "/oauth_token.do", Permanent: true,
		Hint: "check servicenow.auth.client_id, client_secret and the OAuth application in ServiceNow"}
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		e.Status = re.Response.StatusCode
		e.Message = re.ErrorCode
		if re.ErrorDescription != "" {
			e.Message += " " + re.ErrorDescription
		}
		if transientStatus(e.Status) {
			e.Permanent = false
		}
		// RFC 6749 5.2: a refused grant, client or refresh token is a 400
		// or 401 with an error code.
		e.Refused = e.Permanent && re.ErrorCode != "" && (e.Status == http.StatusBadRequest || e.Status == http.StatusUnauthorized)
		return e
	}
	e.Permanent = false
	e.Message = "token request failed"
	e.Err = errors.Unwrap(err)
	if e.Err == nil {
		e.Err = err
	}
	return e
}
