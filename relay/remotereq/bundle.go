package remotereq

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/sei-edge/servicenow-edge/relay/wire"
)

// BundleBucket is the JetStream object store that keeps received bundles.
const BundleBucket = "SEI_BUNDLES"

// Bundle describes one stored support bundle.
type Bundle struct {
	ID      string    `json:"id"`
	Size    int64     `json:"size"`
	SHA256  string    `json:"sha256"`
	Expires time.Time `json:"expires"`
}

// bundleName is a bundle's object name: its tenant and agent are part of
// it, so a bundle is found only under the agent that made it.
func bundleName(tenant, agent, id string) string { return tenant + "/" + agent + "/" + id }

// store returns SEI_BUNDLES, creating or updating it on first use (a relay
// that never receives a bundle reserves no storage for them).
func (a *Asker) store(ctx context.Context) (jetstream.ObjectStore, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.obs != nil {
		return a.obs, nil
	}
	if a.cfg.JS == nil {
		return nil, fmt.Errorf("%w: this relay has no JetStream to keep bundles in", ErrUnavailable)
	}
	obs, err := a.cfg.JS.CreateOrUpdateObjectStore(ctx, jetstream.ObjectStoreConfig{
		Bucket:      BundleBucket,
		Description: "sei-relay: agents' support bundles, asked for with POST /v1/agents/{tenant}/{agent}/requests",
		TTL:         a.cfg.BundleTTL,
		MaxBytes:    a.cfg.BundleStoreBytes,
		Storage:     jetstream.FileStorage,
		Replicas:    a.cfg.Replicas,
	})
	if err != nil {
		return nil, fmt.Errorf("%w: object store %s (requests.bundle_store_max_bytes %d): %v", ErrUnavailable, BundleBucket, a.cfg.BundleStoreBytes, err)
	}
	a.obs = obs
	return obs, nil
}

// putBundle stores a checked bundle.
func (a *Asker) putBundle(ctx context.Context, tenant, agent, id string, data []byte, sum string) (Bundle, error) {
	obs, err := a.store(ctx)
	if err != nil {
		return Bundle{}, err
	}
	meta := jetstream.ObjectMeta{Name: bundleName(tenant, agent, id), Description: "support bundle of agent " + tenant + "/" + agent}
	if _, err := obs.Put(ctx, meta, bytes.NewReader(data)); err != nil {
		return Bundle{}, fmt.Errorf("%w: store bundle %s in %s (full? requests.bundle_store_max_bytes, kept requests.bundle_ttl): %v",
			ErrUnavailable, id, BundleBucket, err)
	}
	return Bundle{ID: id, Size: int64(len(data)), SHA256: sum, Expires: time.Now().Add(a.cfg.BundleTTL).UTC().Truncate(time.Second)}, nil
}

// OpenBundle returns a stored bundle's content and size; the caller closes
// it. The error wraps ErrNotFound for an id this agent has no bundle under.
func (a *Asker) OpenBundle(ctx context.Context, tenant, agent, id string) (io.ReadCloser, int64, error) {
	if !wire.ValidName(tenant) || !wire.ValidName(agent) || !wire.ValidName(id) {
		return nil, 0, ErrNotFound
	}
	obs, err := a.store(ctx)
	if err != nil {
		return nil, 0, err
	}
	res, err := obs.Get(ctx, bundleName(tenant, agent, id))
	if errors.Is(err, jetstream.ErrObjectNotFound) {
		return nil, 0, ErrNotFound
	}
	if err != nil {
		return nil, 0, fmt.Errorf("read bundle %s: %w", id, err)
	}
	info, err := res.Info()
	if err != nil {
		res.Close()
		return nil, 0, fmt.Errorf("read bundle %s: %w", id, err)
	}
	return res, int64(info.Size), nil
}
