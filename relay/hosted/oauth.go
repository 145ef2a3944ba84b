package hosted

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/oauth2"

	"github.com/sei-edge/servicenow-edge/relay/wire"
)

// StateTTL is how long an OAuth state stays good: the admin has this long
// to allow the application in ServiceNow.
const StateTTL = 10 * time.Minute

// CallbackPath is where the browser comes back from ServiceNow; the
// redirect URL is the relay's public URL followed by it.
const CallbackPath = "/v1/oauth/callback"

// ErrBadState is a state that is unknown, expired or already used.
var ErrBadState = errors.New("unknown, expired or already used OAuth state: start the connection again")

// states keeps the OAuth states, by hash, in a KV bucket every replica
// shares.
type states struct{ kv jetstream.KeyValue }

// stateEntry is one pending state.
type stateEntry struct {
	Integration string    `json:"integration"`
	Created     time.Time `json:"created"`
}

func openStates(ctx context.Context, js jetstream.JetStream, replicas int) (*states, error) {
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket: wire.HostedOAuthStateBucket, Description: "sei-relay pending OAuth connects (hashed states)",
		History: 1, TTL: StateTTL, Replicas: replicas, Storage: jetstream.FileStorage,
	})
	if err != nil {
		return nil, fmt.Errorf("open bucket %s: %w", wire.HostedOAuthStateBucket, err)
	}
	return &states{kv: kv}, nil
}

func stateKey(state string) string {
	h := sha256.Sum256([]byte(state))
	return hex.EncodeToString(h[:])
}

// New makes a state of 256 random bits bound to integration id; only its
// hash is kept.
func (s *states) New(ctx context.Context, id string, now time.Time) (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("make OAuth state: %w", err)
	}
	state := base64.RawURLEncoding.EncodeToString(b)
	raw, _ := json.Marshal(stateEntry{Integration: id, Created: now.UTC()})
	if _, err := s.kv.Create(ctx, stateKey(state), raw); err != nil {
		return "", fmt.Errorf("keep OAuth state: %w", err)
	}
	return state, nil
}

// Take consumes a state and returns its integration: it deletes the entry
// with a revision check first, so of two callbacks with one state (a
// replay, or two replicas at once) exactly one gets it.
func (s *states) Take(ctx context.Context, state string, now time.Time) (string, error) {
	if len(state) != 43 { // base64url of 32 bytes
		return "", ErrBadState
	}
	key := stateKey(state)
	e, err := s.kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return "", ErrBadState
	}
	if err != nil {
		return "", fmt.Errorf("read OAuth state: %w", err)
	}
	if err := s.kv.Delete(ctx, key, jetstream.LastRevision(e.Revision())); err != nil {
		return "", ErrBadState // taken by another callback meanwhile
	}
	var se stateEntry
	if err := json.Unmarshal(e.Value(), &se); err != nil || now.Sub(se.Created) > StateTTL {
		return "", ErrBadState
	}
	return se.Integration, nil
}

// oauthConfig is the instance's OAuth endpoints for p's client.
func oauthConfig(p wire.HostedPipeline, redirect string) oauth2.Config {
	return oauth2.Config{ClientID: p.Auth.ClientID, ClientSecret: p.Auth.ClientSecret, RedirectURL: redirect,
		Endpoint: oauth2.Endpoint{AuthURL: p.URL + "/oauth_auth.do", TokenURL: p.URL + "/oauth_token.do",
			AuthStyle: oauth2.AuthStyleInParams}} // never AutoDetect: a second try can lock the account
}

// authorizeURL is the instance's oauth_auth.do for p with state.
func authorizeURL(p wire.HostedPipeline, redirect, state string) string {
	oc := oauthConfig(p, redirect)
	return oc.AuthCodeURL(state)
}

// exchange trades code for tokens at the instance's oauth_token.do. Its
// error names the instance and ServiceNow's answer, never a secret.
func exchange(ctx context.Context, hc *http.Client, p wire.HostedPipeline, redirect, code string) (wire.HostedToken, error) {
	oc := oauthConfig(p, redirect)
	tok, err := oc.Exchange(context.WithValue(ctx, oauth2.HTTPClient, hc), code)
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) {
			return wire.HostedToken{}, fmt.Errorf("%s/oauth_token.do refused the code (HTTP %d %s): check the client id and secret, and that the redirect URL registered in ServiceNow is %s",
				p.URL, re.Response.StatusCode, re.ErrorCode, redirect)
		}
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL is said once, below
		}
		return wire.HostedToken{}, fmt.Errorf("reach %s/oauth_token.do: %v", p.URL, err)
	}
	if tok.RefreshToken == "" {
		return wire.HostedToken{}, fmt.Errorf("%s/oauth_token.do gave no refresh token: allow refresh tokens for the OAuth application", p.URL)
	}
	return wire.HostedToken{AccessToken: tok.AccessToken, RefreshToken: tok.RefreshToken, Expiry: tok.Expiry}, nil
}
