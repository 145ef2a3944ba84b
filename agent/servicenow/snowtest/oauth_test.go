package snowtest

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var oauthOpts = &OAuthOptions{ClientID: "cid", ClientSecret: "csecret"}

// token posts a form to /oauth_token.do.
func postToken(t *testing.T, hs interface{ Client() *http.Client }, base string, form url.Values) (int, map[string]any) {
	t.Helper()
	resp, err := hs.Client().PostForm(base+"/oauth_token.do", form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, body
}

func withClient(kv ...string) url.Values {
	return vals(append([]string{"client_id", "cid", "client_secret", "csecret"}, kv...)...)
}

func bearerStatus(t *testing.T, hsURL string, c *http.Client, tok any) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, hsURL+"/api/now/table/sys_user_group?sysparm_limit=1", nil)
	req.Header.Set("Authorization", "Bearer "+tok.(string))
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestOAuthGrants(t *testing.T) {
	var errs map[string]any
	readFixture(t, "errors.json", &errs)
	failure := errs["oauth_token_failure_401"]
	s, hs, clock := start(t, Options{Seed: 1, Incidents: 3, Username: "svc", Password: "pw", OAuth: oauthOpts})

	status, tok := postToken(t, hs, hs.URL, withClient("grant_type", "password", "username", "svc", "password", "pw"))
	if status != http.StatusOK {
		t.Fatalf("password grant: %d %v", status, tok)
	}
	if diff := cmp.Diff(keys(errs["oauth_token_success_200"].(map[string]any)), keys(tok)); diff != "" {
		t.Errorf("success keys (-fixture +got):\n%s", diff)
	}
	if tok["expires_in"] != float64(1799) || tok["token_type"] != "Bearer" || tok["scope"] != "useraccount" {
		t.Errorf("token = %v", tok)
	}
	if st := bearerStatus(t, hs.URL, hs.Client(), tok["access_token"]); st != http.StatusOK {
		t.Errorf("bearer on Table API: %d", st)
	}
	if last := s.Requests()[len(s.Requests())-1]; last.Auth != "bearer" || last.Status != http.StatusOK {
		t.Errorf("request log: %+v", last)
	}

	for name, form := range map[string]url.Values{
		"wrong password":              withClient("grant_type", "password", "username", "svc", "password", "no"),
		"wrong secret":                vals("grant_type", "password", "client_id", "cid", "client_secret", "x", "username", "svc", "password", "pw"),
		"client credentials disabled": withClient("grant_type", "client_credentials"),
		"unknown grant":               withClient("grant_type", "magic"),
		"bad refresh token":           withClient("grant_type", "refresh_token", "refresh_token", "nope"),
	} {
		if st, body := postToken(t, hs, hs.URL, form); st != http.StatusUnauthorized || !cmp.Equal(body, failure) {
			t.Errorf("%s: %d %v", name, st, body)
		}
	}

	jsonBody := `{"grant_type":"password","client_id":"cid","client_secret":"csecret","username":"svc","password":"pw"}`
	resp, err := hs.Client().Post(hs.URL+"/oauth_token.do", "application/json", strings.NewReader(jsonBody))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("JSON token request: %d, want 401", resp.StatusCode)
	}

	// Expiry by the instance clock, then refresh: a new access token and no new refresh token.
	clock.Add(31 * time.Minute)
	if st := bearerStatus(t, hs.URL, hs.Client(), tok["access_token"]); st != http.StatusUnauthorized {
		t.Errorf("expired bearer: %d", st)
	}
	for i := range 2 { // the old refresh token stays good
		st, ref := postToken(t, hs, hs.URL, withClient("grant_type", "refresh_token", "refresh_token", tok["refresh_token"].(string)))
		if st != http.StatusOK || ref["refresh_token"] != nil || ref["access_token"] == tok["access_token"] {
			t.Fatalf("refresh %d: %d %v", i, st, ref)
		}
		if st := bearerStatus(t, hs.URL, hs.Client(), ref["access_token"]); st != http.StatusOK {
			t.Errorf("refreshed bearer: %d", st)
		}
	}

	s.RevokeTokens()
	if st, _ := postToken(t, hs, hs.URL, withClient("grant_type", "refresh_token", "refresh_token", tok["refresh_token"].(string))); st != http.StatusUnauthorized {
		t.Errorf("revoked refresh token: %d", st)
	}

	_, tok2 := postToken(t, hs, hs.URL, withClient("grant_type", "password", "username", "svc", "password", "pw"))
	clock.Add(101 * 24 * time.Hour)
	if st, _ := postToken(t, hs, hs.URL, withClient("grant_type", "refresh_token", "refresh_token", tok2["refresh_token"].(string))); st != http.StatusUnauthorized {
		t.Errorf("expired refresh token: %d", st)
	}
}

func TestOAuthClientCredentialsAndBasicOff(t *testing.T) {
	oa := *oauthOpts
	oa.ClientCredentials = true
	_, hs, _ := start(t, Options{Seed: 1, Incidents: 3, OAuth: &oa})
	st, tok := postToken(t, hs, hs.URL, withClient("grant_type", "client_credentials"))
	if st != http.StatusOK || tok["refresh_token"] != nil {
		t.Fatalf("client_credentials: %d %v", st, tok)
	}
	if st := bearerStatus(t, hs.URL, hs.Client(), tok["access_token"]); st != http.StatusOK {
		t.Errorf("bearer: %d", st)
	}
	if r := get(t, hs, "/api/now/table/incident", nil); r.status != http.StatusUnauthorized {
		t.Errorf("basic auth with OAuth only: %d, want 401", r.status)
	}
}

func TestOAuthAuthorizationCode(t *testing.T) {
	_, hs, _ := start(t, Options{Seed: 1, Incidents: 3, OAuth: oauthOpts})
	c := *hs.Client()
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	const redirect = "http://127.0.0.1:9999/callback"
	authorize := func(state string) *http.Response {
		q := vals("response_type", "code", "client_id", "cid", "redirect_uri", redirect, "state", state)
		if state == "" {
			q.Del("state")
		}
		resp, err := c.Get(hs.URL + "/oauth_auth.do?" + q.Encode())
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	if resp := authorize(""); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("without state: %d, want 400", resp.StatusCode)
	}
	resp := authorize("xyz")
	loc, err := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusFound || err != nil || !strings.HasPrefix(loc.String(), redirect+"?") {
		t.Fatalf("authorize: %d Location %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if loc.Query().Get("state") != "xyz" || loc.Query().Get("code") == "" {
		t.Fatalf("redirect query %v", loc.Query())
	}
	code := loc.Query().Get("code")
	if st, _ := postToken(t, hs, hs.URL, withClient("grant_type", "authorization_code", "code", code, "redirect_uri", "http://other/")); st != http.StatusUnauthorized {
		t.Errorf("wrong redirect_uri: %d", st)
	}
	loc2, _ := url.Parse(authorize("abc").Header.Get("Location"))
	code = loc2.Query().Get("code")
	st, tok := postToken(t, hs, hs.URL, withClient("grant_type", "authorization_code", "code", code, "redirect_uri", redirect))
	if st != http.StatusOK || tok["refresh_token"] == nil {
		t.Fatalf("code exchange: %d %v", st, tok)
	}
	if st, _ := postToken(t, hs, hs.URL, withClient("grant_type", "authorization_code", "code", code, "redirect_uri", redirect)); st != http.StatusUnauthorized {
		t.Errorf("code reused: %d", st)
	}
}
