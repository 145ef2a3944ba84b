package servicenow

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"

	"golang.org/x/oauth2"
)

// Login runs the OAuth authorization-code flow for `sei-agent login`: it
// listens on the loopback redirect URL (Auth.RedirectURL, which must be
// registered in the ServiceNow OAuth application), prints the
// /oauth_auth.do URL to out and calls open with it (a browser opener; nil
// or a failure just leaves the printed URL), waits for the redirect, checks
// state, exchanges the code and saves the token to Auth.Tokens. It returns
// when the token is saved, the flow fails or ctx ends.
func Login(ctx context.Context, cfg Config, out io.Writer, open func(url string) error) (*oauth2.Token, error) {
	cfg.Auth.Method, cfg.Auth.Grant = MethodOAuth, GrantAuthorizationCode
	c, err := New(cfg)
	if err != nil {
		return nil, err
	}
	redirect, _ := url.Parse(c.cfg.Auth.RedirectURL)
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", redirect.Host)
	if err != nil {
		return nil, fmt.Errorf("listen on %s for the OAuth redirect (servicenow.auth.redirect_url): %w", redirect.Host, err)
	}
	if redirect.Port() == "0" { // tests: the registered URL must otherwise stay exactly as configured
		_, port, _ := net.SplitHostPort(ln.Addr().String())
		redirect.Host = net.JoinHostPort(redirect.Hostname(), port)
	}
	oc := oauthConfig(c.cfg.Auth, c.cfg.URL)
	oc.RedirectURL = redirect.String()
	state, err := randomState()
	if err != nil {
		ln.Close()
		return nil, err
	}
	codes := make(chan string, 1)
	fails := make(chan error, 1)
	srv := &http.Server{Handler: callbackHandler(redirect.Path, state, codes, fails)}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }() // owned: shut down below
	defer func() {
		srv.Close()
		<-served
	}()

	authURL := oc.AuthCodeURL(state)
	fmt.Fprintf(out, "Open this URL in a browser, sign in to ServiceNow and allow access:\n\n  %s\n\n", authURL)
	if open != nil {
		if err := open(authURL); err != nil {
			fmt.Fprintf(out, "(could not open a browser: %v)\n", err)
		}
	}
	var code string
	select {
	case code = <-codes:
	case err := <-fails:
		return nil, err
	case <-ctx.Done():
		return nil, fmt.Errorf("wait for the OAuth redirect on %s: %w", oc.RedirectURL, ctx.Err())
	}
	octx := context.WithValue(ctx, oauth2.HTTPClient, c.hc)
	c.stats.tokenRequest()
	tok, err := oc.Exchange(octx, code)
	if err != nil {
		return nil, tokenError("authorization code", c.cfg.URL, err)
	}
	if c.cfg.Auth.Tokens != nil {
		if err := c.cfg.Auth.Tokens.SaveToken(ctx, tok); err != nil {
			return nil, fmt.Errorf("save OAuth token: %w", err)
		}
	}
	fmt.Fprintln(out, "Authorized: the agent's token is saved.")
	return tok, nil
}

// callbackHandler accepts one redirect carrying the expected state.
func callbackHandler(path, state string, codes chan<- string, fails chan<- error) http.Handler {
	if path == "" {
		path = "/"
	}
	mux := http.NewServeMux()
	mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if e := q.Get("error"); e != "" {
			http.Error(w, "Authorization failed: "+e, http.StatusBadRequest)
			send(fails, fmt.Errorf("authorize the agent: ServiceNow answered %s %s", e, q.Get("error_description")))
			return
		}
		if subtle.ConstantTimeCompare([]byte(q.Get("state")), []byte(state)) != 1 {
			http.Error(w, "state mismatch", http.StatusBadRequest)
			send(fails, errors.New("authorize the agent: the redirect's state does not match (a stale or forged redirect); run login again"))
			return
		}
		if q.Get("code") == "" {
			http.Error(w, "no code", http.StatusBadRequest)
			send(fails, errors.New("authorize the agent: the redirect carries no code"))
			return
		}
		fmt.Fprintln(w, "sei-agent is authorized. You can close this window.")
		send(codes, q.Get("code"))
	})
	return mux
}

// send delivers v unless a value is already waiting (later redirects are
// ignored).
func send[T any](ch chan<- T, v T) {
	select {
	case ch <- v:
	default:
	}
}

func randomState() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generate OAuth state: %w", err)
	}
	return hex.EncodeToString(b), nil
}
