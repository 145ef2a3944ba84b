package poll

import (
	"context"
	"encoding/json"
	"sort"
	"time"

	"github.com/sei-edge/servicenow-edge/agent/servicenow"
)

// TableStats are one table's figures for status. The poller persists them in
// the buffer's state after each run, so status can show them offline.
type TableStats struct {
	Table string `json:"table"`
	Field string `json:"field"`
	// Cursor is not saved with the figures: commits store it under its own
	// key, which loadStats reads.
	Cursor      servicenow.Cursor `json:"-"`
	LastStart   time.Time         `json:"last_start"`
	LastEnd     time.Time         `json:"last_end"`
	LastSuccess time.Time         `json:"last_success"`
	LastError   string            `json:"last_error,omitempty"`
	AuthFailed  bool              `json:"auth_failed,omitempty"` // the last error was ServiceNow refusing the credentials
	// CursorAdvanced is when Cursor last moved forward.
	CursorAdvanced time.Time `json:"cursor_advanced"`
	// SourceNewest is the incremental field of ServiceNow's newest
	// readable row after the last successful poll.
	SourceNewest string   `json:"source_newest,omitempty"`
	LastRecords  int      `json:"last_records"`
	TotalRecords int64    `json:"total_records"`
	Pages        int64    `json:"pages"`
	Failures     int64    `json:"failures"`
	Excluded     []string `json:"excluded,omitempty"`
}

// Stats are the poller's figures.
type Stats struct {
	Tables []TableStats
	// Paused is set while the buffer is full (or the disk nearly so) and
	// polling waits with its cursor held.
	Paused      bool
	PauseReason string
	NextPoll    time.Time
	// AuthError is set when the last cycle ended because ServiceNow
	// refused the credentials: no table was polled after it.
	// AuthFailures counts the cycles in a row that did (the back-off).
	AuthError    string
	AuthFailures int
}

// Stats returns a copy of the poller's figures, tables by name.
func (p *Poller) Stats() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := Stats{Paused: p.paused, NextPoll: p.next, AuthError: p.authErr, AuthFailures: p.authFailures}
	if p.paused {
		s.PauseReason = p.pauseReason
	}
	for _, t := range p.tables {
		s.Tables = append(s.Tables, *t)
	}
	sort.Slice(s.Tables, func(i, j int) bool { return s.Tables[i].Table < s.Tables[j].Table })
	return s
}

// TableStats returns one table's figures.
func (p *Poller) TableStats(table string) TableStats {
	p.mu.Lock()
	defer p.mu.Unlock()
	if t := p.tables[table]; t != nil {
		return *t
	}
	return TableStats{Table: table}
}

func (p *Poller) update(table string, fn func(*TableStats)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	t := p.tables[table]
	if t == nil {
		t = &TableStats{Table: table}
		p.tables[table] = t
	}
	fn(t)
}

func (p *Poller) setPaused(paused bool, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if paused && !p.paused {
		p.log.Warn().Err(err).Msg("buffer full: polling paused, cursor held")
	} else if !paused && p.paused {
		p.log.Info().Msg("buffer has room again: polling resumed")
	}
	p.paused = paused
	if err != nil {
		p.pauseReason = err.Error()
	}
}

// saveStats persists a table's figures for offline status; best effort.
func (p *Poller) saveStats(ctx context.Context, table string) {
	st := p.TableStats(table)
	raw, err := json.Marshal(st)
	if err == nil {
		err = p.buf.Set(ctx, statsKey(table), raw)
	}
	if err != nil && ctx.Err() == nil {
		p.log.Warn().Err(err).Str("table", table).Msg("save poll figures")
	}
}

// LoadStats reads the figures the poller persisted, for status when the
// agent is not running.
func LoadStats(get func(key string) ([]byte, error), tables []string) []TableStats {
	var out []TableStats
	for _, t := range tables {
		out = append(out, loadStats(get, t))
	}
	return out
}

// loadStats reads one table's persisted figures and its cursor (which
// commits move without rewriting the figures); best effort: what does not
// decode is left at zero.
func loadStats(get func(key string) ([]byte, error), table string) TableStats {
	st := TableStats{}
	if raw, err := get(statsKey(table)); err == nil {
		_ = json.Unmarshal(raw, &st)
	}
	if raw, err := get(cursorKey(table)); err == nil {
		_ = json.Unmarshal(raw, &st.Cursor)
	}
	st.Table = table
	return st
}
