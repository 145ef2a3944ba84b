package hosted

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/sei-edge/servicenow-edge/relay/wire"
)

// ErrNotFound is an integration the registry does not hold.
var ErrNotFound = errors.New("integration not found")

// ErrExists is a create of an integration id already taken.
var ErrExists = errors.New("integration already exists")

// casAttempts bounds the read-modify-write retries of Update.
const casAttempts = 10

// Registry keeps the integrations in a KV bucket, secrets sealed. It is
// safe for concurrent use, and across relay replicas: every change is a
// revision-checked write.
type Registry struct {
	kv     jetstream.KeyValue
	sealer *Sealer
	now    func() time.Time
}

// OpenRegistry creates or opens the integrations bucket.
func OpenRegistry(ctx context.Context, js jetstream.JetStream, replicas int, sealer *Sealer) (*Registry, error) {
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket: wire.HostedIntegrationsBucket, Description: "sei-relay hosted integrations (secrets sealed)",
		History: 1, Replicas: replicas, Storage: jetstream.FileStorage,
	})
	if err != nil {
		return nil, fmt.Errorf("open bucket %s: %w", wire.HostedIntegrationsBucket, err)
	}
	return &Registry{kv: kv, sealer: sealer, now: time.Now}, nil
}

// Create stores a new integration from a POST body; the id taken is an
// ErrExists error.
func (r *Registry) Create(ctx context.Context, s Spec) (*Integration, error) {
	in, auth, err := newIntegration(s, r.now().UTC())
	if err != nil {
		return nil, err
	}
	if err := r.setAuth(in, auth); err != nil {
		return nil, err
	}
	raw, err := json.Marshal(in)
	if err != nil {
		return nil, fmt.Errorf("encode integration %s: %w", in.ID, err)
	}
	rev, err := r.kv.Create(ctx, in.ID, raw)
	if errors.Is(err, jetstream.ErrKeyExists) {
		return nil, fmt.Errorf("create %s: %w", in.ID, ErrExists)
	}
	if err != nil {
		return nil, fmt.Errorf("store integration %s: %w", in.ID, err)
	}
	in.Revision = rev
	return in, nil
}

// setAuth seals a's secrets into in.Auth, keeping the stored ones a leaves
// empty. A change of method, grant, client or instance drops the OAuth
// tokens (they belong to the old application).
func (r *Registry) setAuth(in *Integration, a *AuthSpec) error {
	old := in.Auth
	na := storedAuth{Method: a.Method, Grant: a.Grant, Username: a.Username, ClientID: a.ClientID}
	if a.Method == MethodBasic {
		na.Grant = ""
	}
	var err error
	if na.Password, err = r.sealOrKeep(a.Password, old.Password, in.ID); err != nil {
		return err
	}
	if na.ClientSecret, err = r.sealOrKeep(a.ClientSecret, old.ClientSecret, in.ID); err != nil {
		return err
	}
	if old.Method == na.Method && old.Grant == na.Grant && old.ClientID == na.ClientID {
		na.Token, na.Connected = old.Token, old.Connected
	}
	in.Auth = na
	return nil
}

func (r *Registry) sealOrKeep(plain, old, id string) (string, error) {
	if plain == "" {
		return old, nil
	}
	return r.sealer.Seal(plain, id)
}

// Get returns one integration.
func (r *Registry) Get(ctx context.Context, id string) (*Integration, error) {
	if _, _, err := wire.ParseHostedID(id); err != nil {
		return nil, fmt.Errorf("get %s: %w", id, ErrNotFound)
	}
	e, err := r.kv.Get(ctx, id)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, fmt.Errorf("get %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("read integration %s: %w", id, err)
	}
	return decode(e)
}

func decode(e jetstream.KeyValueEntry) (*Integration, error) {
	var in Integration
	if err := json.Unmarshal(e.Value(), &in); err != nil {
		return nil, fmt.Errorf("decode integration %s: %w", e.Key(), err)
	}
	in.Revision = e.Revision()
	return &in, nil
}

// List returns every integration, of tenant alone unless it is "".
func (r *Registry) List(ctx context.Context, tenant string) ([]*Integration, error) {
	lister, err := r.kv.ListKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("list integrations: %w", err)
	}
	defer lister.Stop()
	var out []*Integration
	for key := range lister.Keys() {
		t, _, err := wire.ParseHostedID(key)
		if err != nil || (tenant != "" && t != tenant) {
			continue
		}
		in, err := r.Get(ctx, key)
		if errors.Is(err, ErrNotFound) {
			continue // deleted meanwhile
		}
		if err != nil {
			return nil, err
		}
		out = append(out, in)
	}
	return out, nil
}

// Update applies change to the integration with a revision check, reading
// again and retrying when another writer came first. change must not keep
// the pointer.
func (r *Registry) Update(ctx context.Context, id string, change func(*Integration) error) (*Integration, error) {
	for range casAttempts {
		in, err := r.Get(ctx, id)
		if err != nil {
			return nil, err
		}
		if err := change(in); err != nil {
			return nil, err
		}
		in.Updated = r.now().UTC()
		raw, err := json.Marshal(in)
		if err != nil {
			return nil, fmt.Errorf("encode integration %s: %w", id, err)
		}
		rev, err := r.kv.Update(ctx, id, raw, in.Revision)
		if errors.Is(err, jetstream.ErrKeyExists) {
			continue // wrong last sequence: someone else wrote
		}
		if err != nil {
			return nil, fmt.Errorf("store integration %s: %w", id, err)
		}
		in.Revision = rev
		return in, nil
	}
	return nil, fmt.Errorf("update integration %s: too many concurrent changes, try again", id)
}

// Patch applies a PATCH body.
func (r *Registry) Patch(ctx context.Context, id string, s Spec) (*Integration, error) {
	for k, v := range map[string]*string{"tenant": s.Tenant, "name": s.Name, "type": s.Type} {
		if v != nil {
			return nil, fieldErr(k, "cannot be changed: create a new integration")
		}
	}
	return r.Update(ctx, id, func(in *Integration) error {
		oldURL := in.URL
		old := in.Auth
		if err := in.apply(s, &old); err != nil {
			return err
		}
		if s.Auth != nil {
			if err := r.setAuth(in, s.Auth); err != nil {
				return err
			}
		}
		if in.URL != oldURL {
			in.Auth.Token, in.Auth.Connected = "", time.Time{} // tokens of another instance
		}
		if s.Auth != nil || in.URL != oldURL {
			in.Failing = "" // new settings: try them
		}
		in.Settings++
		return nil
	})
}

// Delete removes an integration; its hosted agent stops polling it at its
// next lease renewal. Records already received stay in the store.
func (r *Registry) Delete(ctx context.Context, id string) error {
	if _, err := r.Get(ctx, id); err != nil {
		return err
	}
	if err := r.kv.Purge(ctx, id); err != nil {
		return fmt.Errorf("delete integration %s: %w", id, err)
	}
	return nil
}

// Pipeline returns what a hosted agent needs to poll in: the settings with
// the secrets opened.
func (r *Registry) Pipeline(in *Integration) (wire.HostedPipeline, error) {
	p := wire.HostedPipeline{ID: in.ID, Tenant: in.Tenant, Name: in.Name, Revision: in.Settings, URL: in.URL,
		ExcludeFields: in.ExcludeFields, Tables: in.Tables, Interval: in.Interval, Agent: wire.HostedAgentID(in.Name)}
	a := in.Auth
	p.Auth = wire.HostedAuth{Method: a.Method, Grant: a.Grant, Username: a.Username, ClientID: a.ClientID}
	var err error
	if p.Auth.Password, err = r.sealer.Open(a.Password, in.ID); err != nil {
		return p, fmt.Errorf("integration %s password: %w", in.ID, err)
	}
	if p.Auth.ClientSecret, err = r.sealer.Open(a.ClientSecret, in.ID); err != nil {
		return p, fmt.Errorf("integration %s client secret: %w", in.ID, err)
	}
	tok, err := r.sealer.Open(a.Token, in.ID)
	if err != nil {
		return p, fmt.Errorf("integration %s OAuth token: %w", in.ID, err)
	}
	if tok != "" {
		p.Auth.Token = &wire.HostedToken{}
		if err := json.Unmarshal([]byte(tok), p.Auth.Token); err != nil {
			return p, fmt.Errorf("integration %s OAuth token: %w", in.ID, err)
		}
	}
	return p, nil
}

// SetToken seals an OAuth connect's tokens into the integration and clears
// its failure.
func (r *Registry) SetToken(ctx context.Context, id string, t wire.HostedToken) (*Integration, error) {
	raw, err := json.Marshal(t)
	if err != nil {
		return nil, err
	}
	sealed, err := r.sealer.Seal(string(raw), id)
	if err != nil {
		return nil, err
	}
	return r.Update(ctx, id, func(in *Integration) error {
		in.Auth.Token, in.Auth.Connected, in.Failing = sealed, r.now().UTC(), ""
		in.Settings++
		return nil
	})
}

// SetFailing marks the integration FAILING with reason, unless its settings
// changed since settings (a report about settings already replaced).
func (r *Registry) SetFailing(ctx context.Context, id string, settings uint64, reason string) error {
	_, err := r.Update(ctx, id, func(in *Integration) error {
		if in.Settings != settings {
			return errStale
		}
		in.Failing = reason
		return nil
	})
	if errors.Is(err, errStale) {
		return nil
	}
	return err
}

var errStale = errors.New("stale report")
