package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"

	"github.com/sei-edge/servicenow-edge/agent/config"
	"github.com/sei-edge/servicenow-edge/agent/forward"
	"github.com/sei-edge/servicenow-edge/agent/remote"
	"github.com/sei-edge/servicenow-edge/agent/servicenow"
	"github.com/sei-edge/servicenow-edge/agent/status"
	"github.com/sei-edge/servicenow-edge/buffer"
	"github.com/sei-edge/servicenow-edge/relay/command"
	"github.com/sei-edge/servicenow-edge/relay/wire"
)

// Remote requests: the handlers of each kind the cloud may ask (see
// agent/remote), built on the same code as the commands: status --json,
// validate, preview, bundle; resync records a buffer repair, the
// mechanism that already restarts a table at a lower bound.

// Preview limits of a remote request.
const (
	defaultPreviewLimit = 3
	maxPreviewLimit     = 100
)

// remoteServer builds the server that answers the cloud's requests over
// its own connection to the relay, with the agent's credentials.
func (a *Agent) remoteServer() (*remote.Server, error) {
	return newRemoteServer(a.cfg, map[string]remote.Handler{
		wire.KindStatus:   a.remoteStatus,
		wire.KindValidate: a.remoteValidate,
		wire.KindPreview:  a.remotePreview,
		wire.KindResync:   a.remoteResync,
		wire.KindBundle:   a.remoteBundle,
	}, a.log)
}

// newRemoteServer builds the server that answers cfg's agent's requests
// with handlers, over its own connection with the agent's credentials.
func newRemoteServer(cfg *config.Config, handlers map[string]remote.Handler, log zerolog.Logger) (*remote.Server, error) {
	var auth []nats.Option
	cred, err := forward.CredentialOption(cfg.Relay.Credentials)
	if err != nil {
		return nil, err
	}
	if cred != nil {
		auth = append(auth, cred)
	}
	if cfg.Relay.CAFile != "" {
		auth = append(auth, nats.RootCAs(cfg.Relay.CAFile))
	}
	return remote.New(remote.Config{
		URL: cfg.Relay.URL, Auth: auth, Tenant: cfg.Relay.Tenant, Agent: cfg.Agent.ID,
		Allow:    cfg.RemoteRequests.Allow,
		Handlers: handlers,
		Logger:   log.With().Str("component", "remote").Logger(),
	})
}

// runRemote answers the cloud's requests until ctx ends (remote.go).
func (a *Agent) runRemote(ctx context.Context) error {
	srv, err := a.remoteServer()
	if err != nil {
		return err
	}
	// Bundles a stopped run was sending: nothing sends them now.
	stale, _ := filepath.Glob(filepath.Join(a.cfg.Agent.DataDir, remoteBundlePattern))
	for _, f := range stale {
		os.Remove(f)
	}
	return srv.Run(ctx)
}

// liveSnapshot is the running agent's status as `status --json` shows it.
func (a *Agent) liveSnapshot() any {
	s := a.Snapshot()
	s.Agent.Running = true
	if s.Agent.PID == 0 {
		s.Agent.PID = os.Getpid()
	}
	s.Finalize(a.thresholds(), time.Now())
	return s
}

// remoteStatus answers the agent's `status --json` document.
func (a *Agent) remoteStatus(ctx context.Context, _ remote.Request) (remote.Result, error) {
	return remote.JSON(a.liveSnapshot())
}

// remoteValidate answers `validate --json`: one result per check of the
// configuration file the agent runs with.
func (a *Agent) remoteValidate(ctx context.Context, _ remote.Request) (remote.Result, error) {
	return remote.JSON(validateAll(ctx, a.cfg.File))
}

// instanceArg checks a request's integration against the agent's: empty
// means the agent's one instance.
func (a *Agent) instanceArg(integration string) error {
	if integration != "" && integration != a.cfg.Relay.Integration {
		return remote.Invalidf("integration %q: agent %s syncs only integration %q", integration, a.cfg.Agent.ID, a.cfg.Relay.Integration)
	}
	return nil
}

// previewArgs are a preview request's arguments.
type previewArgs struct {
	Integration string `json:"integration"`
	Table       string `json:"table"`
	Limit       int    `json:"limit"`
}

// previewResult is what a preview answers: the records exactly as a poll
// would send them (each the wire record's JSON), after exclusions.
type previewResult struct {
	Integration string            `json:"integration"`
	Table       string            `json:"table"`
	Excluded    []string          `json:"excluded"`
	Records     []json.RawMessage `json:"records"`
}

func (a *Agent) remotePreview(ctx context.Context, req remote.Request) (remote.Result, error) {
	var args previewArgs
	if err := req.Decode(&args); err != nil {
		return remote.Result{}, err
	}
	if err := a.instanceArg(args.Integration); err != nil {
		return remote.Result{}, err
	}
	if args.Limit == 0 {
		args.Limit = defaultPreviewLimit
	}
	if args.Limit < 1 || args.Limit > maxPreviewLimit {
		return remote.Result{}, remote.Invalidf("limit: must be 1..%d (got %d)", maxPreviewLimit, args.Limit)
	}
	if args.Table == "" {
		return remote.Result{}, remote.Invalidf("table: required (synced: %s)", strings.Join(tableNames(a.cfg), ", "))
	}
	// No stored tokens, as `sei-agent preview` while the service runs: a
	// second client refreshing the agent's own OAuth tokens could rotate
	// them under the poller.
	recs, t, err := previewRecords(ctx, a.cfg, nil, args.Table, args.Limit)
	if err != nil {
		if errors.As(err, new(command.UsageError)) {
			return remote.Result{}, remote.Invalid(err)
		}
		return remote.Result{}, err
	}
	raw, err := wire.EncodeNDJSON(recs)
	if err != nil {
		return remote.Result{}, err
	}
	res := previewResult{Integration: a.cfg.Relay.Integration, Table: t.Name, Excluded: t.Exclude, Records: []json.RawMessage{}}
	for _, line := range bytes.Split(bytes.TrimSpace(raw), []byte("\n")) {
		if len(line) > 0 {
			res.Records = append(res.Records, line)
		}
	}
	return remote.JSON(res)
}

// resyncArgs are a resync request's arguments.
type resyncArgs struct {
	Integration string `json:"integration"`
	Table       string `json:"table"`
	From        string `json:"from"`
}

// resyncResult says what the agent will read again.
type resyncResult struct {
	Integration string `json:"integration"`
	Table       string `json:"table"`
	From        string `json:"from"`   // ServiceNow time, UTC
	Repair      uint64 `json:"repair"` // the buffer repair that holds it until read
	Note        string `json:"note"`
}

// remoteResync moves table's start back to from: it records a buffer
// repair of the table from that point, which the poller reads at once
// (the repair wakes it), as part of its regular poll, the table's cursor
// moving back only as the pages are committed; the repair is resolved
// only once the table was read through, so a restart meanwhile resumes
// it. The other tables and the regular schedule go on.
func (a *Agent) remoteResync(ctx context.Context, req remote.Request) (remote.Result, error) {
	var args resyncArgs
	if err := req.Decode(&args); err != nil {
		return remote.Result{}, err
	}
	if err := a.instanceArg(args.Integration); err != nil {
		return remote.Result{}, err
	}
	if !slices.Contains(tableNames(a.cfg), args.Table) {
		return remote.Result{}, remote.Invalidf("table %q: not synced by agent %s (synced: %s)", args.Table, a.cfg.Agent.ID, strings.Join(tableNames(a.cfg), ", "))
	}
	from, err := parseResyncFrom(args.From, time.Now())
	if err != nil {
		return remote.Result{}, err
	}
	c := servicenow.CursorAt(from)
	raw, err := json.Marshal(c)
	if err != nil {
		return remote.Result{}, err
	}
	upto, _ := json.Marshal(servicenow.CursorAt(time.Now())) // for status and validate; the read goes on to each run's own end
	a.log.Info().Str("table", args.Table).Str("from", c.Time).Str("asker", req.Asker).Str("request", req.ID).
		Msg("remote resync: the table is read again from this point, recorded as a buffer repair")
	// Asked for, not damage found: the buffer logs it as such.
	r, err := a.buf.AddRequestedRepair(ctx, buffer.Repair{
		Range:  buffer.Range{Table: args.Table, From: string(raw), To: string(upto)},
		Reason: fmt.Sprintf("%s%s from %s, asked by %s (request %s)", resyncReason, args.Table, c.Time, req.Asker, req.ID),
	})
	if err != nil {
		return remote.Result{}, fmt.Errorf("record resync of %s: %w", args.Table, err)
	}
	return remote.JSON(resyncResult{Integration: a.cfg.Relay.Integration, Table: args.Table, From: c.Time, Repair: r.ID,
		Note: fmt.Sprintf("%s is read again from %s now, beside the regular polls; status lists it in resync_tables until it is read through", args.Table, c.Time)})
}

// resyncReason starts the reason of every repair a remote resync records,
// which is how status tells them from damage.
const resyncReason = "remote resync of "

// resyncSection moves the pending repairs remote resyncs recorded out of
// the buffer's pending damage (which makes the verdict DEGRADED) into
// ResyncTables: the cloud asked for them.
func resyncSection(b *status.Buffer, pending []buffer.Repair) {
	damaged := map[string]bool{}
	for _, r := range pending {
		if strings.HasPrefix(r.Reason, resyncReason) {
			b.RepairsPending--
			if !slices.Contains(b.ResyncTables, r.Range.Table) {
				b.ResyncTables = append(b.ResyncTables, r.Range.Table)
			}
			continue
		}
		damaged[r.Range.Table] = true
	}
	b.RepairTables = slices.DeleteFunc(b.RepairTables, func(t string) bool { return !damaged[t] })
	if len(b.RepairTables) == 0 {
		b.RepairTables = nil
	}
}

// parseResyncFrom reads a resync's from: RFC 3339, ServiceNow's
// "2006-01-02 15:04:05" (UTC) or a date; not in the future.
func parseResyncFrom(s string, now time.Time) (time.Time, error) {
	for _, layout := range []string{time.RFC3339, wire.TimeLayout, time.DateOnly} {
		if t, err := time.ParseInLocation(layout, s, time.UTC); err == nil {
			if t.After(now) {
				return time.Time{}, remote.Invalidf("from: %s is in the future", s)
			}
			return t.UTC(), nil
		}
	}
	return time.Time{}, remote.Invalidf("from: want a time such as 2026-01-02T15:04:05Z, \"2026-01-02 15:04:05\" or 2026-01-02 (got %q)", s)
}

// remoteBundlePattern names the bundle files being sent, in agent.data_dir.
const remoteBundlePattern = ".remote-bundle-*.zip"

// remoteBundle writes the support bundle, as `sei-agent bundle` does, into
// a temporary file the remote server sends and then removes.
func (a *Agent) remoteBundle(ctx context.Context, _ remote.Request) (remote.Result, error) {
	f, err := os.CreateTemp(a.cfg.Agent.DataDir, remoteBundlePattern)
	if err != nil {
		return remote.Result{}, fmt.Errorf("create bundle file in agent.data_dir: %w", err)
	}
	path := f.Name()
	f.Close()
	snap := a.Snapshot()
	snap.Agent.Running = true
	snap.Finalize(a.thresholds(), time.Now())
	if err := writeBundle(ctx, a.cfg, path, snap, a.buf); err != nil {
		os.Remove(path)
		return remote.Result{}, err
	}
	return remote.Result{Content: wire.ContentZip, File: path}, nil
}
