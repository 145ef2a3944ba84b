package store

import (
	"errors"
	"fmt"

	"github.com/sei-edge/servicenow-edge/relay/wire"
)

// ErrBadQuery is returned by List for a query outside its contract: no valid
// tenant, an invalid integration or table filter, or a Limit outside
// 0..MaxLimit. Like ErrBadCursor it is the caller's mistake, never transient.
var ErrBadQuery = errors.New("invalid query")

// Plan is a checked Query: what a store runs.
type Plan struct {
	Tenant      string
	Integration string  // "" for every integration
	Table       string  // "" for every table
	Limit       int     // 1..MaxLimit
	After       *Cursor // nil for the first page
}

// PlanQuery checks q and resolves its defaults and cursor. Errors wrap
// ErrBadQuery or ErrBadCursor. A cursor issued for another tenant is a bad
// cursor: it cannot be a position in this tenant's records.
func PlanQuery(q Query) (Plan, error) {
	p := Plan{Tenant: q.Tenant, Integration: q.Integration, Table: q.Table, Limit: q.Limit}
	switch {
	case !wire.ValidName(q.Tenant):
		return Plan{}, fmt.Errorf("check query: tenant %q: %w", q.Tenant, ErrBadQuery)
	case q.Integration != "" && !wire.ValidName(q.Integration):
		return Plan{}, fmt.Errorf("check query: integration %q: %w", q.Integration, ErrBadQuery)
	case q.Table != "" && !wire.ValidTable(q.Table):
		return Plan{}, fmt.Errorf("check query: table %q: %w", q.Table, ErrBadQuery)
	case q.Limit < 0 || q.Limit > MaxLimit:
		return Plan{}, fmt.Errorf("check query: limit must be 1..%d (got %d): %w", MaxLimit, q.Limit, ErrBadQuery)
	case q.Limit == 0:
		p.Limit = DefaultLimit
	}
	if q.After != "" {
		c, err := DecodeCursor(q.After)
		if err != nil {
			return Plan{}, err
		}
		if c.Tenant != q.Tenant {
			return Plan{}, fmt.Errorf("decode cursor: issued for another tenant: %w", ErrBadCursor)
		}
		p.After = &c
	}
	return p, nil
}
