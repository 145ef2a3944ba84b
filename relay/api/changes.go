package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/sei-edge/servicenow-edge/relay/store"
)

// Change feed response headers.
const (
	// HeaderNextSince carries the position to pass as since next time.
	HeaderNextSince = "Sei-Next-Since"
	// HeaderFeedPosition, on the last page of /v1/records, is the feed
	// position to follow /v1/changes from after that snapshot.
	HeaderFeedPosition = "Sei-Feed-Position"
)

// MaxWait bounds the wait parameter of /v1/changes.
const MaxWait = 60 * time.Second

// DefaultFeedPoll is how often a waiting /v1/changes looks for writes of
// other relays (on a shared PostgreSQL); writes of this relay wake it at
// once.
const DefaultFeedPoll = time.Second

// remedy is appended to every feed position error.
const remedy = "start from a snapshot: page through /v1/records from the start, then follow /v1/changes from the " + HeaderFeedPosition + " of its last page"

// changes serves one page of the tenant's change feed as NDJSON, waiting up
// to wait for a change when there is none yet.
func (s *Server) changes(w http.ResponseWriter, r *http.Request) {
	q, wait, err := parseChangesQuery(r.URL.Query())
	if err != nil {
		writeParamError(w, err)
		return
	}
	if !s.tenantAllowed(w, r, q.Tenant) {
		return
	}
	page, next, err := s.waitChanges(r.Context(), q, wait)
	switch {
	case errors.Is(err, store.ErrBadPosition):
		writeError(w, http.StatusBadRequest, "since", fmt.Sprintf("since: %v; use the %s of an earlier response for this tenant, or %s", err, HeaderNextSince, remedy))
		return
	case errors.Is(err, store.ErrPositionGone):
		writeError(w, http.StatusGone, "since", fmt.Sprintf("since: %v; %s", err, remedy))
		return
	case errors.Is(err, store.ErrBadQuery):
		writeError(w, http.StatusBadRequest, "", err.Error())
		return
	case errors.Is(err, context.Canceled) && r.Context().Err() != nil:
		return // the client went away
	case err != nil:
		s.log.Error().Err(err).Str("tenant", q.Tenant).Msg("read changes")
		writeError(w, http.StatusInternalServerError, "", "read changes: store unavailable")
		return
	}
	w.Header().Set(HeaderNextSince, next.String())
	writeNDJSON(w, s.log, q.Tenant, "write changes", page)
}

// waitChanges reads a page; while it is empty it waits for this relay's
// next write, a poll tick (other relays' writes), the end of wait, or the
// server shutting down. The signal is taken before each read, so a write
// between the read and the wait is not slept through.
func (s *Server) waitChanges(ctx context.Context, q store.ChangeQuery, wait time.Duration) ([]store.Change, store.FeedPosition, error) {
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	poll := time.NewTicker(s.cfg.FeedPoll)
	defer poll.Stop()
	for {
		changed := s.cfg.Store.Changed()
		page, next, err := s.cfg.Store.Changes(ctx, q)
		if err != nil || len(page) > 0 || wait == 0 {
			return page, next, err
		}
		select {
		case <-changed:
		case <-poll.C:
		case <-deadline.C:
			return page, next, nil
		case <-s.quit:
			return page, next, nil
		case <-ctx.Done():
			return nil, store.FeedPosition{}, ctx.Err()
		}
	}
}

// parseChangesQuery checks the query of /v1/changes.
func parseChangesQuery(v url.Values) (store.ChangeQuery, time.Duration, error) {
	if err := checkParams(v, "tenant", "integration", "table", "since", "limit", "wait"); err != nil {
		return store.ChangeQuery{}, 0, err
	}
	shared := url.Values{}
	for _, k := range []string{"tenant", "integration", "table", "limit"} {
		if v.Has(k) {
			shared[k] = v[k]
		}
	}
	rq, err := parseRecordsQuery(shared)
	if err != nil {
		return store.ChangeQuery{}, 0, err
	}
	q := store.ChangeQuery{Tenant: rq.Tenant, Integration: rq.Integration, Table: rq.Table, Limit: rq.Limit, Since: v.Get("since")}
	if v.Has("since") && q.Since == "" {
		return q, 0, &paramError{"since", errors.New("since: empty position (omit it to read from the start)")}
	}
	var wait time.Duration
	if v.Has("wait") {
		wait, err = time.ParseDuration(v.Get("wait"))
		if err != nil || wait < 0 || wait > MaxWait {
			return q, 0, &paramError{"wait", fmt.Errorf("wait: must be a duration from 0s to %s, such as 30s (got %q)", MaxWait, v.Get("wait"))}
		}
	}
	return q, wait, nil
}
