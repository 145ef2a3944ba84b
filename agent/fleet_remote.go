package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/sei-edge/servicenow-edge/agent/remote"
	"github.com/sei-edge/servicenow-edge/agent/status"
	"github.com/sei-edge/servicenow-edge/relay/wire"
)

// Remote requests to an agent with several instances: one server for the
// agent (one subscription on its request subjects, so one answer), whose
// handlers answer for every instance (status, validate, bundle) or pass a
// request to the instance its "integration" names (preview, resync).

// runRemote answers the cloud's requests until ctx ends.
func (f *fleet) runRemote(ctx context.Context) error {
	srv, err := newRemoteServer(f.cfg, map[string]remote.Handler{
		wire.KindStatus: f.remoteStatus,
		wire.KindValidate: func(ctx context.Context, _ remote.Request) (remote.Result, error) {
			return remote.JSON(validateAll(ctx, f.cfg.File))
		},
		wire.KindPreview: f.toInstance((*Agent).remotePreview),
		wire.KindResync:  f.toInstance((*Agent).remoteResync),
		wire.KindBundle:  f.remoteBundle,
	}, f.log)
	if err != nil {
		return err
	}
	stale, _ := filepath.Glob(filepath.Join(f.cfg.Agent.DataDir, remoteBundlePattern))
	for _, p := range stale {
		os.Remove(p)
	}
	return srv.Run(ctx)
}

// liveSnapshot is the running agent's status as `status --json` shows it.
func (f *fleet) liveSnapshot() *status.Snapshot {
	s := f.Snapshot()
	s.Finalize(thresholds(f.cfg), time.Now())
	return s
}

func (f *fleet) remoteStatus(context.Context, remote.Request) (remote.Result, error) {
	return remote.JSON(f.liveSnapshot())
}

// toInstance passes a request to the instance its "integration" argument
// names; with one instance running it may be left out.
func (f *fleet) toInstance(h func(*Agent, context.Context, remote.Request) (remote.Result, error)) remote.Handler {
	return func(ctx context.Context, req remote.Request) (remote.Result, error) {
		var args struct {
			Integration string `json:"integration"`
		}
		if err := json.Unmarshal(req.Body, &args); err != nil {
			return remote.Result{}, remote.Invalidf("%s request: %v", req.Kind, err)
		}
		m, err := f.member(args.Integration)
		if err != nil {
			return remote.Result{}, err
		}
		return h(m, ctx, req)
	}
}

// member is the running instance named integration; an Invalid error
// lists the instances when it is missing, unknown or stopped.
func (f *fleet) member(integration string) (*Agent, error) {
	names := strings.Join(f.names, ", ")
	if integration == "" {
		if len(f.members) == 1 && f.members[0] != nil {
			return f.members[0], nil
		}
		return nil, remote.Invalidf("integration: required: agent %s has several instances (%s)", f.cfg.Agent.ID, names)
	}
	for i, n := range f.names {
		if n != integration {
			continue
		}
		if f.members[i] == nil {
			return nil, remote.Invalidf("integration %q: this instance of agent %s is not running: %v", integration, f.cfg.Agent.ID, f.stoppedErr(i))
		}
		return f.members[i], nil
	}
	return nil, remote.Invalidf("integration %q: agent %s has no such instance (it has %s)", integration, f.cfg.Agent.ID, names)
}

// remoteBundle writes the support bundle of every instance, as `sei-agent
// bundle` does, scrubbing each instance's stored tokens too.
func (f *fleet) remoteBundle(ctx context.Context, _ remote.Request) (remote.Result, error) {
	tmp, err := os.CreateTemp(f.cfg.Agent.DataDir, remoteBundlePattern)
	if err != nil {
		return remote.Result{}, err
	}
	path := tmp.Name()
	tmp.Close()
	var tokens []string
	for _, m := range f.members {
		if m == nil {
			continue
		}
		if tok, err := (&tokenStore{buf: m.buf}).LoadToken(ctx); err == nil && tok != nil {
			for _, s := range []string{tok.AccessToken, tok.RefreshToken} {
				if s != "" {
					tokens = append(tokens, s)
				}
			}
		}
	}
	if err := writeBundleWith(ctx, f.cfg, path, f.liveSnapshot(), nil, tokens); err != nil {
		os.Remove(path)
		return remote.Result{}, err
	}
	return remote.Result{Content: wire.ContentZip, File: path}, nil
}
