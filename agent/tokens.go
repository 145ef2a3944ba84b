package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"golang.org/x/oauth2"

	"github.com/sei-edge/servicenow-edge/agent/config"
	"github.com/sei-edge/servicenow-edge/agent/servicenow"
	"github.com/sei-edge/servicenow-edge/buffer"
)

// Token handling: the agent keeps ServiceNow's OAuth tokens in its buffer's
// state, lends them to the short commands, and knows when the refresh
// token ends.

// tokenStore keeps OAuth tokens in the buffer's state: in the agent's
// 0700 data directory, never in a log line.
type tokenStore struct{ buf *buffer.Buffer }

const tokenKey = "oauth/token"

func (s *tokenStore) LoadToken(ctx context.Context) (*oauth2.Token, error) {
	raw, err := s.buf.Get(tokenKey)
	if errors.Is(err, buffer.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("load oauth token: %w", err)
	}
	var t oauth2.Token
	if err := json.Unmarshal(raw, &t); err != nil {
		return nil, fmt.Errorf("load oauth token: %w", err)
	}
	return &t, nil
}

func (s *tokenStore) SaveToken(ctx context.Context, t *oauth2.Token) error {
	raw, err := json.Marshal(t)
	if err != nil {
		return err
	}
	if old, err := s.LoadToken(ctx); err == nil && (old == nil || old.RefreshToken != t.RefreshToken) && t.RefreshToken != "" {
		// A new refresh token: its lifetime starts now.
		now, _ := time.Now().UTC().MarshalText()
		if err := s.buf.Set(ctx, refreshIssuedKey, now); err != nil {
			return err
		}
	}
	return s.buf.Set(ctx, tokenKey, raw)
}

// refreshIssuedKey holds when the current refresh token was issued.
const refreshIssuedKey = "oauth/refresh_issued"

// refreshExpiry is when the stored refresh token ends, for the
// authorization_code grant, whose renewal needs an admin (`sei-agent
// login`); zero when unknown or irrelevant (the other grants renew alone).
func refreshExpiry(cfg *config.Config, get func(string) ([]byte, error)) time.Time {
	if cfg.ServiceNow.Auth.Method != "oauth" || cfg.ServiceNow.Auth.Grant != "authorization_code" {
		return time.Time{}
	}
	raw, err := get(refreshIssuedKey)
	if err != nil {
		return time.Time{}
	}
	var issued time.Time
	if issued.UnmarshalText(raw) != nil {
		return time.Time{}
	}
	return issued.Add(time.Duration(cfg.ServiceNow.Auth.RefreshTokenLifetime))
}

// borrowTokens lends validate and preview the agent's stored OAuth tokens
// when the agent is not running; when it is (the buffer is locked), or has
// never run (no buffer, which borrowing does not create), they get nil and
// the client makes a fresh grant. Call release when done.
func borrowTokens(cfg *config.Config) (tokens servicenow.TokenStore, release func()) {
	if cfg.ServiceNow.Auth.Method != "oauth" {
		return nil, func() {}
	}
	buf, err := openExistingBuffer(cfg)
	if err != nil {
		return nil, func() {}
	}
	return &tokenStore{buf: buf}, func() { buf.Close() }
}
