package snowtest

import (
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"time"
)

// token is an issued access or refresh token.
type token struct {
	expires time.Time
}

// authCode is an authorization code waiting to be exchanged.
type authCode struct {
	clientID, redirectURI string
}

// RevokeTokens invalidates every access and refresh token and pending code.
func (s *Server) RevokeTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.access = map[string]token{}
	s.refresh = map[string]token{}
	s.codes = map[string]authCode{}
}

// serveToken answers POST /oauth_token.do and returns the grant type.
func (s *Server) serveToken(w http.ResponseWriter, r *http.Request) string {
	oa := s.opts.OAuth
	if oa == nil {
		writeError(w, http.StatusBadRequest, "Requested URI does not represent any resource", nil)
		return ""
	}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if r.Method != http.MethodPost || ct != "application/x-www-form-urlencoded" {
		writeTokenFailure(w)
		return ""
	}
	if err := r.ParseForm(); err != nil {
		writeTokenFailure(w)
		return ""
	}
	f := r.PostForm
	grant := f.Get("grant_type")
	if f.Get("client_id") != oa.ClientID || f.Get("client_secret") != oa.ClientSecret {
		writeTokenFailure(w)
		return grant
	}
	s.mu.Lock()
	resp, ok := s.grantLocked(grant, f)
	s.mu.Unlock()
	if !ok {
		writeTokenFailure(w)
		return grant
	}
	writeJSONResponse(w, http.StatusOK, resp)
	return grant
}

// grantLocked checks one grant and issues its tokens.
func (s *Server) grantLocked(grant string, f url.Values) (tokenResponse, bool) {
	oa := s.opts.OAuth
	now := s.opts.Now()
	switch grant {
	case "password":
		if s.opts.Username == "" || f.Get("username") != s.opts.Username || f.Get("password") != s.opts.Password {
			return tokenResponse{}, false
		}
		return s.issueLocked(true), true
	case "refresh_token":
		rt, ok := s.refresh[f.Get("refresh_token")]
		if !ok || !now.Before(rt.expires) {
			return tokenResponse{}, false
		}
		return s.issueLocked(false), true // the old refresh token stays valid
	case "authorization_code":
		code, ok := s.codes[f.Get("code")]
		delete(s.codes, f.Get("code")) // a code is good for one attempt
		if !ok || code.clientID != oa.ClientID || code.redirectURI != f.Get("redirect_uri") {
			return tokenResponse{}, false
		}
		return s.issueLocked(true), true
	case "client_credentials":
		if !oa.ClientCredentials {
			return tokenResponse{}, false
		}
		return s.issueLocked(false), true
	}
	return tokenResponse{}, false
}

// tokenResponse is a successful token answer, keys in ServiceNow's order.
type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token,omitempty"`
	Scope        string `json:"scope"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int    `json:"expires_in"`
}

// issueLocked mints an access token and, when withRefresh, a refresh token.
func (s *Server) issueLocked(withRefresh bool) tokenResponse {
	oa := s.opts.OAuth
	now := s.opts.Now()
	resp := tokenResponse{AccessToken: s.newTokenLocked(), Scope: "useraccount", TokenType: "Bearer",
		ExpiresIn: int(oa.AccessTTL/time.Second) - 1}
	s.access[resp.AccessToken] = token{expires: now.Add(oa.AccessTTL)}
	if withRefresh {
		resp.RefreshToken = s.newTokenLocked()
		s.refresh[resp.RefreshToken] = token{expires: now.Add(oa.RefreshTTL)}
	}
	return resp
}

func (s *Server) newTokenLocked() string {
	s.tokenCounter++
	return fmt.Sprintf("%016x%08x", s.rng.Uint64(), s.tokenCounter)
}

func writeTokenFailure(w http.ResponseWriter) {
	writeJSONResponse(w, http.StatusUnauthorized, struct {
		Description string `json:"error_description"`
		Error       string `json:"error"`
	}{"access_denied", "server_error"})
}

// serveAuthorize answers GET /oauth_auth.do: the simulated user always allows,
// so it redirects at once to redirect_uri with a code and the state.
func (s *Server) serveAuthorize(w http.ResponseWriter, r *http.Request) {
	oa := s.opts.OAuth
	q := r.URL.Query()
	switch {
	case oa == nil:
		writeError(w, http.StatusBadRequest, "Requested URI does not represent any resource", nil)
		return
	case r.Method != http.MethodGet || q.Get("response_type") != "code" ||
		q.Get("client_id") != oa.ClientID || q.Get("state") == "":
		http.Error(w, "Invalid request: response_type=code, client_id, redirect_uri and state are required",
			http.StatusBadRequest)
		return
	}
	target, err := url.Parse(q.Get("redirect_uri"))
	if err != nil || !target.IsAbs() {
		http.Error(w, "Invalid redirect_uri", http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	code := s.newTokenLocked()
	s.codes[code] = authCode{clientID: oa.ClientID, redirectURI: q.Get("redirect_uri")}
	s.mu.Unlock()
	v := target.Query()
	v.Set("code", code)
	v.Set("state", q.Get("state"))
	target.RawQuery = v.Encode()
	http.Redirect(w, r, target.String(), http.StatusFound)
}
