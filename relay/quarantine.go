package main

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

	"github.com/sei-edge/servicenow-edge/relay/ingest"
	"github.com/sei-edge/servicenow-edge/relay/store"
)

// Subjects on which a running relay answers `sei-relay quarantine`. Agents
// cannot reach them (their permissions allow nothing under sei.relay); in
// external mode any relay replica answers (queue group).
const (
	quarantineListSubject   = "sei.relay.admin.quarantine.list"
	quarantineReplaySubject = "sei.relay.admin.quarantine.replay"
	// registryReloadSubject asks the embedded server to load the agent
	// registry now, so `enroll` and `revoke` take effect before they return.
	registryReloadSubject = "sei.relay.admin.registry.reload"
	adminQueue            = "sei-relay-admin"
)

// quarantineReply is the answer to a quarantine request.
type quarantineReply struct {
	Error   string              `json:"error,omitempty"`
	Batches []store.Quarantined `json:"batches,omitempty"`
}

// quarantineService answers quarantine requests from the CLI: it lists the
// store's quarantined batches, and replays one (republishes it to its
// subject, then releases it from the quarantine).
type quarantineService struct {
	nc    *nats.Conn
	js    jetstream.JetStream
	store store.Store
	log   zerolog.Logger
	// reload loads the agent registry into the embedded server; nil in
	// external mode, where agents are the cluster's business.
	reload func() error
}

// Run subscribes until ctx ends. Handlers run on the subscriptions'
// goroutines, which end with the unsubscribe before Run returns.
func (q *quarantineService) Run(ctx context.Context) error {
	var (
		subs []*nats.Subscription
		wg   sync.WaitGroup
		mu   sync.Mutex // guards closed and wg.Add
		done bool
	)
	defer func() {
		for _, s := range subs {
			_ = s.Unsubscribe()
		}
		mu.Lock()
		done = true
		mu.Unlock()
		wg.Wait() // a handler that already started
	}()
	for subj, h := range map[string]func(context.Context, *nats.Msg) quarantineReply{
		quarantineListSubject:   q.list,
		quarantineReplaySubject: q.replay,
		registryReloadSubject:   q.reloadRegistry,
	} {
		s, err := q.nc.QueueSubscribe(subj, adminQueue, func(m *nats.Msg) {
			mu.Lock()
			if done {
				mu.Unlock()
				return
			}
			wg.Add(1)
			mu.Unlock()
			defer wg.Done()
			rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			raw, _ := json.Marshal(h(rctx, m))
			if err := m.Respond(raw); err != nil {
				q.log.Warn().Err(err).Msg("answer quarantine request")
			}
		})
		if err != nil {
			return fmt.Errorf("subscribe %s: %w", subj, err)
		}
		subs = append(subs, s)
	}
	<-ctx.Done()
	return nil
}

// reloadRegistry answers `enroll` and `revoke`: the embedded server takes
// the registry's new and revoked agents now instead of at its next poll.
func (q *quarantineService) reloadRegistry(context.Context, *nats.Msg) quarantineReply {
	if q.reload == nil {
		return quarantineReply{Error: "no embedded NATS server: agents are managed by the external cluster"}
	}
	if err := q.reload(); err != nil {
		return quarantineReply{Error: err.Error()}
	}
	return quarantineReply{}
}

func (q *quarantineService) list(ctx context.Context, _ *nats.Msg) quarantineReply {
	batches, err := q.store.Quarantined(ctx)
	if err != nil {
		return quarantineReply{Error: fmt.Sprintf("list quarantine: %v", err)}
	}
	return quarantineReply{Batches: batches}
}

func (q *quarantineService) replay(ctx context.Context, m *nats.Msg) quarantineReply {
	id := string(m.Data)
	batches, err := q.store.Quarantined(ctx)
	if err != nil {
		return quarantineReply{Error: fmt.Sprintf("list quarantine: %v", err)}
	}
	for _, b := range batches {
		if b.ID != id {
			continue
		}
		if err := ingest.Replay(ctx, q.js, b); err != nil {
			return quarantineReply{Error: fmt.Sprintf("replay %s: %v", id, err)}
		}
		if err := q.store.Release(ctx, id); err != nil {
			return quarantineReply{Error: fmt.Sprintf("release %s (replayed): %v", id, err)}
		}
		q.log.Info().Str("batch", id).Str("subject", b.Subject).Msg("quarantined batch replayed")
		return quarantineReply{Batches: []store.Quarantined{b}}
	}
	return quarantineReply{Error: fmt.Sprintf("replay %s: no quarantined batch with this id", id)}
}

// requestQuarantine sends one quarantine request to the running relay.
func requestQuarantine(ctx context.Context, nc *nats.Conn, subject string, data []byte) (quarantineReply, error) {
	var r quarantineReply
	m, err := nc.RequestWithContext(ctx, subject, data)
	if errors.Is(err, nats.ErrNoResponders) {
		return r, fmt.Errorf("no relay answers on %s: is sei-relay run going?", subject)
	}
	if err != nil {
		return r, fmt.Errorf("request %s: %w", subject, err)
	}
	if err := json.Unmarshal(m.Data, &r); err != nil {
		return r, fmt.Errorf("decode quarantine reply: %w", err)
	}
	if r.Error != "" {
		return r, errors.New(r.Error)
	}
	return r, nil
}
