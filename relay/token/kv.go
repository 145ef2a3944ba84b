package token

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Bucket is the JetStream key-value bucket, in the relay's account, that
// holds the tenant tokens' hashes: every relay replica connected to the
// cluster sees the same tokens.
const Bucket = "SEI_TOKENS"

// lookupTimeout bounds TenantOf's read of the bucket (one per request): a
// read takes a millisecond or so; one that takes seconds is NATS or its
// JetStream in trouble, and the request is better answered 503 at once than
// left waiting.
const lookupTimeout = 2 * time.Second

// ErrUnavailable is wrapped by the error of a read of the bucket that did
// not get an answer: the relay is not connected to NATS (TenantOf says so
// without waiting), or the read timed out. Nothing is known of the token
// then; the HTTP API answers 503.
var ErrUnavailable = errors.New("token store unavailable")

// KV is the token store in the Bucket: one key per token, the token's
// SHA-256 (hex), holding the Token as JSON. A request's token is one Get by
// its hash, so a token created or revoked on any relay counts on every
// relay from the next request. Safe for concurrent use.
type KV struct {
	kv jetstream.KeyValue
	nc *nats.Conn // the bucket's connection, to see it is down without waiting
}

// OpenKV creates the bucket (replicas copies; at least 1) or binds to it
// when it exists. It is idempotent and safe to call from several relays and
// commands at once.
func OpenKV(ctx context.Context, js jetstream.JetStream, replicas int) (*KV, error) {
	kv, err := js.KeyValue(ctx, Bucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		kv, err = js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: Bucket, History: 1,
			Description: "SEI relay: SHA-256 of the tenant API tokens", Storage: jetstream.FileStorage, Replicas: max(replicas, 1)})
		if errors.Is(err, jetstream.ErrBucketExists) {
			kv, err = js.KeyValue(ctx, Bucket)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("open token bucket %s: %w", Bucket, err)
	}
	return &KV{kv: kv, nc: js.Conn()}, nil
}

// Create makes a token for tenant, stores its hash and returns the token,
// which is never stored or shown again.
func (k *KV) Create(ctx context.Context, tenant, name string, now time.Time) (string, Token, error) {
	plain, t, err := newToken(tenant, name, now)
	if err != nil {
		return "", Token{}, err
	}
	if err := k.put(ctx, t); err != nil {
		return "", Token{}, err
	}
	return plain, t, nil
}

// put stores t unless a token with its hash exists.
func (k *KV) put(ctx context.Context, t Token) error {
	raw, err := json.Marshal(t)
	if err != nil {
		return fmt.Errorf("encode token %s: %w", t.ID, err)
	}
	if _, err := k.kv.Create(ctx, t.Hash, raw); err != nil {
		return fmt.Errorf("store token %s in bucket %s: %w", t.ID, Bucket, err)
	}
	return nil
}

// List returns the tokens, by tenant then creation.
func (k *KV) List(ctx context.Context) ([]Token, error) {
	keys, err := k.kv.ListKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("list bucket %s: %w", Bucket, err)
	}
	var out []Token
	for key := range keys.Keys() {
		t, ok, err := k.get(ctx, key)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, t)
		}
	}
	sortTokens(out)
	return out, nil
}

// Revoke removes the token id; every relay refuses it from its next
// request.
func (k *KV) Revoke(ctx context.Context, id string) (Token, error) {
	ts, err := k.List(ctx)
	if err != nil {
		return Token{}, err
	}
	i := slices.IndexFunc(ts, func(t Token) bool { return t.ID == id })
	if i < 0 {
		return Token{}, fmt.Errorf("revoke token %q: %w (see sei-relay token list)", id, ErrNotFound)
	}
	if err := k.kv.Delete(ctx, ts[i].Hash); err != nil {
		return Token{}, fmt.Errorf("revoke token %q: %w", id, err)
	}
	return ts[i], nil
}

// Lookup returns the tenant token matching token; ok is false for an
// unknown one.
func (k *KV) Lookup(ctx context.Context, token string) (Token, bool, error) {
	h := Hash(token)
	t, ok, err := k.get(ctx, h)
	// The key is a hash, which tells nothing of the token; the final
	// comparison is constant time all the same.
	if err != nil || !ok || subtle.ConstantTimeCompare([]byte(t.Hash), []byte(h)) != 1 {
		return Token{}, false, err
	}
	return t, true, nil
}

// get reads one key; ok is false when it is missing or deleted.
func (k *KV) get(ctx context.Context, key string) (Token, bool, error) {
	e, err := k.kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrInvalidKey) {
		return Token{}, false, nil
	}
	if err != nil {
		return Token{}, false, fmt.Errorf("read token bucket %s: %w: %w", Bucket, ErrUnavailable, err)
	}
	var t Token
	if err := json.Unmarshal(e.Value(), &t); err != nil {
		return Token{}, false, fmt.Errorf("token bucket %s key %s: %w", Bucket, key, err)
	}
	return t, true, nil
}

// TenantOf returns the tenant a tenant token reads (the api package's
// Tenants interface). It reads the bucket within ctx and lookupTimeout;
// while the relay is not connected to NATS it returns ErrUnavailable at
// once, rather than wait for a read the client would hold until the
// timeout.
func (k *KV) TenantOf(ctx context.Context, token string) (string, bool, error) {
	if k.nc != nil && !k.nc.IsConnected() {
		return "", false, fmt.Errorf("read token bucket %s: %w: not connected to NATS (%s)", Bucket, ErrUnavailable, k.nc.Status())
	}
	ctx, cancel := context.WithTimeout(ctx, lookupTimeout)
	defer cancel()
	t, ok, err := k.Lookup(ctx, token)
	return t.Tenant, ok, err
}

// Migrate moves the tokens of a data_dir's token file (the store before
// the bucket) into the bucket, keeping ids, names and times, and renames
// the file to FileName+".migrated". A token already in the bucket is kept
// as it is. It returns how many tokens it moved; a missing file moves none.
func (k *KV) Migrate(ctx context.Context, f *File) (int, error) {
	ts, err := f.read()
	if err != nil || ts == nil {
		return 0, err
	}
	n := 0
	for _, t := range ts {
		if len(t.Hash) != 64 {
			return n, fmt.Errorf("token file %s: token %s has no SHA-256", f.path, t.ID)
		}
		if _, ok, err := k.get(ctx, t.Hash); err != nil {
			return n, err
		} else if ok {
			continue
		}
		if err := k.put(ctx, t); err != nil && !errors.Is(err, jetstream.ErrKeyExists) {
			return n, err
		}
		n++
	}
	if err := os.Rename(f.path, f.path+".migrated"); err != nil {
		return n, fmt.Errorf("rename migrated token file: %w", err)
	}
	return n, nil
}
