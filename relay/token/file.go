package token

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/sei-edge/servicenow-edge/relay/enroll"
	"github.com/sei-edge/servicenow-edge/relay/wire"
)

// FileName is the token file inside data_dir.
const FileName = "http-tokens.json"

// prefix starts every tenant token, so a leaked one is recognisable (secret
// scanners) and never mistaken for the admin token.
const prefix = "seit_"

// ErrNotFound is returned by Revoke for an id that names no token.
var ErrNotFound = errors.New("no such token")

// Token is what the relay keeps of a tenant token: never the token itself.
type Token struct {
	ID      string    `json:"id"`
	Tenant  string    `json:"tenant"`
	Name    string    `json:"name,omitempty"`
	Hash    string    `json:"sha256"` // hex SHA-256 of the token
	Created time.Time `json:"created"`
}

// File is the token file of one data_dir. Its methods are safe for
// concurrent use, also across processes (Create and Revoke take a file
// lock); Lookup re-reads the file when it changed.
type File struct {
	path string

	mu sync.Mutex
	// mu guards the fields below: the last file content Lookup read.
	stat   os.FileInfo
	byHash map[string]Token
}

// Open returns the token file of dataDir. It does no I/O: a missing file
// holds no tokens.
func Open(dataDir string) *File {
	return &File{path: dataDir + string(os.PathSeparator) + FileName}
}

// Path is the token file's path.
func (f *File) Path() string { return f.path }

// Create makes a token for tenant, stores its hash and returns the token,
// which is never stored or shown again.
func (f *File) Create(tenant, name string, now time.Time) (string, Token, error) {
	plain, t, err := newToken(tenant, name, now)
	if err != nil {
		return "", Token{}, err
	}
	err = f.update(func(ts []Token) ([]Token, error) { return append(ts, t), nil })
	if err != nil {
		return "", Token{}, err
	}
	return plain, t, nil
}

// newToken checks tenant and name and makes a token: the secret, and what
// is stored of it.
func newToken(tenant, name string, now time.Time) (string, Token, error) {
	if err := wire.CheckName("tenant", tenant); err != nil {
		return "", Token{}, err
	}
	if len(name) > 128 {
		return "", Token{}, fmt.Errorf("name: at most 128 bytes (got %d)", len(name))
	}
	var secret, id [32]byte
	if _, err := rand.Read(secret[:]); err != nil {
		return "", Token{}, fmt.Errorf("generate token: %w", err)
	}
	_, _ = rand.Read(id[:6])
	plain := prefix + hex.EncodeToString(secret[:])
	return plain, Token{ID: hex.EncodeToString(id[:6]), Tenant: tenant, Name: name, Hash: Hash(plain), Created: now.UTC().Truncate(time.Second)}, nil
}

// Revoke removes the token id; the relay refuses it from its next request.
func (f *File) Revoke(id string) (Token, error) {
	var gone Token
	err := f.update(func(ts []Token) ([]Token, error) {
		i := slices.IndexFunc(ts, func(t Token) bool { return t.ID == id })
		if i < 0 {
			return nil, fmt.Errorf("revoke token %q: %w (see sei-relay token list)", id, ErrNotFound)
		}
		gone = ts[i]
		return slices.Delete(ts, i, i+1), nil
	})
	return gone, err
}

// List returns the tokens, by tenant then creation.
func (f *File) List() ([]Token, error) {
	ts, err := f.read()
	if err != nil {
		return nil, err
	}
	sortTokens(ts)
	return ts, nil
}

// sortTokens orders ts by tenant, then creation.
func sortTokens(ts []Token) {
	slices.SortStableFunc(ts, func(a, b Token) int {
		if a.Tenant != b.Tenant {
			return cmpString(a.Tenant, b.Tenant)
		}
		return a.Created.Compare(b.Created)
	})
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Lookup returns the tenant token matching token, reading the file again
// when it changed since the last call. ok is false for an unknown token.
func (f *File) Lookup(token string) (t Token, ok bool, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.refreshLocked(); err != nil {
		return Token{}, false, err
	}
	h := Hash(token)
	t, ok = f.byHash[h]
	// The map lookup is on a hash, which tells nothing of the token; the
	// final comparison is constant time all the same.
	if !ok || subtle.ConstantTimeCompare([]byte(t.Hash), []byte(h)) != 1 {
		return Token{}, false, nil
	}
	return t, true, nil
}

// refreshLocked re-reads the file when its size, time or identity changed.
func (f *File) refreshLocked() error {
	st, err := os.Stat(f.path)
	if errors.Is(err, os.ErrNotExist) {
		f.stat, f.byHash = nil, nil
		return nil
	}
	if err != nil {
		return fmt.Errorf("read token file: %w", err)
	}
	if f.stat != nil && os.SameFile(f.stat, st) && st.ModTime().Equal(f.stat.ModTime()) && st.Size() == f.stat.Size() {
		return nil
	}
	ts, err := f.read()
	if err != nil {
		return err
	}
	f.byHash = make(map[string]Token, len(ts))
	for _, t := range ts {
		f.byHash[t.Hash] = t
	}
	f.stat = st
	return nil
}

// read returns the file's tokens; a missing file holds none.
func (f *File) read() ([]Token, error) {
	raw, err := os.ReadFile(f.path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read token file: %w", err)
	}
	var ts []Token
	if err := json.Unmarshal(raw, &ts); err != nil {
		return nil, fmt.Errorf("read token file %s: %w", f.path, err)
	}
	return ts, nil
}

// update changes the file under its lock, atomically.
func (f *File) update(change func([]Token) ([]Token, error)) error {
	return enroll.Locked(f.path+".lock", func() error {
		ts, err := f.read()
		if err != nil {
			return err
		}
		if ts, err = change(ts); err != nil {
			return err
		}
		raw, err := json.MarshalIndent(ts, "", "  ")
		if err != nil {
			return fmt.Errorf("encode token file: %w", err)
		}
		return enroll.WriteFileAtomic(f.path, append(raw, '\n'), 0o600)
	})
}

// Hash is the hex SHA-256 of a token, the form the relay keeps.
func Hash(token string) string {
	h := sha256.Sum256([]byte(token))
	return hex.EncodeToString(h[:])
}

// TenantOf returns the tenant a tenant token reads (the api package's
// Tenants interface).
func (f *File) TenantOf(_ context.Context, token string) (string, bool, error) {
	t, ok, err := f.Lookup(token)
	return t.Tenant, ok, err
}
