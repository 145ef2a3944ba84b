package snowtest

import (
	"net/http"
	"strconv"
	"time"
)

// Faults is a deterministic misbehaviour schedule. Counters start at the
// SetFaults call; "every Nth" counts authenticated API requests (Table and
// Aggregate API; token requests are never faulted), and N <= 0 disables a
// fault. When several faults fall on the same request the first listed wins.
type Faults struct {
	RateLimitEvery int           // every Nth request: 429 with Retry-After and X-RateLimit-* headers
	RetryAfter     time.Duration // the Retry-After of those 429s (rounded up to seconds; 0 sends "0")
	// ServerErrorEvery: every Nth request answers 500 or 503 with the error envelope.
	ServerErrorEvery int
	// HTMLEvery: every Nth request answers 200 text/html, a hibernating instance's page.
	HTMLEvery int
	// TruncateEvery: every Nth Table API list answers 200 with cut-off JSON
	// containing "Transaction cancelled: maximum execution time exceeded".
	TruncateEvery int
	// MaxLimitBeforeTruncate: a list whose sysparm_limit (default 10000) is above
	// this is always cut off, forcing the client to shrink its page. 0 disables.
	MaxLimitBeforeTruncate int
	// UnknownFieldIs403: a query clause on an unknown field answers 403 instead
	// of being silently dropped.
	UnknownFieldIs403 bool
}

// SetFaults replaces the fault schedule and restarts its counters.
func (s *Server) SetFaults(f Faults) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = f
	s.requestN, s.listN = 0, 0
}

type fault int

const (
	faultNone fault = iota
	faultRateLimit
	faultServerError
	faultHTML
	faultTruncate
)

// faultHit is the fault one request gets: its kind, the request's number
// since SetFaults, and the schedule that chose it.
type faultHit struct {
	kind     fault
	n        int
	schedule Faults
}

// nextFault counts one API request and says which fault, if any, it gets.
func (s *Server) nextFault(list bool) faultHit {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requestN++
	if list {
		s.listN++
	}
	h := faultHit{n: s.requestN, schedule: s.faults}
	f := s.faults
	switch {
	case every(h.n, f.RateLimitEvery):
		h.kind = faultRateLimit
	case every(h.n, f.ServerErrorEvery):
		h.kind = faultServerError
	case every(h.n, f.HTMLEvery):
		h.kind = faultHTML
	case list && every(s.listN, f.TruncateEvery):
		h.kind = faultTruncate
	}
	return h
}

func every(n, period int) bool { return period > 0 && n%period == 0 }

// writeFault answers a request with its fault (not faultTruncate).
func (s *Server) writeFault(w http.ResponseWriter, hit faultHit) {
	switch hit.kind {
	case faultRateLimit:
		secs := int64((hit.schedule.RetryAfter + time.Second - 1) / time.Second)
		h := w.Header()
		h.Set("Retry-After", strconv.FormatInt(secs, 10))
		h.Set("X-RateLimit-Limit", "100")
		h.Set("X-RateLimit-Reset", strconv.FormatInt(s.opts.Now().Unix()+secs, 10))
		h.Set("X-RateLimit-Rule", "Table API rate limit")
		writeError(w, http.StatusTooManyRequests, "Rate limit exceeded",
			"Rate limit of 100 requests per hour for Table API exceeded")
	case faultServerError:
		status := http.StatusInternalServerError
		if (hit.n/max(hit.schedule.ServerErrorEvery, 1)+int(s.opts.Seed&1))%2 == 0 {
			status = http.StatusServiceUnavailable
		}
		writeError(w, status, "Internal server error", "The server encountered an internal error")
	case faultHTML:
		w.Header().Set("Content-Type", "text/html;charset=UTF-8")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte(hibernatingPage))
	}
}

// truncatedMessage is what ServiceNow appends to a page cut off by the
// transaction quota.
const truncatedMessage = `","error":{"message":"Transaction cancelled: maximum execution time exceeded",` +
	`"detail":"Transaction cancelled: maximum execution time exceeded Check logs for error trace ` +
	`or enable glide.rest.debug property to verify REST request processing"},"status":"failure"}`

// truncate cuts a list body in the middle of its records and appends the
// cancellation message: a 200 whose body is not valid JSON.
func truncate(body []byte) []byte {
	cut := max(len(body)/2, len(`{"result":[`))
	cut = min(cut, len(body))
	out := append([]byte{}, body[:cut]...)
	return append(out, truncatedMessage...)
}

const hibernatingPage = `<!DOCTYPE html>
<html><head><title>Instance Hibernating page</title></head>
<body><h1>Your instance is hibernating</h1>
<p>Developer instances hibernate after a period of inactivity. Sign in to the developer portal to wake it up.</p>
</body></html>
`
