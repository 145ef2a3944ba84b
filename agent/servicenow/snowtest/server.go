package snowtest

import (
	"hash/fnv"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
)

// Options configures a simulated instance. The zero value is usable: every
// count and duration left at zero takes its default (WithDefaults); a
// negative count means none, except that Users and Groups are at least 1
// (references need someone to point at).
type Options struct {
	Seed int64            // deterministic data and fault schedule
	Now  func() time.Time // the instance clock (default time.Now); sys_* times and token expiry use it

	// Generated row counts: defaults 200 incidents, 50 changes, 100 users, 10 groups.
	Incidents, Changes, Users, Groups int
	// Approvals is the number of sysapproval_approver rows per change (default 2);
	// AuditPerRecord the sys_audit rows per incident and change (default 3).
	Approvals, AuditPerRecord int
	// JournalPerRecord is the sys_journal_field rows (comments, work_notes) per incident (default 2).
	JournalPerRecord int
	// Spread is how far back from Now the generated sys_updated_on go (default 120 days).
	Spread time.Duration

	// Username and Password enable basic auth. Username "" means "admin"/"admin"
	// when OAuth is nil and disables basic auth when OAuth is set; "-" always
	// disables it. With neither basic nor OAuth the instance accepts anyone.
	Username, Password string
	// OAuth enables /oauth_token.do and /oauth_auth.do and bearer tokens; nil disables them.
	OAuth *OAuthOptions
	// Latency is added to every request (the wait ends early if the client goes away).
	Latency time.Duration
}

// OAuthOptions configures the instance's OAuth application registry entry.
type OAuthOptions struct {
	ClientID, ClientSecret string
	AccessTTL              time.Duration // default 30 minutes (expires_in 1799)
	RefreshTTL             time.Duration // default 100 days
	ClientCredentials      bool          // accept grant_type=client_credentials
}

// RequestLog is one request the simulator answered.
type RequestLog struct {
	Method string
	Path   string
	Query  url.Values
	Auth   string // "basic", "bearer" or "none" (what the client sent, valid or not)
	Grant  string // grant_type of a token request
	Status int
}

// Server is a simulated ServiceNow instance; it implements http.Handler and is
// safe for concurrent use. Its ground-truth methods may be called at any time,
// including from an OnPage hook.
type Server struct {
	opts Options // with defaults; read-only after New

	// mu guards the fields below.
	mu           sync.Mutex
	rng          *rand.Rand
	tables       map[string]*table
	users        []string // sys_user sys_ids, for picking authors and approvers
	faults       Faults
	requestN     int // API requests since the last SetFaults
	listN        int // Table API list requests since the last SetFaults
	hidden       map[string]float64
	hiddenRows   map[string]bool // "table/sys_id": SetHidden's, over hidden
	onPage       func(table string, page int)
	pages        map[string]int
	requests     []RequestLog
	access       map[string]token
	refresh      map[string]token
	codes        map[string]authCode
	nextNumber   map[string]int
	tokenCounter int
}

// table holds one table's rows keyed by sys_id; every value is a string and a
// reference is the referenced sys_id. A row stores only the fields that have
// a value: an absent field reads as "" (which is what ServiceNow returns for
// an empty one), and a million wide rows fit in a few GB. idx orders the rows
// for keyset pages (index.go).
type table struct {
	def  *tableDef
	rows map[string]map[string]string
	idx  map[string]*keyIndex // by indexed field
}

// New generates the instance's data from opts.Seed and returns the server.
func New(opts Options) *Server {
	opts = opts.WithDefaults()
	s := &Server{
		opts:       opts,
		rng:        rand.New(rand.NewPCG(uint64(opts.Seed), 0x5e1_ed6e)),
		tables:     map[string]*table{},
		hidden:     map[string]float64{},
		pages:      map[string]int{},
		access:     map[string]token{},
		refresh:    map[string]token{},
		codes:      map[string]authCode{},
		nextNumber: map[string]int{TableIncident: 10001, TableChangeRequest: 30001},
	}
	for name, def := range schemas() {
		s.tables[name] = &table{def: def, rows: map[string]map[string]string{}, idx: newIndexes(def)}
	}
	s.generateLocked()
	return s
}

// WithDefaults returns o with every field left at zero defaulted and
// negative counts made zero: the options New uses.
func (o Options) WithDefaults() Options {
	def := func(v *int, d int) {
		switch {
		case *v == 0:
			*v = d
		case *v < 0:
			*v = 0
		}
	}
	def(&o.Incidents, 200)
	def(&o.Changes, 50)
	def(&o.Users, 100)
	def(&o.Groups, 10)
	def(&o.Approvals, 2)
	def(&o.AuditPerRecord, 3)
	def(&o.JournalPerRecord, 2)
	if o.Users == 0 {
		o.Users = 1 // references need someone to point at
	}
	if o.Groups == 0 {
		o.Groups = 1
	}
	if o.Spread <= 0 {
		o.Spread = 120 * 24 * time.Hour
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	switch {
	case o.Username == "" && o.OAuth == nil:
		o.Username, o.Password = "admin", "admin"
	case o.Username == "-":
		o.Username = ""
	}
	if o.OAuth != nil {
		oa := *o.OAuth
		if oa.AccessTTL <= 0 {
			oa.AccessTTL = 30 * time.Minute
		}
		if oa.RefreshTTL <= 0 {
			oa.RefreshTTL = 100 * 24 * time.Hour
		}
		o.OAuth = &oa
	}
	return o
}

// Tables lists the tables the instance serves, sorted.
func (s *Server) Tables() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	names := make([]string, 0, len(s.tables))
	for n := range s.tables {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// Records returns copies of the current rows of table (all of them, ACLs
// ignored), sorted by sys_id. Values are the raw stored strings; a reference is
// the referenced sys_id. An unknown table yields nil.
func (s *Server) Records(table string) []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.tables[table]
	if t == nil {
		return nil
	}
	out := make([]map[string]any, 0, len(t.rows))
	for _, id := range sortedIDs(t.rows) {
		out = append(out, copyAny(t.def, t.rows[id]))
	}
	return out
}

// Get returns a copy of one stored row (ACLs ignored).
func (s *Server) Get(table, sysID string) (map[string]any, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.tables[table]
	if t == nil {
		return nil, false
	}
	row, ok := t.rows[sysID]
	if !ok {
		return nil, false
	}
	return copyAny(t.def, row), true
}

// HideRows makes that fraction of table's rows (chosen deterministically by
// sys_id) invisible to the API user, the way row ACLs do: they still count in
// X-Total-Count and are removed only after sysparm_limit/offset, so pages come
// back short or empty while more rows follow. 0 shows every row again.
func (s *Server) HideRows(table string, fraction float64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hidden[table] = fraction
}

// Hidden reports whether row id of table is invisible to the API user
// (HideRows): ground truth for tests that check what a client could see.
func (s *Server) Hidden(table, id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hiddenLocked(table, id)
}

// hiddenLocked reports whether row id of table is invisible to the API user.
func (s *Server) hiddenLocked(table, id string) bool {
	if h, ok := s.hiddenRows[table+"/"+id]; ok {
		return h
	}
	f := s.hidden[table]
	if f <= 0 {
		return false
	}
	h := fnv.New32a()
	h.Write([]byte(id))
	return float64(h.Sum32())/float64(1<<32) < f
}

// OnPage registers hook, called (without the server's lock, so it may mutate
// the instance) after each successful Table API list response is computed and
// before it is written. page counts that table's list responses from 1.
func (s *Server) OnPage(hook func(table string, page int)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.onPage = hook
}

// Requests returns every request answered so far, oldest first.
func (s *Server) Requests() []RequestLog {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requests)
}

// ServeHTTP answers the ServiceNow endpoints.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.opts.Latency > 0 {
		t := time.NewTimer(s.opts.Latency)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		}
	}
	rec := &statusWriter{ResponseWriter: w, status: http.StatusOK}
	rec.Header().Set("Date", s.opts.Now().UTC().Format(http.TimeFormat))
	grant := s.route(rec, r)
	s.mu.Lock()
	s.requests = append(s.requests, RequestLog{Method: r.Method, Path: r.URL.Path,
		Query: r.URL.Query(), Auth: authKind(r), Grant: grant, Status: rec.status})
	s.mu.Unlock()
}

// route dispatches the request and returns the grant type of a token request.
func (s *Server) route(w http.ResponseWriter, r *http.Request) string {
	p := r.URL.Path
	switch {
	case p == "/oauth_token.do":
		return s.serveToken(w, r)
	case p == "/oauth_auth.do":
		s.serveAuthorize(w, r)
	case strings.HasPrefix(p, "/api/now/"):
		s.serveAPI(w, r)
	default:
		writeError(w, http.StatusBadRequest, "Requested URI does not represent any resource", nil)
	}
	return ""
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

func authKind(r *http.Request) string {
	a := r.Header.Get("Authorization")
	switch {
	case strings.HasPrefix(a, "Basic "):
		return "basic"
	case strings.HasPrefix(a, "Bearer "):
		return "bearer"
	}
	return "none"
}

// authenticated checks the request's basic credentials or bearer token.
func (s *Server) authenticated(r *http.Request) bool {
	if s.opts.Username == "" && s.opts.OAuth == nil {
		return true
	}
	if u, p, ok := r.BasicAuth(); ok {
		return s.opts.Username != "" && u == s.opts.Username && p == s.opts.Password
	}
	bearer, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || s.opts.OAuth == nil {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	tok, ok := s.access[bearer]
	return ok && s.opts.Now().Before(tok.expires)
}

func sortedIDs(rows map[string]map[string]string) []string {
	ids := make([]string, 0, len(rows))
	for id := range rows {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// copyAny copies row with every field of def present ("" when unset).
func copyAny(def *tableDef, row map[string]string) map[string]any {
	m := make(map[string]any, len(def.fields))
	for _, f := range def.fields {
		m[f] = ""
	}
	for k, v := range row {
		m[k] = v
	}
	return m
}
