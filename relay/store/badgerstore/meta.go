package badgerstore

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
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

func quarantineKey(id string) []byte { return append([]byte{prefixQuarantine}, id...) }

// Quarantine keeps q, replacing an entry with the same ID.
func (s *Store) Quarantine(ctx context.Context, q store.Quarantined) error {
	if err := store.CheckQuarantineID(q.ID); err != nil {
		return fmt.Errorf("quarantine batch: %w", err)
	}
	q.Time = store.NormTime(q.Time)
	v, err := json.Marshal(q)
	if err != nil {
		return fmt.Errorf("quarantine batch %s: %w", q.ID, err)
	}
	return s.put("quarantine batch "+q.ID, quarantineKey(q.ID), v)
}

// Quarantined lists the quarantined batches, oldest first (then by ID).
func (s *Store) Quarantined(ctx context.Context) ([]store.Quarantined, error) {
	var out []store.Quarantined
	err := s.scan([]byte{prefixQuarantine}, func(_, v []byte) error {
		var q store.Quarantined
		if err := json.Unmarshal(v, &q); err != nil {
			return err
		}
		q.Time = q.Time.UTC()
		out = append(out, q)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list quarantined batches: %w", err)
	}
	slices.SortFunc(out, func(a, b store.Quarantined) int {
		if c := a.Time.Compare(b.Time); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out, nil
}

// Release removes the quarantined batch id. Releasing an id that is not
// quarantined (say, released already) is not an error.
func (s *Store) Release(ctx context.Context, id string) error {
	if err := store.CheckQuarantineID(id); err != nil {
		return fmt.Errorf("release batch: %w", err)
	}
	release, err := s.acquire()
	if err != nil {
		return fmt.Errorf("release batch %s: %w", id, err)
	}
	defer release()
	if err := s.db.Update(func(txn *badger.Txn) error { return txn.Delete(quarantineKey(id)) }); err != nil {
		return fmt.Errorf("release batch %s: %w", id, err)
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
