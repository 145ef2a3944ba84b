package buffer

import (
	"context"
	"errors"
	"fmt"

	"github.com/dgraph-io/badger/v4"
)

// Get returns a copy of the state value of key, or an error wrapping
// ErrNotFound when it is absent, or ErrDamaged when the stored value fails
// its checksum (the caller rebuilds it from elsewhere; see the package
// documentation).
func (b *Buffer) Get(key string) ([]byte, error) {
	b.life.RLock()
	defer b.life.RUnlock()
	if b.closed {
		return nil, ErrClosed
	}
	var v []byte
	err := b.db.View(func(txn *badger.Txn) error {
		var err error
		raw, err := getValue(txn, stateKey(key))
		if err != nil {
			return err
		}
		v, err = decodeState(raw)
		return err
	})
	if errors.Is(err, badger.ErrKeyNotFound) {
		return nil, fmt.Errorf("get state %q: %w", key, ErrNotFound)
	}
	if err != nil && !errors.Is(err, ErrDamaged) {
		// Badger found the block holding it damaged, or could not read it.
		err = fmt.Errorf("%w: %w", ErrDamaged, err)
	}
	if err != nil {
		return nil, fmt.Errorf("get state %q: %w", key, err)
	}
	return v, nil
}

// Set stores val under key in its own fsynced transaction; a nil val deletes
// the key (an empty non-nil val is stored). State shares the database with
// the batches but not their key space, and is not bound by MaxBytes.
func (b *Buffer) Set(ctx context.Context, key string, val []byte) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("set state %q: %w", key, err)
	}
	if err := checkStateKey(key); err != nil {
		return fmt.Errorf("set state: %w", err)
	}
	b.life.RLock()
	defer b.life.RUnlock()
	if b.closed {
		return ErrClosed
	}
	err := b.db.Update(func(txn *badger.Txn) error { return writeState(txn, key, val) })
	if errors.Is(err, badger.ErrTxnTooBig) {
		err = fmt.Errorf("%w: %d bytes", ErrTooBig, len(val))
	}
	if err != nil {
		return fmt.Errorf("set state %q: %w", key, err)
	}
	if b.mirrored(key) {
		b.updateMirror(key, val)
	}
	return nil
}

func writeState(txn *badger.Txn, key string, val []byte) error {
	if val == nil {
		return txn.Delete(stateKey(key))
	}
	return txn.Set(stateKey(key), encodeState(val))
}

func checkStateKey(key string) error {
	if key == "" || len(key) > maxKeyBytes {
		return fmt.Errorf("state key %q: must be 1..%d bytes", key, maxKeyBytes)
	}
	return nil
}
