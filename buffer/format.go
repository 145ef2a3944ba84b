package buffer

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"

	"github.com/dgraph-io/badger/v4"
)

// Format is the on-disk format this code writes, stored under x/format.
//
//   - 1 (no x/format key): metadata without checksum or range, state values
//     stored bare.
//   - 2: metadata with the data's CRC-32C, the batch's Range and a CRC-32C of
//     its own; state values prefixed with a version byte and their CRC-32C;
//     pending repairs under r/, recently acked ranges under a/.
//
// Open migrates a format 1 buffer in place and refuses a newer one with
// ErrNewerFormat.
const Format = 2

// ErrNewerFormat means the buffer was written by a newer agent whose format
// this one cannot read. Nothing was changed: upgrade the agent again.
var ErrNewerFormat = errors.New("buffer written by a newer agent")

// stateV2 is the first byte of an encoded state value.
const stateV2 = 2

// encodeState is a state value as stored: version, CRC-32C of val, val.
func encodeState(val []byte) []byte {
	p := make([]byte, 0, 5+len(val))
	p = append(p, stateV2)
	p = binary.BigEndian.AppendUint32(p, checksum(val))
	return append(p, val...)
}

// decodeState checks and strips what encodeState added.
func decodeState(p []byte) ([]byte, error) {
	if len(p) < 5 || p[0] != stateV2 {
		return nil, fmt.Errorf("%w: state value of %d bytes has no valid header", ErrDamaged, len(p))
	}
	val := p[5:]
	if binary.BigEndian.Uint32(p[1:5]) != checksum(val) {
		return nil, fmt.Errorf("%w: state value checksum mismatch", ErrDamaged)
	}
	return val, nil
}

// readFormat returns the stored format: 0 for a new, empty database, 1
// for one written before the format key existed.
func readFormat(txn *badger.Txn) (int, error) {
	raw, err := getValue(txn, keyFormat)
	if errors.Is(err, badger.ErrKeyNotFound) {
		if _, err := txn.Get(keyInstance); errors.Is(err, badger.ErrKeyNotFound) {
			return 0, nil
		} else if err != nil {
			return 0, err
		}
		return 1, nil
	}
	if err != nil {
		return 0, err
	}
	f, err := strconv.Atoi(string(raw))
	if err != nil || f < 1 {
		return 0, fmt.Errorf("%w: format key holds %q", ErrDamaged, raw)
	}
	return f, nil
}

// checkFormat makes the database format Format: it writes the key on a new
// database, migrates a format 1 one and refuses a newer one.
func (b *Buffer) checkFormat() error {
	var f int
	if err := b.db.View(func(txn *badger.Txn) (err error) { f, err = readFormat(txn); return err }); err != nil {
		return fmt.Errorf("read buffer format: %w", err)
	}
	switch {
	case f > Format:
		return fmt.Errorf("%w: its format is %d, this agent reads formats up to %d; "+
			"run the newer agent again, or move %s aside to start a fresh buffer (it is re-read from ServiceNow)",
			ErrNewerFormat, f, Format, b.opts.Dir)
	case f == Format:
		return b.restoreMirror(false)
	case f == 0:
		if err := b.restoreMirror(true); err != nil {
			return err
		}
	case f == 1:
		if err := b.restoreMirror(false); err != nil {
			return err
		}
		b.log.Warn().Int("from", 1).Int("to", Format).Msg("buffer: migrating the buffer format in place")
		if err := b.migrateMeta(); err != nil {
			return fmt.Errorf("migrate buffer format 1 to %d: %w", Format, err)
		}
	}
	// The state values and the format key change in one transaction: a
	// crash before it leaves format 1 state to migrate again, after it
	// none.
	err := b.db.Update(func(txn *badger.Txn) error {
		if f == 1 {
			if err := migrateState(txn); err != nil {
				return err
			}
		}
		return txn.Set(keyFormat, []byte(strconv.Itoa(Format)))
	})
	if err != nil {
		return fmt.Errorf("write buffer format %d: %w", Format, err)
	}
	return nil
}

// migrateMeta rewrites every version 1 metadata value as version 2, with
// the checksum of the data as it is now, a chunk per transaction. Version 2
// values are left alone, so a migration cut short resumes.
func (b *Buffer) migrateMeta() error {
	var todo []uint64
	err := b.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{PrefetchValues: true, PrefetchSize: 100, Prefix: prefixMeta})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			seq, ok := seqFromKey(prefixMeta, it.Item().Key())
			err := it.Item().Value(func(v []byte) error {
				if ok && len(v) > 0 && v[0] == metaV1 {
					todo = append(todo, seq)
				}
				return nil
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	for i := 0; i < len(todo); i += 64 {
		chunk := todo[i:min(i+64, len(todo))]
		if err := b.db.Update(func(txn *badger.Txn) error { return migrateMetaChunk(txn, chunk) }); err != nil {
			return err
		}
	}
	return nil
}

func migrateMetaChunk(txn *badger.Txn, seqs []uint64) error {
	for _, seq := range seqs {
		raw, err := getValue(txn, seqKey(prefixMeta, seq))
		if err != nil {
			return fmt.Errorf("read batch %d: %w", seq, err)
		}
		e, _, err := decodeMeta(seq, raw)
		if err != nil {
			continue // left for load, which repairs it
		}
		data, err := getValue(txn, seqKey(prefixData, seq))
		if errors.Is(err, badger.ErrKeyNotFound) {
			continue // left for load, which repairs it
		}
		if err != nil {
			return fmt.Errorf("read batch %d: %w", seq, err)
		}
		e.sum = checksum(data)
		if err := txn.Set(seqKey(prefixMeta, seq), encodeMeta(e)); err != nil {
			return err
		}
	}
	return nil
}

// migrateState wraps every bare format 1 state value.
func migrateState(txn *badger.Txn) error {
	it := txn.NewIterator(badger.IteratorOptions{PrefetchValues: true, Prefix: prefixState})
	defer it.Close()
	type kv struct{ k, v []byte }
	var all []kv
	for it.Rewind(); it.Valid(); it.Next() {
		v, err := it.Item().ValueCopy(nil)
		if err != nil {
			return err
		}
		all = append(all, kv{it.Item().KeyCopy(nil), v})
	}
	for _, e := range all {
		if err := txn.Set(e.k, encodeState(e.v)); err != nil {
			return err
		}
	}
	return nil
}
