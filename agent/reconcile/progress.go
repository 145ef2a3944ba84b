package reconcile

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/sei-edge/servicenow-edge/buffer"
)

// Phases of a sweep, in order.
const (
	phaseCount  = "count"
	phaseIDs    = "ids"
	phaseVerify = "verify"
	phaseDone   = "done"
)

// Window is one month of sys_created_on (From inclusive, To exclusive; ""
// is open) and its counts.
type Window struct {
	From   string `json:"from,omitempty"`
	To     string `json:"to,omitempty"`
	Source int64  `json:"servicenow"` // the Aggregate API's count
	Index  int64  `json:"index"`      // the index's count before the sweep's repairs
	// SourceSum and IndexSum are the sums of sys_mod_count (SourceSum -1
	// when ServiceNow did not say): a window whose counts agree but whose
	// sums differ had as many rows appear as vanish, and is id-swept too.
	SourceSum int64 `json:"servicenow_mod_sum"`
	IndexSum  int64 `json:"index_mod_sum"`
	Pending   int64 `json:"pending,omitempty"` // rows not indexed yet, updated past the bound: the next poll's
	Repaired  int64 `json:"repaired,omitempty"`
	Deleted   int64 `json:"deleted,omitempty"`
	Differing bool  `json:"differing,omitempty"` // counts differed: id-swept
	Swept     bool  `json:"swept,omitempty"`     // its id sweep is done
}

// Result is one table's last sweep, and the sweep in progress. It is saved
// as JSON under stateKey(table) after every step.
type Result struct {
	Table    string    `json:"table"`
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished,omitzero"` // zero while in progress
	Bound    string    `json:"bound"`             // the poll cursor when the sweep started
	// Floor is where the comparison of sys_updated_on starts: the first
	// sweep's bound less the lookback (or the oldest version indexed, if
	// older), kept by later sweeps. Rows ServiceNow last updated before it
	// predate the agent's lookback, were never forwarded, and are not
	// compared.
	Floor   string   `json:"floor,omitempty"`
	Phase   string   `json:"phase"`
	Windows []Window `json:"windows,omitempty"`
	// Position within the phase: the window being id-swept, and the
	// last sys_id done (id sweep) or index key done (hash check).
	Window int    `json:"window,omitempty"`
	After  string `json:"after,omitempty"`

	Source   int64 `json:"servicenow"` // ServiceNow's count, all windows
	Indexed  int64 `json:"forwarded"`  // the index's count of the compared windows after the repairs
	Total    int64 `json:"total"`      // every index row of the table (newer rows included)
	Repaired int64 `json:"repaired"`   // rows fetched and forwarded
	Deleted  int64 `json:"deleted"`    // deletes forwarded
	Verified int64 `json:"verified,omitempty"`
	// Rechecked: the hash check changed the index of windows whose counts
	// had agreed (it deleted rows ServiceNow no longer has, so a row that
	// appeared in the same window may be missing); those windows were
	// id-swept after it, once.
	Rechecked bool `json:"rechecked,omitempty"`
	// Mismatch lists the windows whose counts still differ after the
	// sweep (ServiceNow minus pending against the index).
	Mismatch []string `json:"mismatch,omitempty"`
	Error    string   `json:"error,omitempty"`
	// Previous is the last finished sweep's result while one runs.
	Previous *Result `json:"previous,omitempty"`
}

// Done reports whether r is a finished sweep.
func (r Result) Done() bool { return r.Phase == phaseDone && !r.Finished.IsZero() }

// LoadResults reads the saved result of each table in tables that has one,
// through get (the buffer's Get): for an offline status.
func LoadResults(get func(string) ([]byte, error), tables []string) map[string]Result {
	out := map[string]Result{}
	for _, t := range tables {
		if r, err := loadResult(get, t); err == nil && r != nil {
			out[t] = *r
		}
	}
	return out
}

// stateKey is the buffer state key of a table's Result.
func stateKey(table string) string { return "reconcile/" + table }

// loadResult reads table's saved Result; a missing or unreadable one is a
// fresh start.
func loadResult(get func(string) ([]byte, error), table string) (*Result, error) {
	raw, err := get(stateKey(table))
	if errors.Is(err, buffer.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read reconcile state of %s: %w", table, err)
	}
	var r Result
	if err := json.Unmarshal(raw, &r); err != nil {
		return nil, fmt.Errorf("read reconcile state of %s: %w", table, err)
	}
	return &r, nil
}

// save writes r.
func (s *Sweeper) save(ctx context.Context, r *Result) error {
	raw, err := json.Marshal(r)
	if err != nil {
		return err
	}
	if err := s.idx.Set(ctx, stateKey(r.Table), raw); err != nil {
		return fmt.Errorf("save reconcile state of %s: %w", r.Table, err)
	}
	s.publish(r)
	return nil
}
