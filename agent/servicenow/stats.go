package servicenow

import (
	"maps"
	"sync"
	"time"
)

// ClientStats are the client's counters since New, for `sei-agent status`.
type ClientStats struct {
	Requests       int64         // Table API and token requests sent
	Retries        int64         // requests repeated after a transient error
	Errors         map[int]int64 // Table API error responses by status code (0 = network or body error); token request failures are not counted
	RateLimited    int64         // 429 answers
	RateLimitWaits int64         // waits imposed by Config.RateLimit
	RateLimitWait  time.Duration // total time spent in those waits
	TokenRequests  int64         // OAuth token requests
	TokenExpiry    time.Time     // expiry of the current access token (zero: none or basic auth)
	PageShrinks    int64         // pages retried smaller after repeated cut-off answers at one cursor (see adapt.go)
	OffsetFallback int64         // empty pages stepped over with sysparm_offset
	// Tables breaks Errors and RateLimited down by table. Every Table API
	// request belongs to a table (Probe's authentication check reads
	// sys_user), so there is no "" entry.
	Tables map[string]TableCounters
	// CertExpiry is the NotAfter of the instance's TLS certificate (the
	// leaf) seen on the last HTTPS answer; zero over plain HTTP.
	CertExpiry time.Time
}

// TableCounters are the error figures of one table.
type TableCounters struct {
	Errors      map[int]int64 // HTTP error responses by status code (0 = network or body error)
	RateLimited int64         // 429 answers
}

// stats accumulates ClientStats; safe for concurrent use.
type stats struct {
	mu sync.Mutex // guards s
	s  ClientStats
}

func (st *stats) update(f func(s *ClientStats)) {
	st.mu.Lock()
	defer st.mu.Unlock()
	f(&st.s)
}

func (st *stats) request()      { st.update(func(s *ClientStats) { s.Requests++ }) }
func (st *stats) retry()        { st.update(func(s *ClientStats) { s.Retries++ }) }
func (st *stats) tokenRequest() { st.update(func(s *ClientStats) { s.TokenRequests++; s.Requests++ }) }
func (st *stats) setToken(exp time.Time) {
	st.update(func(s *ClientStats) { s.TokenExpiry = exp })
}
func (st *stats) httpError(table string, code int) {
	st.update(func(s *ClientStats) {
		if s.Errors == nil {
			s.Errors = map[int]int64{}
		}
		if s.Tables == nil {
			s.Tables = map[string]TableCounters{}
		}
		tc := s.Tables[table]
		if tc.Errors == nil {
			tc.Errors = map[int]int64{}
		}
		s.Errors[code]++
		tc.Errors[code]++
		if code == 429 {
			s.RateLimited++
			tc.RateLimited++
		}
		s.Tables[table] = tc
	})
}

func (st *stats) snapshot() ClientStats {
	st.mu.Lock()
	defer st.mu.Unlock()
	out := st.s
	out.Errors = maps.Clone(st.s.Errors)
	if st.s.Tables != nil {
		out.Tables = make(map[string]TableCounters, len(st.s.Tables))
		for t, tc := range st.s.Tables {
			out.Tables[t] = TableCounters{Errors: maps.Clone(tc.Errors), RateLimited: tc.RateLimited}
		}
	}
	return out
}
