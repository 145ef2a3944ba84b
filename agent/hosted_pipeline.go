package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/sync/errgroup"

	"github.com/sei-edge/servicenow-edge/agent/config"
	"github.com/sei-edge/servicenow-edge/agent/status"
	"github.com/sei-edge/servicenow-edge/relay/atomicfile"
	"github.com/sei-edge/servicenow-edge/relay/wire"
)

// pipelineDir is where integration id keeps its buffer and cursors on
// this hosted agent: integrations/<id>, or integrations/h-<hash of id>
// when the admin socket's path would not fit in sun_path.
func (h *hostedAgent) pipelineDir(id string) string {
	return pipelineDir(h.cfg.Hosted.DataDir, id)
}

// socketRoom is what the admin socket adds to a pipeline folder's path
// ("/.sei-agent.sock.<pid>"); maxSocketPath is sun_path's portable limit.
const (
	socketRoom    = len("/.sei-agent.sock.") + 7
	maxSocketPath = 103
)

func pipelineDir(base, id string) string {
	dir := filepath.Join(base, "integrations", id)
	if len(dir)+socketRoom <= maxSocketPath {
		return dir
	}
	sum := sha256.Sum256([]byte(id))
	return filepath.Join(base, "integrations", "h-"+hex.EncodeToString(sum[:8]))
}

// pipelineConfig builds the agent configuration of one hosted integration,
// as an on-prem admin would write it, and checks it on the same path as a
// file (config.Validate, then what the client refuses). credsFile is where
// the pipeline's NATS credentials are; "" uses the hosted agent's own.
func (h *hostedAgent) pipelineConfig(p wire.HostedPipeline, dataDir, credsFile string) (*config.Config, error) {
	c := config.Default()
	c.File = h.cfg.File
	c.Agent.ID = p.Agent
	c.Agent.DataDir = dataDir
	sn := &c.ServiceNow
	sn.URL, sn.Type, sn.CAFile = p.URL, "cloud", h.cfg.Hosted.CAFile
	sn.Auth.Method, sn.Auth.Grant, sn.Auth.Username = p.Auth.Method, p.Auth.Grant, p.Auth.Username
	sn.Auth.Password, sn.Auth.ClientID, sn.Auth.ClientSecret = config.Secret(p.Auth.Password), p.Auth.ClientID, config.Secret(p.Auth.ClientSecret)
	sn.ExcludeFields = p.ExcludeFields
	if p.Interval != "" {
		d, err := time.ParseDuration(p.Interval)
		if err != nil {
			return nil, fmt.Errorf("integration %s interval: %w", p.ID, err)
		}
		sn.Interval = config.Duration(d)
	}
	if len(p.Tables) > 0 {
		sn.Tables = map[string]config.TableConfig{}
		for name, t := range p.Tables {
			sn.Tables[name] = config.TableConfig{Enabled: t.Enabled, ExcludeFields: t.ExcludeFields}
		}
	}
	if credsFile == "" {
		credsFile = h.cfg.Relay.Credentials
	}
	c.Relay = config.Relay{URL: h.cfg.Relay.URL, Credentials: credsFile, CAFile: h.cfg.Relay.CAFile, Tenant: p.Tenant, Integration: p.Name}
	c.Log = h.cfg.Log
	err := c.Validate()
	if err == nil {
		err = clientProblems(&c)
	}
	if err != nil {
		return &c, fmt.Errorf("integration %s: %w", p.ID, err)
	}
	return &c, nil
}

// runPipeline polls and forwards integration id, exactly as `sei-agent
// run` does with the configuration built for it, until ctx ends.
func (h *hostedAgent) runPipeline(ctx context.Context, id string, _ uint64) error {
	p, err := h.open(ctx, id)
	if err != nil {
		return err
	}
	dir := h.pipelineDir(id)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	creds := ""
	if len(p.Credentials) > 0 {
		creds = filepath.Join(dir, "relay.creds")
		if err := writePrivate(creds, p.Credentials); err != nil {
			return err
		}
	}
	cfg, err := h.pipelineConfig(p, dir, creds)
	if err != nil {
		return err
	}
	log := h.log.With().Str("integration", id).Logger()
	a, err := openPipelineAgent(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer a.Close()
	hostedBuffersOpened(1)
	defer hostedBuffersOpened(-1)
	if err := seedToken(ctx, &tokenStore{buf: a.buf}, p.Auth.Token); err != nil {
		return err
	}
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return a.Run(gctx) })
	g.Go(func() error { return h.watchAuth(gctx, a, p) })
	return g.Wait()
}

// seedToken stores the relay's OAuth tokens in the pipeline's state unless
// it already holds that refresh token (and maybe a fresher access token).
func seedToken(ctx context.Context, ts *tokenStore, t *wire.HostedToken) error {
	if t == nil {
		return nil
	}
	if old, err := ts.LoadToken(ctx); err == nil && old != nil && old.RefreshToken == t.RefreshToken {
		return nil
	}
	return ts.SaveToken(ctx, &oauth2.Token{AccessToken: t.AccessToken, RefreshToken: t.RefreshToken, TokenType: "Bearer", Expiry: t.Expiry})
}

// authCheckInterval is how often a pipeline's status is read for an OAuth
// authorization ServiceNow refused.
const authCheckInterval = 2 * time.Second

// watchAuth tells the relay once when ServiceNow refuses the pipeline's
// OAuth authorization (an expired or revoked refresh token): an admin must
// connect it again, and the relay marks it FAILING with "reconnect
// ServiceNow".
func (h *hostedAgent) watchAuth(ctx context.Context, a *Agent, p wire.HostedPipeline) error {
	if p.Auth.Method != "oauth" || p.Auth.Grant != "authorization_code" {
		return nil
	}
	tick := time.NewTicker(authCheckInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		msg := refusedAuthorization(a.Snapshot().ServiceNow)
		if msg == "" {
			continue
		}
		h.log.Warn().Str("integration", p.ID).Str("err", msg).Msg("ServiceNow refused the OAuth authorization: reconnect needed")
		rep := wire.HostedReport{Integration: p.ID, Holder: h.cfg.Hosted.Name, Revision: p.Revision, Reconnect: true, Detail: msg}
		if err := h.request(ctx, wire.HostedReportSubject, rep, &wire.HostedListReply{}); err != nil {
			h.log.Warn().Err(err).Str("integration", p.ID).Msg("report to the relay (will retry)")
			continue
		}
		return nil // the relay stops listing it: the supervisor stops this pipeline
	}
}

// refusedAuthorization returns why ServiceNow refused the pipeline's OAuth
// authorization (its refresh token expired or was revoked), "" when it did
// not: the poller reports it as the cycle's auth error or as each table's
// last error.
func refusedAuthorization(sn status.ServiceNow) string {
	errs := []string{sn.AuthError}
	for _, t := range sn.Tables {
		errs = append(errs, t.LastError)
	}
	for _, e := range errs {
		switch {
		case strings.Contains(e, "refresh token was refused"):
			return "the refresh token was refused (expired or revoked)"
		case strings.Contains(e, "no valid OAuth token"):
			return "no valid OAuth token"
		}
	}
	return ""
}

// memTokens lends validate the relay's OAuth tokens without touching a
// pipeline's state.
type memTokens struct {
	mu  sync.Mutex
	tok *oauth2.Token
}

func (m *memTokens) LoadToken(context.Context) (*oauth2.Token, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.tok, nil
}

func (m *memTokens) SaveToken(_ context.Context, t *oauth2.Token) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.tok = t
	return nil
}

// validatePipeline runs `sei-agent validate`'s configuration and
// ServiceNow checks for p, in a scratch folder, with the relay's tokens.
func (h *hostedAgent) validatePipeline(ctx context.Context, p wire.HostedPipeline) []check {
	scratch, err := os.MkdirTemp(h.cfg.Hosted.DataDir, ".validate-")
	if err != nil {
		return []check{{"data_dir", false, fmt.Sprintf("hosted.data_dir %s: %v", h.cfg.Hosted.DataDir, err)}}
	}
	defer os.RemoveAll(scratch)
	cfg, err := h.pipelineConfig(p, scratch, "")
	if err != nil {
		return []check{{"config", false, err.Error()}}
	}
	checks := []check{{"config", true, "integration " + p.ID + " of tenant " + p.Tenant}}
	var tokens *memTokens
	if t := p.Auth.Token; t != nil {
		tokens = &memTokens{tok: &oauth2.Token{AccessToken: t.AccessToken, RefreshToken: t.RefreshToken, TokenType: "Bearer", Expiry: t.Expiry}}
	} else if p.Auth.Grant == "authorization_code" {
		return append(checks, check{"servicenow auth", false, "not connected yet: press Connect ServiceNow (GET /v1/integrations/" + p.ID + "/oauth/start)"})
	}
	if tokens == nil {
		return append(checks, checkServiceNowWith(ctx, cfg, nil)...)
	}
	return append(checks, checkServiceNowWith(ctx, cfg, tokens)...)
}

// writePrivate writes a secret file readable by this user only.
func writePrivate(path string, data []byte) error {
	if err := atomicfile.Write(path, data, 0o600); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
