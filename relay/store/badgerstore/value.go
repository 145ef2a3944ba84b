package badgerstore

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"

	"github.com/sei-edge/servicenow-edge/relay/store"
	"github.com/sei-edge/servicenow-edge/relay/wire"
)

// Key prefixes; see the package comment.
const (
	prefixRecord     = 'r'
	prefixAgent      = 'a'
	prefixQuarantine = 'q' // a quarantined batch's metadata (JSON, no data)
	prefixFeed       = 'p' // 'p' tenant 0 seq(8, big-endian) -> integration 0 table 0 sys_id
	prefixHead       = 'h' // 'h' tenant -> uvarint highest position
	prefixMark       = 'k' // 'k' name 0 tenant -> a follower's mark
	prefixPayload    = 'd' // a quarantined batch's data, under the same tenant and id
	prefixPart       = 's' // 's' tenant 0 integration 0 set 0 index(2, big-endian) -> a part (JSON)
	prefixPartDone   = 'f' // 'f' tenant 0 integration 0 set -> when the set was applied (RFC 3339)
)

// epochKey holds the feed epoch, made when the store is created.
var epochKey = []byte("mfeed_epoch")

// schemaKey holds the key layout version; Open refuses a newer one.
var schemaKey = []byte("mschema")

// schemaVersion is the key and value layout this code writes. Layout 2
// added the feed: positions in record values and the 'p' and 'h' keys.
// Layout 3 keys the quarantine by tenant (before: by id alone) and keeps
// its data apart ('d' keys).
const schemaVersion = 3

// Record value formats (the first byte of a record value). Format 1 has no
// position and no delete reason; Open rewrites it to format 2.
const (
	valueFormat1 = 1
	valueFormat  = 2
)

const flagDeleted = 1

// recordPrefix returns the key prefix of tenant's records, narrowed to
// integration and then table when they are not "".
func recordPrefix(tenant, integration, table string) []byte {
	k := append([]byte{prefixRecord}, tenant...)
	k = append(k, 0)
	if integration == "" {
		return k
	}
	k = append(append(k, integration...), 0)
	if table == "" {
		return k
	}
	return append(append(k, table...), 0)
}

func recordKey(tenant, integration, table, sysID string) []byte {
	return append(recordPrefix(tenant, integration, table), sysID...)
}

// splitRecordKey returns the parts of a record key.
func splitRecordKey(k []byte) (tenant, integration, table, sysID string, err error) {
	if len(k) == 0 || k[0] != prefixRecord {
		return "", "", "", "", fmt.Errorf("decode record key %q: bad prefix", k)
	}
	parts := strings.SplitN(string(k[1:]), "\x00", 4)
	if len(parts) != 4 {
		return "", "", "", "", fmt.Errorf("decode record key %q: want 4 parts", k)
	}
	return parts[0], parts[1], parts[2], parts[3], nil
}

// encodeValue lays out a record's value: format, flags, uvarint mod count,
// uvarint length and sys_updated_on, uvarint position, uvarint length and
// delete reason, then the fields as they came. The version comes first so
// that Apply decodes only what it compares.
func encodeValue(r *store.Record, pos uint64) []byte {
	b := make([]byte, 0, 2+binary.MaxVarintLen64*4+len(r.SysUpdatedOn)+len(r.Reason)+len(r.Fields))
	var flags byte
	if r.Deleted {
		flags |= flagDeleted
	}
	b = append(b, valueFormat, flags)
	b = binary.AppendUvarint(b, uint64(r.SysModCount))
	b = binary.AppendUvarint(b, uint64(len(r.SysUpdatedOn)))
	b = append(b, r.SysUpdatedOn...)
	b = binary.AppendUvarint(b, pos)
	b = binary.AppendUvarint(b, uint64(len(r.Reason)))
	b = append(b, r.Reason...)
	if !r.Deleted {
		b = append(b, r.Fields...)
	}
	return b
}

var errBadValue = errors.New("corrupt record value")

// decodeValue parses v into r's version, Deleted, Reason and Fields, and
// returns its position (0 in format 1). Fields is copied out of v (Badger
// reuses value buffers) and nil when empty.
func decodeValue(v []byte, r *store.Record) (pos uint64, err error) {
	ver, deleted, rest, err := decodeVersion(v)
	if err != nil {
		return 0, err
	}
	r.SysUpdatedOn, r.SysModCount, r.Deleted = ver.UpdatedOn, ver.ModCount, deleted
	r.Reason = ""
	if v[0] == valueFormat {
		if pos, r.Reason, rest, err = decodeFeed(rest); err != nil {
			return 0, err
		}
	}
	r.Fields = nil
	if len(rest) > 0 {
		r.Fields = append([]byte(nil), rest...)
	}
	return pos, nil
}

// decodeFeed reads the position and reason of a format 2 value, after its
// version.
func decodeFeed(v []byte) (pos uint64, reason string, rest []byte, err error) {
	pos, n := binary.Uvarint(v)
	if n <= 0 {
		return 0, "", nil, errBadValue
	}
	v = v[n:]
	l, n := binary.Uvarint(v)
	if n <= 0 || uint64(len(v)-n) < l {
		return 0, "", nil, errBadValue
	}
	v = v[n:]
	return pos, string(v[:l]), v[l:], nil
}

// storedPosition returns the position of a record value (0 in format 1).
func storedPosition(v []byte) (uint64, error) {
	_, _, rest, err := decodeVersion(v)
	if err != nil || v[0] != valueFormat {
		return 0, err
	}
	pos, _, _, err := decodeFeed(rest)
	return pos, err
}

func decodeVersion(v []byte) (ver wire.Version, deleted bool, rest []byte, err error) {
	if len(v) < 2 || (v[0] != valueFormat && v[0] != valueFormat1) {
		return ver, false, nil, errBadValue
	}
	deleted = v[1]&flagDeleted != 0
	v = v[2:]
	mc, n := binary.Uvarint(v)
	if n <= 0 {
		return ver, false, nil, errBadValue
	}
	v = v[n:]
	l, n := binary.Uvarint(v)
	if n <= 0 || uint64(len(v)-n) < l {
		return ver, false, nil, errBadValue
	}
	v = v[n:]
	ver = wire.Version{UpdatedOn: string(v[:l]), ModCount: int64(mc)}
	return ver, deleted, v[l:], nil
}

// feedKey is the index entry of position seq of tenant.
func feedKey(tenant string, seq uint64) []byte {
	k := append(append([]byte{prefixFeed}, tenant...), 0)
	return binary.BigEndian.AppendUint64(k, seq)
}

// feedValue names the record a feed entry points at, under its tenant.
func feedValue(r *store.Record) []byte {
	return []byte(r.Integration + "\x00" + r.Table + "\x00" + r.SysID)
}

func headKey(tenant string) []byte { return append([]byte{prefixHead}, tenant...) }

func markKey(name, tenant string) []byte {
	return append(append(append([]byte{prefixMark}, name...), 0), tenant...)
}

// sameFields reports whether the stored value v holds r's fields.
func sameFields(v []byte, r *store.Record) bool {
	var stored store.Record
	if _, err := decodeValue(v, &stored); err != nil {
		return false
	}
	return bytes.Equal(stored.Fields, r.Fields)
}
