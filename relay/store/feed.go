package store

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/sei-edge/servicenow-edge/relay/wire"
)

// The change feed.
//
// Every write Apply makes (an upsert or a tombstone that replaced an older
// version) gets a position in its tenant's feed; records Apply ignores get
// none. Positions of one tenant only grow, and, the property readers rely
// on, they become visible in position order: once a reader sees position p
// of tenant T, every position of T below p that will ever be visible is
// visible already. Each store says in its Apply how it keeps that promise
// across concurrent writers. A record holds only its newest position (the
// store keeps one version per key), so the feed is compacted: a key's
// earlier position disappears when it gets a new one.
//
// Positions travel as opaque tokens (FeedPosition.String) naming the store's
// feed epoch and the tenant, so a token from another tenant, or from another
// store (a reset, a restore, a switch of store kind), is recognised.

// Feed errors, both the caller's to fix.
var (
	// ErrBadPosition: the token is malformed or belongs to another tenant.
	ErrBadPosition = errors.New("invalid feed position")
	// ErrPositionGone: the token is well formed but this feed cannot resume
	// from it (another store epoch, or ahead of the feed after a restore).
	// The remedy is a new snapshot from /v1/records.
	ErrPositionGone = errors.New("feed position no longer served")
)

// DeleteReason says why a tombstone was written; "" on upserts. Values are
// those of wire.DeleteReason.
type DeleteReason = string

// FeedPosition is one point of a tenant's feed. Seq 0 is before the first
// change.
type FeedPosition struct {
	Epoch  string // the store's feed id, fixed when the store was created
	Tenant string
	Seq    uint64
}

const (
	positionPrefix = "p1."
	maxPositionLen = 512
)

// String returns the opaque token of p.
func (p FeedPosition) String() string {
	b, _ := json.Marshal([]any{p.Epoch, p.Tenant, p.Seq}) // cannot fail
	return positionPrefix + base64.RawURLEncoding.EncodeToString(b)
}

// ParseFeedPosition parses a token made by FeedPosition.String. Errors wrap
// ErrBadPosition. It reads outside input.
func ParseFeedPosition(s string) (FeedPosition, error) {
	bad := func(why string) (FeedPosition, error) {
		return FeedPosition{}, fmt.Errorf("parse feed position: %s: %w", why, ErrBadPosition)
	}
	if len(s) > maxPositionLen {
		return bad("too long")
	}
	rest, ok := strings.CutPrefix(s, positionPrefix)
	if !ok {
		return bad("unknown format")
	}
	b, err := base64.RawURLEncoding.DecodeString(rest)
	if err != nil {
		return bad("not base64")
	}
	var parts []json.RawMessage
	var p FeedPosition
	if json.Unmarshal(b, &parts) != nil || len(parts) != 3 ||
		json.Unmarshal(parts[0], &p.Epoch) != nil || json.Unmarshal(parts[1], &p.Tenant) != nil ||
		json.Unmarshal(parts[2], &p.Seq) != nil {
		return bad("malformed")
	}
	if p.Epoch == "" || !wire.ValidName(p.Tenant) {
		return bad("malformed")
	}
	return p, nil
}

// Change is one entry of the feed: the record as stored now (the /v1/records
// shape) and its position token.
type Change struct {
	Record
	Position string `json:"position"`
}

// ChangeQuery selects changes for Changes. Tenant is required.
type ChangeQuery struct {
	Tenant      string
	Integration string // optional
	Table       string // optional
	Since       string // position token; "" for the start of the feed
	Limit       int    // 1..MaxLimit; 0 means DefaultLimit
}

// ChangePlan is a checked ChangeQuery.
type ChangePlan struct {
	Tenant, Integration, Table string
	Limit                      int
	Since                      *FeedPosition // nil for the start
}

// PlanChanges checks q like PlanQuery does a Query. A Since of another
// tenant is ErrBadPosition; a Since of another epoch is ErrPositionGone.
func PlanChanges(q ChangeQuery, epoch string) (ChangePlan, error) {
	p, err := PlanQuery(Query{Tenant: q.Tenant, Integration: q.Integration, Table: q.Table, Limit: q.Limit})
	if err != nil {
		return ChangePlan{}, err
	}
	cp := ChangePlan{Tenant: p.Tenant, Integration: p.Integration, Table: p.Table, Limit: p.Limit}
	if q.Since == "" {
		return cp, nil
	}
	pos, err := ParseFeedPosition(q.Since)
	if err != nil {
		return ChangePlan{}, err
	}
	switch {
	case pos.Tenant != q.Tenant:
		return ChangePlan{}, fmt.Errorf("check feed position: issued for tenant %q, not %q: %w", pos.Tenant, q.Tenant, ErrBadPosition)
	case pos.Epoch != epoch:
		return ChangePlan{}, fmt.Errorf("check feed position: issued by another store (epoch %s, this store %s): %w", pos.Epoch, epoch, ErrPositionGone)
	}
	cp.Since = &pos
	return cp, nil
}

// SinceSeq is the sequence the page starts after.
func (p ChangePlan) SinceSeq() uint64 {
	if p.Since == nil {
		return 0
	}
	return p.Since.Seq
}

// NextPosition is the position after a page of changes read in one snapshot
// whose visible head (the tenant's highest position) was head: the last
// change's when the page is full, else head, since no later commit can take
// a position at or below a visible one. It fails with ErrPositionGone when
// since is ahead of head (the store was reset or restored behind the
// reader).
func NextPosition(p ChangePlan, epoch string, page []uint64, full bool, head uint64) (FeedPosition, error) {
	since := p.SinceSeq()
	if since > head {
		return FeedPosition{}, fmt.Errorf("check feed position: %d is ahead of the feed of tenant %s (at %d; store restored?): %w", since, p.Tenant, head, ErrPositionGone)
	}
	next := head
	if full && len(page) > 0 {
		next = page[len(page)-1]
	}
	return FeedPosition{Epoch: epoch, Tenant: p.Tenant, Seq: max(next, since)}, nil
}

// Feed is the store's change feed (see the comment at the top of feed.go).
// Every method is safe for concurrent use.
type Feed interface {
	// Changes returns up to q.Limit changes of q.Tenant after q.Since, in
	// position order, and the position to ask from next (never before
	// q.Since). Errors wrap ErrBadQuery, ErrBadPosition or ErrPositionGone
	// for the caller's mistakes.
	Changes(ctx context.Context, q ChangeQuery) (changes []Change, next FeedPosition, err error)
	// FeedHead returns the tenant's current highest visible position (Seq 0
	// when it has none). Every change at or below it is visible to a read
	// that starts later.
	FeedHead(ctx context.Context, tenant string) (FeedPosition, error)
	// FeedTenants lists the tenants that have a feed, sorted.
	FeedTenants(ctx context.Context) ([]string, error)
	// Changed returns a channel closed after the next Apply in this process
	// that wrote anything. Writes of other processes (other relays on one
	// database) do not close it: poll for those.
	Changed() <-chan struct{}
	// FeedMark returns the mark a feed follower called name saved for
	// tenant ("" when none): how far it durably got.
	FeedMark(ctx context.Context, name, tenant string) (string, error)
	// SetFeedMark saves a follower's mark.
	SetFeedMark(ctx context.Context, name, tenant, mark string) error
}

// Signal is a broadcast a store closes after each write; embed it and call
// Notify after a commit.
type Signal struct {
	mu sync.Mutex // guards ch
	ch chan struct{}
}

// Changed returns the channel the next Notify closes.
func (s *Signal) Changed() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ch == nil {
		s.ch = make(chan struct{})
	}
	return s.ch
}

// Notify wakes every waiter of Changed.
func (s *Signal) Notify() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ch != nil {
		close(s.ch)
		s.ch = nil
	}
}

// CheckMarkName reports why name cannot name a feed follower.
func CheckMarkName(name string) error {
	if !wire.ValidName(name) {
		return fmt.Errorf("check feed follower name %q: must match [a-z0-9][a-z0-9_-]{0,62}", name)
	}
	return nil
}
