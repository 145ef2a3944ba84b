package storetest

import (
	"testing"

	"github.com/sei-edge/servicenow-edge/relay/store"
)

// testRepairReplacesEqualVersion: a repair (a reconciliation sweep's copy of
// a record changed without a version change) replaces a live record of the
// same version with different fields; it never replaces a newer version or
// a tombstone, and an unchanged repair is ignored.
func testRepairReplacesEqualVersion(t *testing.T, s store.Store) {
	stored := rec("sn", "incident", "a", 10, 5, `{"v":"stored"}`)
	wantResult(t, apply(t, s, stored), 1, 0)
	repair := rec("sn", "incident", "a", 10, 5, `{"v":"changed silently"}`)
	repair.Repair = true
	wantResult(t, apply(t, s, repair), 1, 0)
	repair.Repair = false
	wantStored(t, s, repair)

	again := repair
	again.Repair = true
	wantResult(t, apply(t, s, again), 0, 1) // same fields: nothing to do

	old := rec("sn", "incident", "a", 9, 5, `{"v":"older repair"}`)
	old.Repair = true
	wantResult(t, apply(t, s, old), 0, 1)
	wantStored(t, s, repair)

	d := del("sn", "incident", "b", 10, 5)
	wantResult(t, apply(t, s, d), 1, 0)
	onTomb := rec("sn", "incident", "b", 10, 5, `{"v":"resurrected"}`)
	onTomb.Repair = true
	wantResult(t, apply(t, s, onTomb), 0, 1)
	wantStored(t, s, d)

	// Within one batch, a repair of an equal version replaces the first.
	first := rec("sn", "incident", "c", 5, 5, `{"v":"first"}`)
	fix := rec("sn", "incident", "c", 5, 5, `{"v":"fixed"}`)
	fix.Repair = true
	wantResult(t, apply(t, s, first, fix), 1, 1)
	fix.Repair = false
	wantStored(t, s, fix)
}
