package badgerstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/dgraph-io/badger/v4"

	"github.com/sei-edge/servicenow-edge/relay/store"
)

// PutAgents stores many heartbeats (as PutAgent each) in as few
// transactions as Badger allows, so thousands of agents heartbeating cost a
// few synced commits a second, not one each. An invalid agent fails the
// call before anything is written.
func (s *Store) PutAgents(ctx context.Context, as []store.Agent) error {
	type kv struct{ k, v []byte }
	kvs := make([]kv, 0, len(as))
	for i := range as {
		a := as[i]
		if err := store.CheckAgent(&a); err != nil {
			return fmt.Errorf("put agents: %w", err)
		}
		v, err := json.Marshal(agentValue{Seen: store.NormTime(a.Seen), Heartbeat: a.Heartbeat})
		if err != nil {
			return fmt.Errorf("put agent %s/%s: %w", a.Tenant, a.Agent, err)
		}
		kvs = append(kvs, kv{agentKey(a.Tenant, a.Agent), v})
	}
	release, err := s.acquire()
	if err != nil {
		return fmt.Errorf("put agents: %w", err)
	}
	defer release()
	txn := s.db.NewTransaction(true)
	defer func() { txn.Discard() }()
	for _, e := range kvs {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("put agents: %w", err)
		}
		err := txn.Set(e.k, e.v)
		if errors.Is(err, badger.ErrTxnTooBig) {
			if err := txn.Commit(); err != nil {
				return fmt.Errorf("put agents: %w", err)
			}
			txn = s.db.NewTransaction(true)
			err = txn.Set(e.k, e.v)
		}
		if err != nil {
			return fmt.Errorf("put agents: %w", err)
		}
	}
	if err := txn.Commit(); err != nil {
		return fmt.Errorf("put agents: %w", err)
	}
	return nil
}
