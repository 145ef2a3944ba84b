package hosted

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/sei-edge/servicenow-edge/relay/wire"
)

// DefaultLeaseTTL is the lease period of hosted agents: an integration whose
// agent died moves to another within it.
const DefaultLeaseTTL = 30 * time.Second

// ValidateTimeout bounds a validate request to the hosted agents.
const ValidateTimeout = 90 * time.Second

// ErrNoHostedAgent is a validate with no hosted agent to run it.
var ErrNoHostedAgent = errors.New("no hosted agent is running (start `sei-agent hosted`)")

// Credentials makes the NATS credentials a pipeline publishes with: a user
// of tenant's account allowed integration only, under agent. It returns nil
// when the relay runs without tenant accounts.
type Credentials func(ctx context.Context, tenant, integration, agent string) ([]byte, error)

// Service answers the hosted agents on NATS and asks them to validate.
type Service struct {
	nc     *nats.Conn
	reg    *Registry
	leases jetstream.KeyValue
	creds  Credentials
	log    zerolog.Logger
}

// OpenLeases creates or opens the leases bucket with its TTL, the lease
// period.
func OpenLeases(ctx context.Context, js jetstream.JetStream, replicas int, ttl time.Duration) (jetstream.KeyValue, error) {
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket: wire.HostedLeasesBucket, Description: "sei-agent hosted leases",
		History: 1, TTL: ttl, Replicas: replicas, Storage: jetstream.FileStorage,
	})
	if err != nil {
		return nil, fmt.Errorf("open bucket %s: %w", wire.HostedLeasesBucket, err)
	}
	return kv, nil
}

// Run answers list, open and report (queue group wire.HostedQueue) until
// ctx ends.
func (s *Service) Run(ctx context.Context) error {
	msgs := make(chan *nats.Msg, 64)
	var subs []*nats.Subscription
	defer func() {
		for _, sub := range subs {
			_ = sub.Unsubscribe()
		}
	}()
	for _, subj := range []string{wire.HostedListSubject, wire.HostedOpenSubject, wire.HostedReportSubject} {
		sub, err := s.nc.ChanQueueSubscribe(subj, wire.HostedQueue, msgs)
		if err != nil {
			return fmt.Errorf("subscribe %s: %w", subj, err)
		}
		subs = append(subs, sub)
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		select {
		case <-ctx.Done():
			return nil
		case m := <-msgs:
			wg.Go(func() { s.answer(ctx, m) })
		}
	}
}

func (s *Service) answer(ctx context.Context, m *nats.Msg) {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	var reply any
	switch m.Subject {
	case wire.HostedListSubject:
		reply = s.list(ctx)
	case wire.HostedOpenSubject:
		reply = s.open(ctx, m.Data)
	case wire.HostedReportSubject:
		reply = s.report(ctx, m.Data)
	}
	raw, err := json.Marshal(reply)
	if err == nil {
		err = m.Respond(raw)
	}
	if err != nil {
		s.log.Warn().Err(err).Str("subject", m.Subject).Msg("answer hosted agent")
	}
}

// list answers the runnable integrations with their settings revision.
func (s *Service) list(ctx context.Context) wire.HostedListReply {
	all, err := s.reg.List(ctx, "")
	if err != nil {
		s.log.Error().Err(err).Msg("list hosted integrations")
		return wire.HostedListReply{Error: "list integrations: registry unavailable"}
	}
	out := wire.HostedListReply{Integrations: []wire.HostedListItem{}}
	for _, in := range all {
		if in.Runnable() {
			out.Integrations = append(out.Integrations, wire.HostedListItem{ID: in.ID, Revision: in.Settings})
		}
	}
	return out
}

// open answers a lease holder with its integration's pipeline. Only the
// agent the lease names gets it.
func (s *Service) open(ctx context.Context, body []byte) wire.HostedPipeline {
	var req wire.HostedOpenRequest
	if err := json.Unmarshal(body, &req); err != nil {
		return wire.HostedPipeline{Error: "decode open request: " + err.Error()}
	}
	holder, err := s.holder(ctx, req.Integration)
	if err != nil {
		return wire.HostedPipeline{Error: err.Error()}
	}
	if holder != req.Holder || holder == "" {
		return wire.HostedPipeline{Error: fmt.Sprintf("integration %s: %s does not hold its lease", req.Integration, req.Holder)}
	}
	in, err := s.reg.Get(ctx, req.Integration)
	if err != nil {
		return wire.HostedPipeline{Error: err.Error()}
	}
	if !in.Runnable() {
		st, why := in.State()
		return wire.HostedPipeline{Error: fmt.Sprintf("integration %s is %s: %s", in.ID, st, why)}
	}
	p, err := s.reg.Pipeline(in)
	if err != nil {
		s.log.Error().Err(err).Str("integration", in.ID).Msg("open hosted integration")
		return wire.HostedPipeline{Error: err.Error()}
	}
	if s.creds != nil {
		if p.Credentials, err = s.creds(ctx, in.Tenant, in.Name, p.Agent); err != nil {
			s.log.Error().Err(err).Str("integration", in.ID).Msg("make hosted pipeline credentials")
			return wire.HostedPipeline{Error: "make NATS credentials for " + in.ID + ": " + err.Error()}
		}
	}
	s.log.Info().Str("integration", in.ID).Str("holder", holder).Msg("hosted integration handed to its lease holder")
	return p
}

// holder returns who holds id's lease, "" for no one.
func (s *Service) holder(ctx context.Context, id string) (string, error) {
	e, err := s.leases.Get(ctx, wire.HostedLeaseKey(id))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read lease of %s: %w", id, err)
	}
	var l wire.HostedLease
	if err := json.Unmarshal(e.Value(), &l); err != nil {
		return "", fmt.Errorf("decode lease of %s: %w", id, err)
	}
	return l.Holder, nil
}

// report marks an integration whose OAuth authorization ServiceNow refused
// FAILING: "reconnect ServiceNow".
func (s *Service) report(ctx context.Context, body []byte) wire.HostedListReply {
	var rep wire.HostedReport
	if err := json.Unmarshal(body, &rep); err != nil {
		return wire.HostedListReply{Error: "decode report: " + err.Error()}
	}
	if !rep.Reconnect {
		return wire.HostedListReply{}
	}
	reason := ReconnectReason + ": " + rep.Detail
	if err := s.reg.SetFailing(ctx, rep.Integration, rep.Revision, reason); err != nil {
		return wire.HostedListReply{Error: err.Error()}
	}
	s.log.Warn().Str("integration", rep.Integration).Str("holder", rep.Holder).Str("reason", reason).Msg("hosted integration FAILING")
	return wire.HostedListReply{}
}

// Validate asks one hosted agent to run the preflight checks of p.
func (s *Service) Validate(ctx context.Context, p wire.HostedPipeline) (wire.HostedValidateReply, error) {
	raw, err := json.Marshal(p)
	if err != nil {
		return wire.HostedValidateReply{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, ValidateTimeout)
	defer cancel()
	m, err := s.nc.RequestWithContext(ctx, wire.HostedValidateSubject, raw)
	if errors.Is(err, nats.ErrNoResponders) {
		return wire.HostedValidateReply{}, ErrNoHostedAgent
	}
	if err != nil {
		return wire.HostedValidateReply{}, fmt.Errorf("ask a hosted agent to validate %s: %w", p.ID, err)
	}
	var rep wire.HostedValidateReply
	if err := json.Unmarshal(m.Data, &rep); err != nil {
		return rep, fmt.Errorf("decode validate answer: %w", err)
	}
	if rep.Error != "" {
		return rep, fmt.Errorf("hosted agent %s: %s", rep.Agent, rep.Error)
	}
	return rep, nil
}

// Holders returns, by hosted agent, the integrations it holds, and every
// hosted agent present (holding nothing or not).
func (s *Service) Holders(ctx context.Context) (map[string][]string, error) {
	lister, err := s.leases.ListKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("list leases: %w", err)
	}
	defer lister.Stop()
	out := map[string][]string{}
	for key := range lister.Keys() {
		e, err := s.leases.Get(ctx, key)
		if err != nil {
			continue // expired meanwhile
		}
		switch {
		case len(key) > len("lease.") && key[:len("lease.")] == "lease.":
			var l wire.HostedLease
			if json.Unmarshal(e.Value(), &l) == nil && l.Holder != "" {
				out[l.Holder] = append(out[l.Holder], key[len("lease."):])
			}
		case len(key) > len("agent.") && key[:len("agent.")] == "agent.":
			if _, ok := out[key[len("agent."):]]; !ok {
				out[key[len("agent."):]] = []string{}
			}
		}
	}
	return out, nil
}
