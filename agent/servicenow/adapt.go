package servicenow

// Page-size adaptation.
//
// A cut-off answer (a 200 whose JSON is incomplete: ServiceNow cancelled the
// transaction at its time quota) is the only answer that changes the page
// size. 429, 5xx, network errors and HTML pages are retried at the same size:
// they say nothing about the page.
//
// A single cut-off is as often a random fault as a page too large, so it is
// retried once at the same size. Only a second cut-off in a row at the same
// position (cursor and offset) halves the page, and every further one at that
// position halves it again, down to minShrunkPage rows (or the configured
// page size, if smaller). Below that floor the page shrinks only while the
// same position keeps being cut off, down to one row; retries that shrink the
// page do not count against Config.MaxAttempts, because each one is progress
// and there are at most log2(MaxPageSize) of them.
//
// After growAfter whole pages (answered at the size asked) in a row, a shrunk
// page doubles, up to the configured page size, and the empty-page probe's
// ceiling doubles up to MaxPageSize. Under random faults the size therefore
// never collapses: a random cut-off costs one repeated request, not a smaller
// page for the rest of the scan.

const (
	// growAfter is the number of whole pages after which a shrunk page size
	// doubles again.
	growAfter = 3
	// minShrunkPage is the floor of a page shrunk by cut-offs, unless the
	// same position keeps being cut off at that size.
	minShrunkPage = 50
)

// position is where a page request starts: the keyset cursor and, on the
// offset fallback, the offset.
type position struct {
	cur    Cursor
	offset int
}

// cutOff records a cut-off answer to a page of limit rows at at and returns
// the size to retry with.
func (s *scan) cutOff(at position, limit int) int {
	if at != s.cutAt {
		s.cutAt, s.cuts = at, 0
	}
	s.cuts++
	if s.cuts < 2 {
		return limit
	}
	floor := min(minShrunkPage, s.c.cfg.PageSize)
	next := max(limit/2, floor)
	if limit <= floor {
		next = max(limit/2, 1)
	}
	if next < limit {
		s.limit = min(s.limit, next)
		s.maxLimit = min(s.maxLimit, next)
		s.okStreak = 0
		s.c.stats.update(func(st *ClientStats) { st.PageShrinks++ })
	}
	return next
}

// grow counts a whole page and, after growAfter in a row, doubles a shrunk
// page size and probe ceiling.
func (s *scan) grow() {
	if s.limit >= s.c.cfg.PageSize && s.maxLimit >= MaxPageSize {
		return
	}
	s.okStreak++
	if s.okStreak < growAfter {
		return
	}
	s.okStreak = 0
	s.limit = min(s.limit*2, s.c.cfg.PageSize)
	s.maxLimit = min(s.maxLimit*2, MaxPageSize)
}
