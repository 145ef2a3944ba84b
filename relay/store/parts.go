package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/sei-edge/servicenow-edge/relay/wire"
)

// Part is one part of a record too large for one message (see wire.Part):
// kept until every part of its set arrived, whichever relay received them,
// then reassembled, applied and deleted. It is keyed by (Tenant,
// Integration, Set, Index).
type Part struct {
	Tenant      string    `json:"tenant"`
	Integration string    `json:"integration"`
	Table       string    `json:"table"`
	Set         string    `json:"set"`   // the part set's id (wire.Part.Set)
	Index       int       `json:"index"` // 1..Count
	Count       int       `json:"count"`
	Data        []byte    `json:"data"`
	Time        time.Time `json:"time"` // when it was stored
}

// ErrPartSetDone is PutPart's answer for a part of a set that was applied
// already (FinishParts): the part is not stored, and its message can be
// acknowledged.
var ErrPartSetDone = errors.New("part set applied already")

// PartStore keeps the parts of part sets. Every method is idempotent, so a
// crash at any point and a redelivery never lose or double anything.
type PartStore interface {
	// PutPart stores p, replacing a part already stored under its key,
	// or returns ErrPartSetDone when its set was finished.
	PutPart(ctx context.Context, p Part) error
	// Parts returns the parts stored for a set, ordered by index.
	Parts(ctx context.Context, tenant, integration, set string) ([]Part, error)
	// DeleteParts removes every part of a set; a set that is not there is
	// not an error.
	DeleteParts(ctx context.Context, tenant, integration, set string) error
	// FinishParts removes every part of an applied set and remembers
	// until ExpireParts that it was applied, so a part delivered late is
	// not kept as the start of a new set. It is idempotent.
	FinishParts(ctx context.Context, tenant, integration, set string, at time.Time) error
	// ExpireParts removes every set that holds a part stored before
	// before, and returns how many sets it removed; it also forgets the
	// sets finished before before (not counted).
	ExpireParts(ctx context.Context, before time.Time) (int, error)
}

// CheckPart checks a part's key and bounds before it is stored.
func CheckPart(p *Part) error {
	switch {
	case !wire.ValidName(p.Tenant):
		return fmt.Errorf("part: invalid tenant %q", p.Tenant)
	case !wire.ValidName(p.Integration):
		return fmt.Errorf("part: invalid integration %q", p.Integration)
	case !wire.ValidTable(p.Table):
		return fmt.Errorf("part: invalid table %q", p.Table)
	case !wire.ValidPartSet(p.Set):
		return fmt.Errorf("part: invalid set id %q", p.Set)
	case p.Count < 2 || p.Count > wire.MaxParts:
		return fmt.Errorf("part: count %d, want 2..%d", p.Count, wire.MaxParts)
	case p.Index < 1 || p.Index > p.Count:
		return fmt.Errorf("part: index %d, want 1..%d", p.Index, p.Count)
	case len(p.Data) > wire.MaxPayload:
		return fmt.Errorf("part: %d bytes, at most %d", len(p.Data), wire.MaxPayload)
	}
	return nil
}
