package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/sei-edge/servicenow-edge/relay/api"
	"github.com/sei-edge/servicenow-edge/relay/command"
	"github.com/sei-edge/servicenow-edge/relay/enroll"
	"github.com/sei-edge/servicenow-edge/relay/hosted"
)

// openHosted opens the hosted integrations when hosted.secret_key_file is
// set: a key that cannot be read stops the relay (exit 2) with the key's
// name, so no integration is ever stored unsealed.
func (r *relay) openHosted(ctx context.Context) error {
	h := r.cfg.Hosted
	if !h.Enabled() {
		return nil
	}
	sealer, err := hosted.LoadKey(h.SecretKeyFile)
	if err != nil {
		return command.Usage(err)
	}
	cfg := hosted.Config{
		JS: r.js, Conn: r.nc, Replicas: r.cfg.StreamReplicas(), Sealer: sealer,
		LeaseTTL: h.LeaseTTL.D(), PublicURL: h.PublicURL, CAFile: h.CAFile,
		Store: r.store, Logger: r.log,
	}
	if r.srv != nil {
		cfg.Credentials, cfg.Revoke = r.hostedCredentials, r.hostedRevoke
	}
	if r.hosted, err = hosted.Open(ctx, cfg); err != nil {
		return fmt.Errorf("open hosted integrations: %w", err)
	}
	return nil
}

// hostedCredentials enrolls (again) the pipeline's agent in its tenant's
// account, allowed only its integration, and hands the account JWT to the
// embedded server. Enrolling again replaces the user: a previous holder's
// connection is revoked, which fences a pipeline that lost its lease.
func (r *relay) hostedCredentials(_ context.Context, tenant, integration, agent string) ([]byte, error) {
	reg, err := newRegistry(r.cfg)
	if err != nil {
		return nil, err
	}
	_, creds, tok, err := reg.Enroll(tenant, integration, agent, true)
	if err != nil {
		return nil, err
	}
	if err := r.srv.UpdateAccount(tok); err != nil {
		return nil, fmt.Errorf("apply account of tenant %s: %w", tenant, err)
	}
	return creds, nil
}

// hostedRevoke revokes a deleted integration's pipeline user: its holder
// is disconnected and cannot publish again.
func (r *relay) hostedRevoke(_ context.Context, tenant, agent string) error {
	reg, err := newRegistry(r.cfg)
	if err != nil {
		return err
	}
	tok, err := reg.Revoke(tenant, agent)
	if errors.Is(err, enroll.ErrNotEnrolled) {
		return nil // never polled
	}
	if err != nil {
		return err
	}
	return r.srv.UpdateAccount(tok)
}

// hostedAPI is the API's view of the hosted integrations, nil when off.
func (r *relay) hostedAPI() api.Hosted {
	if r.hosted == nil {
		return nil
	}
	return r.hosted
}
