package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
	"golang.org/x/sync/errgroup"

	"github.com/sei-edge/servicenow-edge/agent/config"
	"github.com/sei-edge/servicenow-edge/agent/forward"
	"github.com/sei-edge/servicenow-edge/agent/hosted"
	"github.com/sei-edge/servicenow-edge/relay/command"
	"github.com/sei-edge/servicenow-edge/relay/secret"
	"github.com/sei-edge/servicenow-edge/relay/wire"
)

// requestTimeout bounds a request to the relay (list, open, report).
const requestTimeout = 20 * time.Second

// cmdHosted runs `sei-agent hosted -c FILE`: it shares the relay's hosted
// integrations with the other hosted agents through leases and polls the
// ones it holds, each exactly as `sei-agent run` would with its own
// configuration and data folder.
func cmdHosted(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, path := flags("hosted", stdout)
	if err := command.ParseFlagsOnly(fs, args); err != nil {
		return err
	}
	cfg, err := loadHostedConfig(*path)
	if err != nil {
		return err
	}
	log, closer, err := newLogger(&config.Config{Log: cfg.Log, Agent: config.Agent{DataDir: cfg.Hosted.DataDir}}, stderr, false)
	if err != nil {
		return err
	}
	defer closer.Close()
	log = log.With().Str("hosted", cfg.Hosted.Name).Logger()
	h := &hostedAgent{cfg: cfg, log: log}
	if err := h.run(ctx); err != nil {
		log.Error().Err(err).Msg("hosted agent stopped")
		return err
	}
	log.Info().Msg("hosted agent stopped")
	return nil
}

// hostedAgent is one `sei-agent hosted` process.
type hostedAgent struct {
	cfg *hostedConfig
	log zerolog.Logger
	nc  *nats.Conn
}

// run connects to the relay and runs the lease supervisor and the validate
// responder until ctx ends.
func (h *hostedAgent) run(ctx context.Context) error {
	if err := h.connect(); err != nil {
		return err
	}
	defer h.nc.Close()
	js, err := jetstream.New(h.nc)
	if err != nil {
		return fmt.Errorf("open jetstream: %w", err)
	}
	leases, err := hosted.OpenLeases(ctx, js, h.cfg.Hosted.Name)
	if err != nil {
		return err
	}
	sup := hosted.New(hosted.Config{Leases: leases, List: h.list, Run: h.runPipeline, Version: version,
		Logger: h.log.With().Str("component", "leases").Logger()})
	h.log.Info().Str("relay", secret.RedactURL(h.cfg.Relay.URL)).Dur("lease", leases.TTL()).Str("version", version).Msg("hosted agent started")
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return sup.Run(gctx) })
	g.Go(func() error { return h.serveValidate(gctx) })
	return g.Wait()
}

// connect dials the relay as the hosted role.
func (h *hostedAgent) connect() error {
	opts := []nats.Option{
		nats.Name("sei-agent hosted " + h.cfg.Hosted.Name),
		nats.MaxReconnects(-1),
		nats.CustomInboxPrefix(wire.HostedInboxPrefix + "." + h.cfg.Hosted.Name),
	}
	if h.cfg.Relay.CAFile != "" {
		opts = append(opts, nats.RootCAs(h.cfg.Relay.CAFile))
	}
	cred, err := forward.CredentialOption(h.cfg.Relay.Credentials)
	if err != nil {
		return command.Usage(err)
	}
	opts = append(opts, cred)
	if h.nc, err = nats.Connect(h.cfg.Relay.URL, opts...); err != nil {
		return fmt.Errorf("connect to relay %s: %w", secret.RedactURL(h.cfg.Relay.URL), err)
	}
	return nil
}

// request sends req as JSON on subject and decodes the answer into reply.
func (h *hostedAgent) request(ctx context.Context, subject string, req, reply any) error {
	raw, err := json.Marshal(req)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	m, err := h.nc.RequestWithContext(ctx, subject, raw)
	if errors.Is(err, nats.ErrNoResponders) {
		return fmt.Errorf("ask %s: no relay with hosted integrations answers (hosted.secret_key_file)", subject)
	}
	if err != nil {
		return fmt.Errorf("ask %s: %w", subject, err)
	}
	if err := json.Unmarshal(m.Data, reply); err != nil {
		return fmt.Errorf("decode answer of %s: %w", subject, err)
	}
	return nil
}

// list asks the relay which integrations to poll.
func (h *hostedAgent) list(ctx context.Context) ([]wire.HostedListItem, error) {
	var rep wire.HostedListReply
	if err := h.request(ctx, wire.HostedListSubject, struct{}{}, &rep); err != nil {
		return nil, err
	}
	if rep.Error != "" {
		return nil, errors.New(rep.Error)
	}
	return rep.Integrations, nil
}

// open asks the relay for the pipeline of an integration whose lease this
// agent holds.
func (h *hostedAgent) open(ctx context.Context, id string) (wire.HostedPipeline, error) {
	var p wire.HostedPipeline
	if err := h.request(ctx, wire.HostedOpenSubject, wire.HostedOpenRequest{Integration: id, Holder: h.cfg.Hosted.Name}, &p); err != nil {
		return p, err
	}
	if p.Error != "" {
		return p, fmt.Errorf("open %s: %s", id, p.Error)
	}
	return p, nil
}

// serveValidate runs the relay's validate requests (queue group: one
// hosted agent answers each) until ctx ends.
func (h *hostedAgent) serveValidate(ctx context.Context) error {
	msgs := make(chan *nats.Msg, 16)
	sub, err := h.nc.ChanQueueSubscribe(wire.HostedValidateSubject, wire.HostedQueue, msgs)
	if err != nil {
		return fmt.Errorf("subscribe %s: %w", wire.HostedValidateSubject, err)
	}
	defer sub.Unsubscribe()
	for {
		select {
		case <-ctx.Done():
			return nil
		case m := <-msgs:
			h.answerValidate(ctx, m)
		}
	}
}

func (h *hostedAgent) answerValidate(ctx context.Context, m *nats.Msg) {
	rep := wire.HostedValidateReply{Agent: h.cfg.Hosted.Name}
	var p wire.HostedPipeline
	if err := json.Unmarshal(m.Data, &p); err != nil {
		rep.Error = "decode validate request: " + err.Error()
	} else {
		for _, c := range h.validatePipeline(ctx, p) {
			rep.Checks = append(rep.Checks, wire.HostedCheck{Check: c.Name, OK: c.OK, Detail: c.Detail})
		}
		h.log.Info().Str("integration", p.ID).Int("checks", len(rep.Checks)).Msg("validated for the relay")
	}
	raw, _ := json.Marshal(rep)
	if err := m.Respond(raw); err != nil {
		h.log.Warn().Err(err).Msg("answer validate")
	}
}
