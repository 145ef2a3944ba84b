package poll

import (
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/sei-edge/servicenow-edge/relay/wire"
)

// The forwarded index: for each (table, sys_id) the agent forwarded, what it
// forwarded last. It lives in the buffer's state under IndexPrefix(table),
// one key a row, and is written in the same transaction as the batch that
// carries the record (and the cursor, for the page's last batch): the
// index never claims a record the buffer does not hold. A delete removes
// the row's key. The reconciliation sweep (agent/reconcile) compares it
// with ServiceNow; nothing else reads it, and nothing loads it whole (the
// sweep iterates it with buffer.ScanState).
//
// Key:   "rx/<table>/" + 'h' + the 16 bytes of a 32-hex-digit sys_id
//
//	(or 's' + the sys_id as it is, for any other form).
//
// Value: created (uint32, unix seconds of sys_created_on as forwarded;
//
//	0 when the record does not carry it), updated (uint32, unix seconds
//	of sys_updated_on), the field hash (uint64), then sys_mod_count
//	(uvarint). 17 to 19 bytes; the buffer adds its 5-byte header.
//
// A row costs about 40 bytes before Badger's own per-key overhead: the
// key's 17-byte id (the "rx/<table>/" prefix is shared, and Badger stores
// keys prefix-compressed in its tables), the 22-24-byte value.

// indexRoot is the state key space of the index.
const indexRoot = "rx/"

// IndexPrefix is the state key prefix of table's index rows.
func IndexPrefix(table string) string { return indexRoot + table + "/" }

// IndexKey is the state key of (table, sysID)'s index row.
func IndexKey(table, sysID string) string {
	if len(sysID) == 32 && strings.ToLower(sysID) == sysID {
		if b, err := hex.DecodeString(sysID); err == nil {
			return IndexPrefix(table) + "h" + string(b)
		}
	}
	return IndexPrefix(table) + "s" + sysID
}

// IndexSysID is the sys_id of an index key of table (the inverse of
// IndexKey); ok is false when key is not one.
func IndexSysID(table, key string) (string, bool) {
	rest, ok := strings.CutPrefix(key, IndexPrefix(table))
	if !ok || rest == "" {
		return "", false
	}
	switch rest[0] {
	case 'h':
		if len(rest) != 17 {
			return "", false
		}
		return hex.EncodeToString([]byte(rest[1:])), true
	case 's':
		return rest[1:], len(rest) > 1
	}
	return "", false
}

// IndexEntry is what the index holds of one forwarded record.
type IndexEntry struct {
	Created  uint32 // sys_created_on, unix seconds; 0 unknown
	Updated  uint32 // sys_updated_on, unix seconds
	ModCount int64
	Hash     uint64 // FieldHash of the forwarded fields
}

// Version is the entry's version in ServiceNow's terms.
func (e IndexEntry) Version() wire.Version {
	return wire.Version{UpdatedOn: FormatUnix(e.Updated), ModCount: e.ModCount}
}

// ParseUnix reads a ServiceNow date-time as unix seconds; 0 when it is not
// one or outside uint32.
func ParseUnix(s string) uint32 {
	t, err := time.Parse(wire.TimeLayout, s)
	if err != nil || t.Unix() <= 0 || t.Unix() > 1<<32-1 {
		return 0
	}
	return uint32(t.Unix())
}

// FormatUnix is the inverse of ParseUnix ("" for 0).
func FormatUnix(u uint32) string {
	if u == 0 {
		return ""
	}
	return time.Unix(int64(u), 0).UTC().Format(wire.TimeLayout)
}

// EntryOf is the index entry of an upsert record.
func EntryOf(r wire.Record) IndexEntry {
	var names []string
	return entryOf(r, &names)
}

// entryOf is EntryOf with names, the sorted field names of the previous
// record, to reuse when the field set is the same (wire.SortedNames).
func entryOf(r wire.Record, names *[]string) IndexEntry {
	e := IndexEntry{Updated: ParseUnix(r.SysUpdatedOn), ModCount: r.SysModCount, Hash: fieldHash(r.Fields, names)}
	if raw, ok := r.Fields["sys_created_on"]; ok {
		e.Created = ParseUnix(strings.Trim(string(raw), `"`))
	}
	return e
}

// FieldHash is a 64-bit FNV-1a hash of the fields, in name order, name and
// raw value each: two fetches of an unchanged record hash the same, since
// the client reads every record with the same parameters.
func FieldHash(fields map[string]json.RawMessage) uint64 {
	var names []string
	return fieldHash(fields, &names)
}

// FNV-1a, 64 bits (hash/fnv's, inlined: no allocation, no interface call).
const (
	fnvOffset64 = 14695981039346656037
	fnvPrime64  = 1099511628211
)

func fieldHash(fields map[string]json.RawMessage, names *[]string) uint64 {
	*names = wire.SortedNames(fields, *names)
	h := uint64(fnvOffset64)
	for _, k := range *names {
		for i := 0; i < len(k); i++ {
			h = (h ^ uint64(k[i])) * fnvPrime64
		}
		h *= fnvPrime64 // the 0 byte after the name
		for _, c := range fields[k] {
			h = (h ^ uint64(c)) * fnvPrime64
		}
		h *= fnvPrime64 // the 0 byte after the value
	}
	return h
}

// Encode is the entry's stored form.
func (e IndexEntry) Encode() []byte {
	p := make([]byte, 0, 16+binary.MaxVarintLen64)
	p = binary.BigEndian.AppendUint32(p, e.Created)
	p = binary.BigEndian.AppendUint32(p, e.Updated)
	p = binary.BigEndian.AppendUint64(p, e.Hash)
	return binary.AppendUvarint(p, uint64(max(e.ModCount, 0)))
}

// errBadEntry marks an index value Encode could not have made.
var errBadEntry = errors.New("bad index entry")

// DecodeEntry is the inverse of Encode.
func DecodeEntry(p []byte) (IndexEntry, error) {
	if len(p) < 17 {
		return IndexEntry{}, errBadEntry
	}
	e := IndexEntry{Created: binary.BigEndian.Uint32(p), Updated: binary.BigEndian.Uint32(p[4:]), Hash: binary.BigEndian.Uint64(p[8:])}
	n, k := binary.Uvarint(p[16:])
	if k <= 0 || 16+k != len(p) || n > 1<<62 {
		return IndexEntry{}, errBadEntry
	}
	e.ModCount = int64(n)
	return e, nil
}

// indexState adds to state the index updates of recs: an entry for each
// upsert, a delete (nil) for each delete. Records of one batch are in
// version order for a key, so the last wins.
// Upserts are indexed only for tables incremental on sys_updated_on
// (indexed): insert-only tables (history, journal) are not reconciled.
func indexState(state map[string][]byte, recs []wire.Record, indexed func(table string) bool) map[string][]byte {
	var names []string
	for _, r := range recs {
		if r.Op != wire.OpDelete && !indexed(r.Table) {
			continue
		}
		if state == nil {
			state = make(map[string][]byte, len(recs)+1)
		}
		if r.Op == wire.OpDelete {
			state[IndexKey(r.Table, r.SysID)] = nil
			continue
		}
		state[IndexKey(r.Table, r.SysID)] = entryOf(r, &names).Encode()
	}
	return state
}
