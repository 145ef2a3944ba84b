package api

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	"github.com/sei-edge/servicenow-edge/relay/store"
	"github.com/sei-edge/servicenow-edge/relay/wire"
)

// HeaderNextCursor carries the cursor of the next page of /v1/records; it is
// absent on the last page.
const HeaderNextCursor = "Sei-Next-Cursor"

// records serves one page of records as NDJSON.
func (s *Server) records(w http.ResponseWriter, r *http.Request) {
	q, err := parseRecordsQuery(r.URL.Query())
	if err != nil {
		writeParamError(w, err)
		return
	}
	if !s.tenantAllowed(w, r, q.Tenant) {
		return
	}
	cur, err := parseSnapshotCursor(q.After, q.Tenant)
	if err == nil && q.After == "" {
		cur.feed, err = s.snapshotStart(r.Context(), q.Tenant)
	}
	var recs []store.Record
	var next string
	if err == nil {
		q.After = cur.after
		recs, next, err = s.cfg.Store.List(r.Context(), q)
	}
	switch {
	case errors.Is(err, store.ErrBadCursor):
		writeError(w, http.StatusBadRequest, "after", "after: invalid cursor: use the "+HeaderNextCursor+" of an earlier response")
		return
	case err != nil:
		s.log.Error().Err(err).Str("tenant", q.Tenant).Msg("list records")
		writeError(w, http.StatusInternalServerError, "", "list records: store unavailable")
		return
	}
	if next != "" {
		w.Header().Set(HeaderNextCursor, snapshotCursor{after: next, feed: cur.feed}.String())
	} else if cur.feed != "" {
		w.Header().Set(HeaderFeedPosition, cur.feed)
	}
	writeNDJSON(w, s.log, q.Tenant, "write records", recs)
}

// parseRecordsQuery checks the query of /v1/records (see checkParams).
func parseRecordsQuery(v url.Values) (store.Query, error) {
	if err := checkParams(v, "tenant", "integration", "table", "after", "limit"); err != nil {
		return store.Query{}, err
	}
	q := store.Query{Tenant: v.Get("tenant"), Integration: v.Get("integration"), Table: v.Get("table"), After: v.Get("after")}
	switch {
	case q.Tenant == "":
		return q, &paramError{"tenant", errors.New("tenant: required")}
	case !wire.ValidName(q.Tenant):
		return q, &paramError{"tenant", wire.CheckName("tenant", q.Tenant)}
	case v.Has("integration") && !wire.ValidName(q.Integration):
		return q, &paramError{"integration", wire.CheckName("integration", q.Integration)}
	case v.Has("table") && !wire.ValidTable(q.Table):
		return q, &paramError{"table", fmt.Errorf("table: must match [a-z0-9_]{1,80} (got %q)", q.Table)}
	case v.Has("after") && q.After == "":
		return q, &paramError{"after", errors.New("after: empty cursor (omit it for the first page)")}
	}
	if v.Has("limit") {
		n, err := strconv.Atoi(v.Get("limit"))
		if err != nil || n < 1 || n > store.MaxLimit {
			return q, &paramError{"limit", fmt.Errorf("limit: must be an integer 1..%d (got %q)", store.MaxLimit, v.Get("limit"))}
		}
		q.Limit = n
	}
	return q, nil
}
