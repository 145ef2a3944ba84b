package api

import (
	"context"
	"fmt"
	"strings"

	"github.com/sei-edge/servicenow-edge/relay/store"
)

// Snapshot then follow.
//
// A paged /v1/records read is not one transaction: records change between
// pages. So the first page (no after) reads the tenant's feed head before it
// reads any record, carries that position in every next cursor, and the
// last page returns it in Sei-Feed-Position. Every write committed after
// the head was read has a higher position, so following /v1/changes from it
// delivers each of them: none is missed. A record changed while the
// snapshot was paged may also have been read at its new version by a later
// page, so the feed can bring a version the snapshot held already; applied
// "newest version wins" on (sys_updated_on, sys_mod_count), as the relay
// itself applies, such a change is a no-op, so nothing is counted or
// applied twice either.

// snapshotSep joins a store cursor and the snapshot's feed position in the
// after cursor /v1/records hands out; neither contains it.
const snapshotSep = "~"

// snapshotCursor is the after cursor of /v1/records: a store cursor and the
// feed position of the snapshot's start.
type snapshotCursor struct {
	after string // the store's cursor
	feed  string // position token; "" for cursors of older relays
}

func (c snapshotCursor) String() string {
	if c.after == "" || c.feed == "" {
		return c.after
	}
	return c.after + snapshotSep + c.feed
}

// parseSnapshotCursor splits an after cursor and checks its feed position
// belongs to tenant.
func parseSnapshotCursor(s, tenant string) (snapshotCursor, error) {
	after, feed, ok := strings.Cut(s, snapshotSep)
	if !ok {
		return snapshotCursor{after: s}, nil
	}
	p, err := store.ParseFeedPosition(feed)
	if err != nil || p.Tenant != tenant {
		return snapshotCursor{}, fmt.Errorf("feed position in cursor: %w", store.ErrBadCursor)
	}
	return snapshotCursor{after: after, feed: feed}, nil
}

// snapshotStart returns the feed position a snapshot starting now is
// consistent from.
func (s *Server) snapshotStart(ctx context.Context, tenant string) (string, error) {
	head, err := s.cfg.Store.FeedHead(ctx, tenant)
	if err != nil {
		return "", err
	}
	return head.String(), nil
}
