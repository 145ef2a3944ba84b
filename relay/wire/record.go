package wire

import (
	"encoding/json"
	"fmt"
	"regexp"
)

// Op says what a record does to the store.
type Op string

// The operations a record can carry.
const (
	OpUpsert Op = "upsert"
	OpDelete Op = "delete"
)

// Record is one ServiceNow record (or deletion) on the wire. Fields holds the
// record's values exactly as the Table API returned them, after the agent
// removed every excluded field.
type Record struct {
	Op           Op                         `json:"op"`
	Table        string                     `json:"table"`
	SysID        string                     `json:"sys_id"`
	SysUpdatedOn string                     `json:"sys_updated_on"`
	SysModCount  int64                      `json:"sys_mod_count"`
	Fields       map[string]json.RawMessage `json:"fields,omitempty"`
	// Reason says why a delete happened (DeleteReason values); only on
	// deletes, optional (added after schema 1; readers must accept its
	// absence).
	Reason string `json:"reason,omitempty"`
	// Repair marks an upsert a reconciliation sweep found changed in
	// ServiceNow without a version change (a script with
	// autoSysFields(false)): it replaces a stored record of the same
	// version, never a tombstone or a newer version. Only on upserts,
	// optional (added after schema 1; readers must accept its absence).
	Repair bool `json:"repair,omitempty"`
}

// Why a record was deleted: the values of Record.Reason.
const (
	// DeleteAudit: a sys_audit row with fieldname DELETED.
	DeleteAudit = "audit"
	// DeleteRecord: a row of sys_audit_delete.
	DeleteRecord = "delete_record"
	// DeleteReconciliation: a reconciliation sweep found the record gone
	// from ServiceNow.
	DeleteReconciliation = "reconcile"
)

// ValidDeleteReason reports whether s can be a delete reason: a name like
// the constants above. Unknown names pass, so an agent newer than the relay
// can add a reason without its batches being refused.
func ValidDeleteReason(s string) bool { return ValidName(s) }

// TimeLayout is ServiceNow's date-time format (UTC, one-second resolution).
const TimeLayout = "2006-01-02 15:04:05"

var (
	sysIDRE = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)
	timeRE  = regexp.MustCompile(`^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$`)
)

// ValidSysID reports whether s can be a ServiceNow sys_id: 1 to 64 letters,
// digits, '_', '.' or '-', so it never carries query or subject syntax.
func ValidSysID(s string) bool { return sysIDRE.MatchString(s) }

// ValidTime reports whether s has ServiceNow's date-time shape,
// "YYYY-MM-DD HH:MM:SS" (TimeLayout).
func ValidTime(s string) bool { return timeRE.MatchString(s) }

// Validate checks the record's envelope (not its fields).
func (r *Record) Validate() error {
	switch {
	case r.Op != OpUpsert && r.Op != OpDelete:
		return fmt.Errorf("record %s: op must be upsert or delete (got %q)", r.SysID, r.Op)
	case !ValidTable(r.Table):
		return fmt.Errorf("record %s: invalid table %q", r.SysID, r.Table)
	case !ValidSysID(r.SysID):
		return fmt.Errorf("record in %s: invalid sys_id %q", r.Table, r.SysID)
	case !ValidTime(r.SysUpdatedOn):
		return fmt.Errorf("record %s/%s: sys_updated_on must be YYYY-MM-DD HH:MM:SS (got %q)", r.Table, r.SysID, r.SysUpdatedOn)
	case r.SysModCount < 0:
		return fmt.Errorf("record %s/%s: negative sys_mod_count", r.Table, r.SysID)
	case r.Repair && r.Op != OpUpsert:
		return fmt.Errorf("record %s/%s: repair is only on an upsert (got %s)", r.Table, r.SysID, r.Op)
	case r.Reason != "" && (r.Op != OpDelete || !ValidDeleteReason(r.Reason)):
		return fmt.Errorf("record %s/%s: reason must be a name such as audit, delete_record or reconcile, and only on a delete (got %q on %s)", r.Table, r.SysID, r.Reason, r.Op)
	}
	return nil
}

// Version orders the versions of one record: sys_updated_on first, then
// sys_mod_count.
type Version struct {
	UpdatedOn string `json:"sys_updated_on"` // ServiceNow UTC "YYYY-MM-DD HH:MM:SS"; sorts as text
	ModCount  int64  `json:"sys_mod_count"`
}

// Version returns the record's version.
func (r *Record) Version() Version { return Version{r.SysUpdatedOn, r.SysModCount} }

// Compare returns -1, 0 or +1 as v is older than, equal to or newer than w.
func (v Version) Compare(w Version) int {
	switch {
	case v.UpdatedOn < w.UpdatedOn:
		return -1
	case v.UpdatedOn > w.UpdatedOn:
		return 1
	case v.ModCount < w.ModCount:
		return -1
	case v.ModCount > w.ModCount:
		return 1
	}
	return 0
}

// Newer reports whether v replaces w in the store.
func (v Version) Newer(w Version) bool { return v.Compare(w) > 0 }
