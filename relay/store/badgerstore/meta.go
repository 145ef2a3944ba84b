package badgerstore

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/sei-edge/servicenow-edge/relay/store"
)

// agentValue is what the store keeps of an agent besides its key. The
// heartbeat is bytes (base64 in JSON), so it comes back exactly as given,
// nil included.
type agentValue struct {
	Seen      time.Time `json:"seen"`
	Heartbeat []byte    `json:"heartbeat"`
}

func agentKey(tenant, agent string) []byte {
	return append(append(append([]byte{prefixAgent}, tenant...), 0), agent...)
}

// PutAgent stores a's heartbeat, replacing the agent's previous one.
func (s *Store) PutAgent(ctx context.Context, a store.Agent) error {
	if err := store.CheckAgent(&a); err != nil {
		return fmt.Errorf("put agent: %w", err)
	}
	v, err := json.Marshal(agentValue{Seen: store.NormTime(a.Seen), Heartbeat: a.Heartbeat})
	if err != nil {
		return fmt.Errorf("put agent %s/%s: %w", a.Tenant, a.Agent, err)
	}
	return s.put(fmt.Sprintf("put agent %s/%s", a.Tenant, a.Agent), agentKey(a.Tenant, a.Agent), v)
}

// Agents lists the agents of tenant ("" for all) by tenant, then agent.
func (s *Store) Agents(ctx context.Context, tenant string) ([]store.Agent, error) {
	prefix := []byte{prefixAgent}
	if tenant != "" {
		prefix = append(append(prefix, tenant...), 0)
	}
	var out []store.Agent
	err := s.scan(prefix, func(k, v []byte) error {
		tenant, agent, ok := strings.Cut(string(k[1:]), "\x00")
		var av agentValue
		if err := json.Unmarshal(v, &av); err != nil || !ok {
			return fmt.Errorf("decode agent %q: corrupt value", k)
		}
		out = append(out, store.Agent{Tenant: tenant, Agent: agent, Seen: av.Seen.UTC(), Heartbeat: av.Heartbeat})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list agents of tenant %q: %w", tenant, err)
	}
	return out, nil
}

// quarantineKey is prefixQuarantine, tenant, NUL, id: a tenant's entries
// are one key range, so a tenant's count and a page are prefix scans. The
// data lives apart (payloadKey), so neither reads it.
func quarantineKey(tenant, id string) []byte {
	return append(append(append([]byte{prefixQuarantine}, tenant...), 0), id...)
}

// payloadKey holds the data of the batch quarantineKey(tenant, id) names.
func payloadKey(tenant, id string) []byte {
	k := quarantineKey(tenant, id)
	k[0] = prefixPayload
	return k
}

// putQuarantined writes q's metadata and data.
func putQuarantined(txn *badger.Txn, q store.Quarantined) error {
	data := q.Data
	q.Data, q.Size = nil, len(data)
	v, err := json.Marshal(q)
	if err != nil {
		return err
	}
	if err := txn.Set(quarantineKey(q.Tenant, q.ID), v); err != nil {
		return err
	}
	return txn.Set(payloadKey(q.Tenant, q.ID), data)
}

// Quarantine keeps q under (q.Tenant, q.ID), never replacing an entry, and
// refuses it when the tenant is at lim. The check and the write are one
// transaction; Badger's conflict detection makes a concurrent writer retry.
func (s *Store) Quarantine(ctx context.Context, q store.Quarantined, lim store.QuarantineLimits) error {
	if err := store.CheckQuarantineID(q.Tenant, q.ID); err != nil {
		return fmt.Errorf("quarantine batch: %w", err)
	}
	q.Time = store.NormTime(q.Time)
	release, err := s.acquire()
	if err != nil {
		return fmt.Errorf("quarantine batch %s/%s: %w", q.Tenant, q.ID, err)
	}
	defer release()
	key := quarantineKey(q.Tenant, q.ID)
	err = s.db.Update(func(txn *badger.Txn) error {
		if _, err := txn.Get(key); err == nil {
			return store.ErrQuarantineExists
		} else if !errors.Is(err, badger.ErrKeyNotFound) {
			return err
		}
		n, bytes, err := quarantineUsage(txn, q.Tenant)
		if err != nil {
			return err
		}
		if lim.Full(n, bytes, int64(len(q.Data))) {
			return fmt.Errorf("%w (%d batches, %d bytes)", store.ErrQuarantineFull, n, bytes)
		}
		return putQuarantined(txn, q)
	})
	if err != nil {
		return fmt.Errorf("quarantine batch %s/%s: %w", q.Tenant, q.ID, err)
	}
	return nil
}

// quarantineUsage counts a tenant's quarantined batches and their bytes
// from the payload keys' sizes (Badger's ValueSize: exact for small values,
// approximate for those in the value log), reading no value.
func quarantineUsage(txn *badger.Txn, tenant string) (n int, bytes int64, err error) {
	opts := badger.DefaultIteratorOptions
	opts.Prefix, opts.PrefetchValues = payloadKey(tenant, ""), false
	it := txn.NewIterator(opts)
	defer it.Close()
	for it.Rewind(); it.Valid(); it.Next() {
		n++
		bytes += it.Item().ValueSize()
	}
	return n, bytes, nil
}

// QuarantineList returns a page of quarantined batches without their data,
// by (tenant, id). The cursor is the last key of the page, hex-encoded.
func (s *Store) QuarantineList(ctx context.Context, q store.QuarantineQuery) ([]store.Quarantined, string, error) {
	limit, err := store.QuarantineLimit(q)
	if err != nil {
		return nil, "", err
	}
	prefix := []byte{prefixQuarantine}
	if q.Tenant != "" {
		prefix = quarantineKey(q.Tenant, "")
	}
	start := prefix
	if q.After != "" {
		after, err := hex.DecodeString(q.After)
		if err != nil || !bytes.HasPrefix(after, prefix) {
			return nil, "", fmt.Errorf("quarantine list: %w", store.ErrBadCursor)
		}
		start = append(after, 0) // the next key after it
	}
	release, err := s.acquire()
	if err != nil {
		return nil, "", fmt.Errorf("quarantine list: %w", err)
	}
	defer release()
	var (
		out  []store.Quarantined
		next string
	)
	err = s.db.View(func(txn *badger.Txn) error {
		opts := badger.DefaultIteratorOptions
		opts.Prefix = prefix
		it := txn.NewIterator(opts)
		defer it.Close()
		for it.Seek(start); it.Valid(); it.Next() {
			if len(out) == limit {
				last := out[len(out)-1]
				next = hex.EncodeToString(quarantineKey(last.Tenant, last.ID))
				return nil
			}
			var e store.Quarantined
			if err := it.Item().Value(func(v []byte) error { return json.Unmarshal(v, &e) }); err != nil {
				return fmt.Errorf("read %q: %w", it.Item().Key(), err)
			}
			e.Data, e.Time = nil, e.Time.UTC()
			out = append(out, e)
		}
		return nil
	})
	if err != nil {
		return nil, "", fmt.Errorf("quarantine list: %w", err)
	}
	return out, next, nil
}

// QuarantinedBatch returns one quarantined batch with its data.
func (s *Store) QuarantinedBatch(ctx context.Context, tenant, id string) (store.Quarantined, error) {
	var q store.Quarantined
	if err := store.CheckQuarantineID(tenant, id); err != nil {
		return q, fmt.Errorf("read quarantined batch: %w", err)
	}
	release, err := s.acquire()
	if err != nil {
		return q, fmt.Errorf("read quarantined batch %s/%s: %w", tenant, id, err)
	}
	defer release()
	err = s.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(quarantineKey(tenant, id))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return store.ErrNotFound
		}
		if err != nil {
			return err
		}
		if err := item.Value(func(v []byte) error { return json.Unmarshal(v, &q) }); err != nil {
			return err
		}
		if item, err = txn.Get(payloadKey(tenant, id)); err != nil {
			return fmt.Errorf("read data: %w", err)
		}
		q.Data, err = item.ValueCopy(nil)
		return err
	})
	if err != nil {
		return store.Quarantined{}, fmt.Errorf("read quarantined batch %s/%s: %w", tenant, id, err)
	}
	q.Time = q.Time.UTC()
	return q, nil
}

// Release removes the quarantined batch (tenant, id). Releasing one that is
// not quarantined (say, released already) is not an error.
func (s *Store) Release(ctx context.Context, tenant, id string) error {
	if err := store.CheckQuarantineID(tenant, id); err != nil {
		return fmt.Errorf("release batch: %w", err)
	}
	release, err := s.acquire()
	if err != nil {
		return fmt.Errorf("release batch %s/%s: %w", tenant, id, err)
	}
	defer release()
	err = s.db.Update(func(txn *badger.Txn) error {
		if err := txn.Delete(quarantineKey(tenant, id)); err != nil {
			return err
		}
		return txn.Delete(payloadKey(tenant, id))
	})
	if err != nil {
		return fmt.Errorf("release batch %s/%s: %w", tenant, id, err)
	}
	return nil
}

// put sets one key; what names the operation for the error.
func (s *Store) put(what string, key, value []byte) error {
	release, err := s.acquire()
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	defer release()
	if err := s.db.Update(func(txn *badger.Txn) error { return txn.Set(key, value) }); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

// scan calls fn with every key under prefix and its value, in key order.
// Both slices are valid only during the call.
func (s *Store) scan(prefix []byte, fn func(k, v []byte) error) error {
	release, err := s.acquire()
	if err != nil {
		return err
	}
	defer release()
	return s.db.View(func(txn *badger.Txn) error {
		opts := badger.DefaultIteratorOptions
		opts.Prefix = prefix
		it := txn.NewIterator(opts)
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			item := it.Item()
			if err := item.Value(func(v []byte) error { return fn(item.Key(), v) }); err != nil {
				return fmt.Errorf("read %q: %w", item.Key(), err)
			}
		}
		return nil
	})
}
