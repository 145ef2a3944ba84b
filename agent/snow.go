package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/oauth2"

	"github.com/sei-edge/servicenow-edge/agent/config"
	"github.com/sei-edge/servicenow-edge/agent/servicenow"
	"github.com/sei-edge/servicenow-edge/buffer"
)

// clientConfig maps the agent configuration onto the ServiceNow client's.
func clientConfig(cfg *config.Config, log zerolog.Logger, tokens servicenow.TokenStore) servicenow.Config {
	sn := cfg.ServiceNow
	return servicenow.Config{
		URL: sn.URL,
		Auth: servicenow.Auth{
			Method:       sn.Auth.Method,
			Username:     sn.Auth.Username,
			Password:     sn.Auth.Password.Reveal(),
			ClientID:     sn.Auth.ClientID,
			ClientSecret: sn.Auth.ClientSecret.Reveal(),
			Grant:        sn.Auth.Grant,
			RedirectURL:  sn.Auth.RedirectURL,
			Tokens:       tokens,
		},
		CAFile:             sn.CAFile,
		Proxy:              sn.Proxy,
		ProxyUsername:      sn.ProxyUsername,
		ProxyPassword:      sn.ProxyPassword.Reveal(),
		InsecureSkipVerify: sn.InsecureSkipVerify,
		Timeout:            time.Duration(sn.Timeout),
		PageSize:           sn.PageSize,
		RateLimit:          sn.RateLimit,
		Exclude:            exclusions(cfg),
		Logger:             log.With().Str("component", "servicenow").Logger(),
		UserAgent:          "sei-agent/" + version,
	}
}

func newServiceNowClient(cfg *config.Config, log zerolog.Logger, tokens servicenow.TokenStore) (*servicenow.Client, error) {
	c, err := servicenow.New(clientConfig(cfg, log, tokens))
	if err != nil {
		return nil, usageError{fmt.Errorf("servicenow: %w", err)}
	}
	return c, nil
}

// syncTables is the default table list adjusted by servicenow.tables:
// named tables are added or changed, enabled: false removes one, and
// servicenow.Plan applies the exclusions (sys_journal_field skipped or
// narrowed, each table's excluded fields listed for status).
func syncTables(cfg *config.Config) []servicenow.Table {
	tables := servicenow.DefaultTables()
	names := make([]string, 0, len(cfg.ServiceNow.Tables))
	for name := range cfg.ServiceNow.Tables {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		tc := cfg.ServiceNow.Tables[name]
		i := slices.IndexFunc(tables, func(t servicenow.Table) bool { return t.Name == name })
		if i < 0 {
			tables = append(tables, servicenow.Table{Name: name, Field: servicenow.FieldUpdatedOn})
			i = len(tables) - 1
		}
		t := &tables[i]
		if tc.Field != "" {
			t.Field = tc.Field
		}
		if tc.Filter != "" {
			t.Filter = tc.Filter
		}
		if len(tc.Fields) > 0 {
			t.Fields = tc.Fields
		}
	}
	tables = slices.DeleteFunc(tables, func(t servicenow.Table) bool {
		tc, ok := cfg.ServiceNow.Tables[t.Name]
		return ok && tc.Enabled != nil && !*tc.Enabled
	})
	return servicenow.Plan(tables, exclusions(cfg))
}

// exclusions are servicenow.exclude_fields and every table's exclude_fields.
func exclusions(cfg *config.Config) servicenow.Exclusions {
	ex := servicenow.Exclusions{Global: cfg.ServiceNow.ExcludeFields, Tables: map[string][]string{}}
	for name, t := range cfg.ServiceNow.Tables {
		ex.Tables[name] = t.ExcludeFields
	}
	return ex
}

// tableNames are the names of the tables cfg syncs.
func tableNames(cfg *config.Config) []string {
	var names []string
	for _, t := range syncTables(cfg) {
		names = append(names, t.Name)
	}
	return names
}

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
