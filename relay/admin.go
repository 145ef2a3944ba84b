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

// Subjects on which a running relay answers the CLI: `sei-relay quarantine`,
// and `enroll` and `revoke` handing over a tenant's account JWT. They live
// in the relay's account, which no tenant account imports them from, so no
// agent can reach them; in external mode any relay replica answers (queue
// group).
const (
	quarantineListSubject   = "sei.relay.admin.quarantine.list"
	quarantineReplaySubject = "sei.relay.admin.quarantine.replay"
	// accountUpdateSubject hands the embedded server a tenant's new
	// account JWT (the request's body), so `enroll` and `revoke` take
	// effect before they return.
	accountUpdateSubject = "sei.relay.admin.account.update"
	adminQueue           = "sei-relay-admin"
)

// adminReply is the answer to an admin request.
type adminReply struct {
	Error   string              `json:"error,omitempty"`
	Batches []store.Quarantined `json:"batches,omitempty"`
}

// adminService answers the CLI's requests: it lists the store's
// quarantined batches, replays one (republishes it to its subject, then
// releases it from the quarantine), and reloads the agent registry.
type adminService struct {
	nc    *nats.Conn
	js    jetstream.JetStream
	store store.Store
	log   zerolog.Logger
	// updateAccount applies a tenant's account JWT to the embedded server;
	// nil in external mode, where the cluster's resolver holds accounts.
	updateAccount func(jwt string) error
}

// Run subscribes until ctx ends. Handlers run on the subscriptions'
// goroutines, which end with the unsubscribe before Run returns.
func (a *adminService) Run(ctx context.Context) error {
	var (
		subs []*nats.Subscription
		wg   sync.WaitGroup
		mu   sync.Mutex // guards done and wg.Add
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
	for subj, h := range map[string]func(context.Context, *nats.Msg) adminReply{
		quarantineListSubject:   a.list,
		quarantineReplaySubject: a.replay,
		accountUpdateSubject:    a.accountUpdate,
	} {
		s, err := a.nc.QueueSubscribe(subj, adminQueue, func(m *nats.Msg) {
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
				a.log.Warn().Err(err).Msg("answer admin request")
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

// accountUpdate answers `enroll` and `revoke`: the embedded server applies
// the tenant's new account JWT (checked to be signed by its operator).
func (a *adminService) accountUpdate(_ context.Context, m *nats.Msg) adminReply {
	if a.updateAccount == nil {
		return adminReply{Error: "no embedded NATS server: accounts are managed by the external cluster"}
	}
	if err := a.updateAccount(string(m.Data)); err != nil {
		return adminReply{Error: err.Error()}
	}
	return adminReply{}
}

func (a *adminService) list(ctx context.Context, _ *nats.Msg) adminReply {
	batches, err := a.store.Quarantined(ctx)
	if err != nil {
		return adminReply{Error: fmt.Sprintf("list quarantine: %v", err)}
	}
	return adminReply{Batches: batches}
}

func (a *adminService) replay(ctx context.Context, m *nats.Msg) adminReply {
	id := string(m.Data)
	batches, err := a.store.Quarantined(ctx)
	if err != nil {
		return adminReply{Error: fmt.Sprintf("list quarantine: %v", err)}
	}
	for _, b := range batches {
		if b.ID != id {
			continue
		}
		if err := ingest.Replay(ctx, a.js, b); err != nil {
			return adminReply{Error: fmt.Sprintf("replay %s: %v", id, err)}
		}
		if err := a.store.Release(ctx, id); err != nil {
			return adminReply{Error: fmt.Sprintf("release %s (replayed): %v", id, err)}
		}
		a.log.Info().Str("batch", id).Str("subject", b.Subject).Msg("quarantined batch replayed")
		return adminReply{Batches: []store.Quarantined{b}}
	}
	return adminReply{Error: fmt.Sprintf("replay %s: no quarantined batch with this id", id)}
}

// adminRequest sends one admin request to the running relay.
func adminRequest(ctx context.Context, nc *nats.Conn, subject string, data []byte) (adminReply, error) {
	var r adminReply
	m, err := nc.RequestWithContext(ctx, subject, data)
	if errors.Is(err, nats.ErrNoResponders) {
		return r, fmt.Errorf("no relay answers on %s: is sei-relay run going?", subject)
	}
	if err != nil {
		return r, fmt.Errorf("request %s: %w", subject, err)
	}
	if err := json.Unmarshal(m.Data, &r); err != nil {
		return r, fmt.Errorf("decode reply on %s: %w", subject, err)
	}
	if r.Error != "" {
		return r, errors.New(r.Error)
	}
	return r, nil
}
