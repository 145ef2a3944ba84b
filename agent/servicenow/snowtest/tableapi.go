package snowtest

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// contentType is what ServiceNow sends with every JSON answer.
const contentType = "application/json;charset=UTF-8"

// defaultLimit is sysparm_limit when the client sends none.
const defaultLimit = 10000

// maxParam caps sysparm_limit and sysparm_offset so offset+limit cannot overflow.
const maxParam = 1 << 30

// serveAPI answers /api/now/[v1|v2/]table/... and /api/now/[v1/]stats/....
func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request) {
	rest := strings.TrimPrefix(r.URL.Path, "/api/now/")
	version := ""
	if v, after, ok := strings.Cut(rest, "/"); ok && (v == "v1" || v == "v2") {
		version, rest = v, after
	}
	kind, rest, _ := strings.Cut(rest, "/")
	name, id, _ := strings.Cut(rest, "/")
	if !s.authenticated(r) {
		writeError(w, http.StatusUnauthorized, "User Not Authenticated", "Required to provide Auth information")
		return
	}
	if (kind != "table" && kind != "stats") || name == "" || strings.Contains(id, "/") {
		writeError(w, http.StatusBadRequest, "Requested URI does not represent any resource", nil)
		return
	}
	if r.Method != http.MethodGet {
		writeError(w, http.StatusMethodNotAllowed, "Method not Supported", "Only GET is simulated")
		return
	}
	list := kind == "table" && id == ""
	if hit := s.nextFault(list); hit.kind != faultNone && hit.kind != faultTruncate {
		s.writeFault(w, hit)
		return
	} else if kind == "stats" {
		s.serveStats(w, r, name)
	} else if list {
		s.serveList(w, r, version, name, hit.kind == faultTruncate)
	} else {
		s.serveRecord(w, r, name, id)
	}
}

// listPage is a computed Table API list response.
type listPage struct {
	body            []byte
	total, returned int
	offset, limit   int
}

// serveList answers a Table API list request.
func (s *Server) serveList(w http.ResponseWriter, r *http.Request, version, name string, cut bool) {
	q := r.URL.Query()
	s.mu.Lock()
	t, parsed, fail := s.lookupLocked(name, q.Get("sysparm_query"))
	if fail != nil {
		s.mu.Unlock()
		fail(w)
		return
	}
	limit := intParam(q, "sysparm_limit", defaultLimit)
	if limit <= 0 {
		limit = defaultLimit
	}
	limit = min(limit, maxParam)
	if m := s.faults.MaxLimitBeforeTruncate; m > 0 && limit > m {
		cut = true
	}
	noCount := q.Get("sysparm_no_count") == "true"
	page := s.pageLocked(t, parsed, renderOptions(r, t.def), min(intParam(q, "sysparm_offset", 0), maxParam), limit, !noCount)
	hook, n := s.onPage, 0
	if !cut {
		s.pages[name]++
		n = s.pages[name]
	}
	s.mu.Unlock()

	h := w.Header()
	h.Set("Content-Type", contentType)
	if !noCount {
		h.Set("X-Total-Count", strconv.Itoa(page.total))
	}
	if q.Get("sysparm_suppress_pagination_header") != "true" {
		h.Set("Link", linkHeader(baseURL(r), r.URL.Path, q, page, !noCount))
	}
	if cut {
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(truncate(page.body))
		return
	}
	if hook != nil {
		hook(name, n)
	}
	if version == "v1" && page.returned == 0 {
		writeNoRecord(w)
		return
	}
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(page.body)
}

// lookupLocked finds table name and parses its encoded query. When either
// fails, fail writes the answer (400 Invalid table, or 403); call it after
// unlocking.
func (s *Server) lookupLocked(name, raw string) (t *table, parsed query, fail func(http.ResponseWriter)) {
	t = s.tables[name]
	if t == nil {
		return nil, query{}, func(w http.ResponseWriter) {
			writeError(w, http.StatusBadRequest, "Invalid table "+name, nil)
		}
	}
	parsed, ok := s.queryLocked(t.def, raw)
	if !ok {
		return nil, query{}, writeForbidden
	}
	return t, parsed, nil
}

// queryLocked parses an encoded query for def; ok is false when it names an
// unknown field and the 403 fault is on.
func (s *Server) queryLocked(def *tableDef, raw string) (query, bool) {
	parsed := parseQuery(raw)
	if s.faults.UnknownFieldIs403 && len(parsed.unknownFields(def)) > 0 {
		return query{}, false
	}
	return parsed.prune(def), true
}

// pageLocked runs the query, applies offset and limit, and only then the row
// ACLs, the way ServiceNow does. Without counts, total is exact only up to
// offset+limit+1 (enough for the Link header's rel="next").
func (s *Server) pageLocked(t *table, q query, ro renderOpts, offset, limit int, counts bool) listPage {
	offset = max(offset, 0)
	rows, total := s.windowLocked(t, q, offset, limit, counts)
	buf := newJSONBuf()
	buf.WriteString(`{"result":[`)
	returned := 0
	for _, row := range rows {
		if s.hiddenLocked(t.def.name, row["sys_id"]) {
			continue
		}
		if returned > 0 {
			buf.WriteByte(',')
		}
		s.renderLocked(buf, t.def, row, ro)
		returned++
	}
	buf.WriteString(`]}`)
	return listPage{body: buf.Bytes(), total: total, returned: returned, offset: offset, limit: limit}
}

// windowLocked returns the matches of q at [offset, offset+limit) in q's
// order and the number of matches (counted only up to offset+limit+1 unless
// counts). A query ordered by an indexed field walks its index from the
// query's lower bound (O(log n + rows scanned)); any other sorts every match.
func (s *Server) windowLocked(t *table, q query, offset, limit int, counts bool) ([]map[string]string, int) {
	x, r := t.plan(q)
	if x == nil {
		matches := s.matchLocked(t, q)
		q.sortRows(matches)
		start, end := min(offset, len(matches)), min(offset+limit, len(matches))
		return matches[start:end], len(matches)
	}
	var out []map[string]string
	n := 0
	x.scan(r, func(row map[string]string) bool {
		if !q.match(row) {
			return true
		}
		if n >= offset && n-offset < limit {
			out = append(out, row)
		}
		n++
		return counts || n <= offset+limit
	})
	return out, n
}

// matchLocked returns the rows matching q, unordered (sortRows orders them).
func (s *Server) matchLocked(t *table, q query) []map[string]string {
	var matches []map[string]string
	for _, row := range t.rows {
		if q.match(row) {
			matches = append(matches, row)
		}
	}
	return matches
}

// serveRecord answers GET …/table/{table}/{sys_id}.
func (s *Server) serveRecord(w http.ResponseWriter, r *http.Request, name, id string) {
	s.mu.Lock()
	t := s.tables[name]
	if t == nil {
		s.mu.Unlock()
		writeError(w, http.StatusBadRequest, "Invalid table "+name, nil)
		return
	}
	row, ok := t.rows[id]
	if !ok || s.hiddenLocked(name, id) {
		s.mu.Unlock()
		writeNoRecord(w)
		return
	}
	buf := newJSONBuf()
	buf.WriteString(`{"result":`)
	s.renderLocked(buf, t.def, row, renderOptions(r, t.def))
	buf.WriteString(`}`)
	s.mu.Unlock()
	w.Header().Set("Content-Type", contentType)
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(buf.Bytes())
}

// serveStats answers the Aggregate API's count, with the same query and row
// ACLs as the Table API's lists (countLocked).
func (s *Server) serveStats(w http.ResponseWriter, r *http.Request, name string) {
	q := r.URL.Query()
	s.mu.Lock()
	t, parsed, fail := s.lookupLocked(name, q.Get("sysparm_query"))
	if fail != nil {
		s.mu.Unlock()
		fail(w)
		return
	}
	sumFields := splitFields(q.Get("sysparm_sum_fields"))
	count, sums := s.countLocked(t, parsed, sumFields)
	s.mu.Unlock()
	result := map[string]any{}
	stats := map[string]any{}
	if q.Get("sysparm_count") == "true" {
		stats["count"] = strconv.Itoa(count)
	}
	if len(sums) > 0 {
		stats["sum"] = sums
	}
	if len(stats) > 0 {
		result["stats"] = stats
	}
	writeJSONResponse(w, http.StatusOK, map[string]any{"result": result})
}

// renderOptions reads sysparm_fields, sysparm_display_value and
// sysparm_exclude_reference_link; unknown field names are ignored.
func renderOptions(r *http.Request, def *tableDef) renderOpts {
	q := r.URL.Query()
	ro := renderOpts{mode: modeValue, base: baseURL(r),
		noLink: q.Get("sysparm_exclude_reference_link") == "true"}
	switch strings.ToLower(q.Get("sysparm_display_value")) {
	case modeDisplay:
		ro.mode = modeDisplay
	case modeAll:
		ro.mode = modeAll
	}
	if raw := q.Get("sysparm_fields"); raw != "" {
		ro.fields = []string{}
		for _, f := range strings.Split(raw, ",") {
			f = strings.TrimSpace(f)
			if slices.Contains(def.fields, f) && !slices.Contains(ro.fields, f) {
				ro.fields = append(ro.fields, f)
			}
		}
	}
	return ro
}

// linkHeader builds the offset-based Link header of a list page.
func linkHeader(base, path string, q url.Values, p listPage, withLast bool) string {
	at := func(offset int, rel string) string {
		v := url.Values{}
		for k, vs := range q {
			v[k] = vs
		}
		v.Set("sysparm_limit", strconv.Itoa(p.limit))
		v.Set("sysparm_offset", strconv.Itoa(offset))
		return "<" + base + path + "?" + v.Encode() + `>;rel="` + rel + `"`
	}
	links := []string{at(0, "first")}
	if p.offset > 0 {
		links = append(links, at(max(p.offset-p.limit, 0), "prev"))
	}
	if p.offset+p.limit < p.total {
		links = append(links, at(p.offset+p.limit, "next"))
	}
	if withLast {
		links = append(links, at(max(p.total-1, 0)/p.limit*p.limit, "last"))
	}
	return strings.Join(links, ",")
}

func baseURL(r *http.Request) string {
	if r.TLS != nil {
		return "https://" + r.Host
	}
	return "http://" + r.Host
}

func intParam(q url.Values, key string, def int) int {
	n, err := strconv.Atoi(q.Get(key))
	if err != nil {
		return def
	}
	return n
}

// errorEnvelope is ServiceNow's error body, keys in its order.
type errorEnvelope struct {
	Error struct {
		Message string `json:"message"`
		Detail  any    `json:"detail"`
	} `json:"error"`
	Status string `json:"status"`
}

// writeError writes ServiceNow's error envelope; detail is a string or nil.
func writeError(w http.ResponseWriter, status int, message string, detail any) {
	var e errorEnvelope
	e.Error.Message, e.Error.Detail, e.Status = message, detail, "failure"
	writeJSONResponse(w, status, e)
}

func writeNoRecord(w http.ResponseWriter) {
	writeError(w, http.StatusNotFound, "No Record found",
		"Record doesn't exist or ACL restricts the record retrieval")
}

func writeForbidden(w http.ResponseWriter) {
	writeError(w, http.StatusForbidden, "Insufficient rights to query records",
		"Field(s) present in the query do not have permission to be read")
}

func writeJSONResponse(w http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v) // maps of strings always encode
	w.Header().Set("Content-Type", contentType)
	w.WriteHeader(status)
	_, _ = w.Write(bytes.TrimRight(buf.Bytes(), "\n"))
}
