package store

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/sei-edge/servicenow-edge/relay/wire"
)

// ErrInvalidRecord is returned (wrapped) by Apply for a batch holding a
// record that can never be stored: a bad key, version or fields. Retrying
// such a batch is pointless; the caller should quarantine it.
var ErrInvalidRecord = errors.New("invalid record")

// maxSysIDLen bounds a sys_id (ServiceNow's are 32 hex digits).
const maxSysIDLen = 255

func checkKey(tenant, integration, table, sysID string) error {
	switch {
	case !wire.ValidName(tenant):
		return fmt.Errorf("tenant %q", tenant)
	case !wire.ValidName(integration):
		return fmt.Errorf("integration %q", integration)
	case !wire.ValidTable(table):
		return fmt.Errorf("table %q", table)
	case sysID == "" || len(sysID) > maxSysIDLen || strings.ContainsRune(sysID, 0) || !utf8.ValidString(sysID):
		return fmt.Errorf("sys_id %q", sysID)
	}
	return nil
}

// CheckRecord reports, as an error wrapping ErrInvalidRecord, why r cannot be
// stored. Stores call it on every record before writing any, so a bad record
// fails its whole batch and both stores refuse the same records. The key
// parts must be valid names and sys_id UTF-8 without NUL (so that keys order
// the same, bytewise, in every store),
// sys_updated_on must be ServiceNow's "YYYY-MM-DD HH:MM:SS" (versions compare
// as text), and Fields, when present, must be valid UTF-8 JSON (PostgreSQL
// refuses anything else, so Badger must too).
func CheckRecord(r *Record) error {
	if err := checkKey(r.Tenant, r.Integration, r.Table, r.SysID); err != nil {
		return fmt.Errorf("check record: %v: %w", err, ErrInvalidRecord)
	}
	if _, err := time.Parse(wire.TimeLayout, r.SysUpdatedOn); err != nil || len(r.SysUpdatedOn) != len(wire.TimeLayout) {
		return fmt.Errorf("check record %s/%s: sys_updated_on %q: %w", r.Table, r.SysID, r.SysUpdatedOn, ErrInvalidRecord)
	}
	if r.SysModCount < 0 {
		return fmt.Errorf("check record %s/%s: negative sys_mod_count: %w", r.Table, r.SysID, ErrInvalidRecord)
	}
	if r.Reason != "" && (!r.Deleted || !wire.ValidDeleteReason(r.Reason)) {
		return fmt.Errorf("check record %s/%s: delete reason %q: %w", r.Table, r.SysID, r.Reason, ErrInvalidRecord)
	}
	if !r.Deleted && len(r.Fields) > 0 && (!json.Valid(r.Fields) || !utf8.Valid(r.Fields)) {
		return fmt.Errorf("check record %s/%s: fields are not UTF-8 JSON: %w", r.Table, r.SysID, ErrInvalidRecord)
	}
	return nil
}

// CompareKeys orders records by (tenant, integration, table, sys_id): the
// order List returns and the order stores write in, so that concurrent
// writers lock keys in the same order.
func CompareKeys(a, b *Record) int {
	return cmp.Or(
		strings.Compare(a.Tenant, b.Tenant),
		strings.Compare(a.Integration, b.Integration),
		strings.Compare(a.Table, b.Table),
		strings.Compare(a.SysID, b.SysID),
	)
}

// Prepare checks every record (see CheckRecord) and returns a new slice
// sorted by key with one record per key, the newest; a delete, or an upsert
// with empty Fields, is returned with Fields nil. dropped counts the records that lost to a newer (or equal,
// earlier-listed) version of the same key within recs. recs is not modified.
func Prepare(recs []Record) (out []Record, dropped int, err error) {
	for i := range recs {
		if err := CheckRecord(&recs[i]); err != nil {
			return nil, 0, err
		}
	}
	out = slices.Clone(recs)
	// Stable, so among equal versions of one key the first listed wins.
	slices.SortStableFunc(out, func(a, b Record) int { return CompareKeys(&a, &b) })
	n := 0
	for i := range out {
		if out[i].Deleted || len(out[i].Fields) == 0 {
			out[i].Fields = nil
		}
		if n > 0 && CompareKeys(&out[n-1], &out[i]) == 0 {
			if out[i].Version().Newer(out[n-1].Version()) || out[i].Repair && out[i].Version() == out[n-1].Version() && !out[n-1].Deleted {
				out[n-1] = out[i]
			}
			continue
		}
		out[n] = out[i]
		n++
	}
	return out[:n], len(recs) - n, nil
}
