package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
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
	quarantineShowSubject   = "sei.relay.admin.quarantine.show"
	// accountUpdateSubject hands the embedded server a tenant's new
	// account JWT (the request's body), so `enroll` and `revoke` take
	// effect before they return.
	accountUpdateSubject = "sei.relay.admin.account.update"
	adminQueue           = "sei-relay-admin"
)

// adminReply is the answer to an admin request. No reply carries more than
// one chunk of a batch's data (showChunk), so none grows past the NATS
// max payload however large the quarantine or a batch is.
type adminReply struct {
	Error   string              `json:"error,omitempty"`
	Batches []store.Quarantined `json:"batches,omitempty"` // metadata only, never Data
	Next    string              `json:"next,omitempty"`    // list: cursor of the next page
	// show: one chunk of the batch's data from Offset; NextOffset is 0 after
	// the last chunk.
	Data       []byte `json:"data,omitempty"`
	Offset     int    `json:"offset,omitempty"`
	NextOffset int    `json:"next_offset,omitempty"`
}

// quarantineRequest is the body of list, show and replay requests. A replay
// body that is not JSON is the id alone (the CLI before tenants).
type quarantineRequest struct {
	Tenant string `json:"tenant,omitempty"`
	ID     string `json:"id,omitempty"`
	After  string `json:"after,omitempty"`
	Limit  int    `json:"limit,omitempty"`
	Offset int    `json:"offset,omitempty"`
}

// Page and chunk sizes of the admin replies: 100 entries of metadata
// (headers and reason bounded by the message they came in) and 256 KiB of
// data (base64 in JSON: ~342 KiB) stay far below 1 MiB.
const (
	listPage  = 100
	showChunk = 256 << 10
	maxReply  = 768 << 10
)

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
		quarantineShowSubject:   a.show,
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

func parseQuarantineRequest(data []byte) quarantineRequest {
	var req quarantineRequest
	if len(data) > 0 && json.Unmarshal(data, &req) != nil {
		req = quarantineRequest{ID: string(data)}
	}
	return req
}

func (a *adminService) list(ctx context.Context, m *nats.Msg) adminReply {
	req := parseQuarantineRequest(m.Data)
	limit := req.Limit
	if limit <= 0 || limit > listPage {
		limit = listPage
	}
	// Entries are small (the consumer bounds headers and reason), but a
	// page is halved until its reply fits, whatever they hold.
	for {
		batches, next, err := a.store.QuarantineList(ctx, store.QuarantineQuery{Tenant: req.Tenant, After: req.After, Limit: limit})
		if err != nil {
			return adminReply{Error: fmt.Sprintf("list quarantine: %v", err)}
		}
		r := adminReply{Batches: batches, Next: next}
		if raw, _ := json.Marshal(r); len(raw) <= maxReply || limit == 1 {
			return r
		}
		limit /= 2
	}
}

// find returns the quarantined batch req names, data included. Without a
// tenant the id must be quarantined in one tenant only.
func (a *adminService) find(ctx context.Context, req quarantineRequest) (store.Quarantined, error) {
	if req.Tenant != "" {
		return a.store.QuarantinedBatch(ctx, req.Tenant, req.ID)
	}
	var tenants []string
	after := ""
	for {
		page, next, err := a.store.QuarantineList(ctx, store.QuarantineQuery{After: after, Limit: store.MaxLimit})
		if err != nil {
			return store.Quarantined{}, err
		}
		for _, q := range page {
			if q.ID == req.ID {
				tenants = append(tenants, q.Tenant)
			}
		}
		if next == "" {
			break
		}
		after = next
	}
	switch len(tenants) {
	case 0:
		return store.Quarantined{}, store.ErrNotFound
	case 1:
		return a.store.QuarantinedBatch(ctx, tenants[0], req.ID)
	}
	return store.Quarantined{}, fmt.Errorf("id %s is quarantined in tenants %s: give --tenant", req.ID, strings.Join(tenants, ", "))
}

// show answers one chunk of a quarantined batch's data.
func (a *adminService) show(ctx context.Context, m *nats.Msg) adminReply {
	req := parseQuarantineRequest(m.Data)
	b, err := a.find(ctx, req)
	if err != nil {
		return adminReply{Error: fmt.Sprintf("show %s: %v", req.ID, err)}
	}
	if req.Offset < 0 || req.Offset > len(b.Data) {
		return adminReply{Error: fmt.Sprintf("show %s: offset %d outside 0..%d", req.ID, req.Offset, len(b.Data))}
	}
	end := min(req.Offset+showChunk, len(b.Data))
	r := adminReply{Data: b.Data[req.Offset:end], Offset: req.Offset}
	if end < len(b.Data) {
		r.NextOffset = end
	}
	b.Data = nil
	r.Batches = []store.Quarantined{b}
	return r
}

func (a *adminService) replay(ctx context.Context, m *nats.Msg) adminReply {
	req := parseQuarantineRequest(m.Data)
	b, err := a.find(ctx, req)
	if err != nil {
		return adminReply{Error: fmt.Sprintf("replay %s: %v", req.ID, err)}
	}
	if err := ingest.Replay(ctx, a.js, b); err != nil {
		return adminReply{Error: fmt.Sprintf("replay %s: %v", req.ID, err)}
	}
	if err := a.store.Release(ctx, b.Tenant, b.ID); err != nil {
		return adminReply{Error: fmt.Sprintf("release %s (replayed): %v", req.ID, err)}
	}
	a.log.Info().Str("batch", b.ID).Str("tenant", b.Tenant).Str("subject", b.Subject).Msg("quarantined batch replayed")
	b.Data = nil
	return adminReply{Batches: []store.Quarantined{b}}
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
