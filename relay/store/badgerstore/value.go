package badgerstore

import (
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
	prefixPayload    = 'p' // its data, under the same tenant and id
)

// schemaKey holds the key layout version; Open refuses a newer one.
var schemaKey = []byte("mschema")

// schemaVersion is the key and value layout this code writes. Version 2
// keys the quarantine by tenant (version 1: by id alone).
const schemaVersion = 2

// valueFormat is the first byte of a record value.
const valueFormat = 1

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
// uvarint length and sys_updated_on, then the fields as they came. The
// version comes first so that Apply decodes only what it compares.
func encodeValue(r *store.Record) []byte {
	b := make([]byte, 0, 2+binary.MaxVarintLen64*2+len(r.SysUpdatedOn)+len(r.Fields))
	var flags byte
	if r.Deleted {
		flags |= flagDeleted
	}
	b = append(b, valueFormat, flags)
	b = binary.AppendUvarint(b, uint64(r.SysModCount))
	b = binary.AppendUvarint(b, uint64(len(r.SysUpdatedOn)))
	b = append(b, r.SysUpdatedOn...)
	if !r.Deleted {
		b = append(b, r.Fields...)
	}
	return b
}

var errBadValue = errors.New("corrupt record value")

// decodeValue parses v into r's version, Deleted and Fields. Fields is
// copied out of v (Badger reuses value buffers) and nil when empty.
func decodeValue(v []byte, r *store.Record) error {
	ver, deleted, rest, err := decodeVersion(v)
	if err != nil {
		return err
	}
	r.SysUpdatedOn, r.SysModCount, r.Deleted = ver.UpdatedOn, ver.ModCount, deleted
	r.Fields = nil
	if len(rest) > 0 {
		r.Fields = append([]byte(nil), rest...)
	}
	return nil
}

func decodeVersion(v []byte) (ver wire.Version, deleted bool, rest []byte, err error) {
	if len(v) < 2 || v[0] != valueFormat {
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
