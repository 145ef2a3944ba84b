package token

import (
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var now = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// TestFileKeepsOnlyHashes: the file is 0600 and holds the hash, never the
// token; Lookup finds the tenant; a revoked token is gone at the next lookup.
func TestFileKeepsOnlyHashes(t *testing.T) {
	f := Open(t.TempDir())
	if _, ok, err := f.Lookup("anything"); ok || err != nil {
		t.Fatalf("empty file: ok %v err %v", ok, err)
	}
	tok, meta, err := f.Create("acme", "cloud", now)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(tok, prefix) || len(tok) != len(prefix)+64 {
		t.Errorf("token %q: want %s and 256 bits in hex", tok, prefix)
	}
	raw, err := os.ReadFile(f.Path())
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(raw), tok) || !strings.Contains(string(raw), Hash(tok)) {
		t.Errorf("token file holds the token or lacks its hash:\n%s", raw)
	}
	if fi, _ := os.Stat(f.Path()); fi.Mode().Perm() != 0o600 {
		t.Errorf("token file mode %v", fi.Mode().Perm())
	}
	if got, ok, err := f.Lookup(tok); !ok || err != nil || got.Tenant != "acme" || got.ID != meta.ID {
		t.Errorf("Lookup = %+v %v %v", got, ok, err)
	}
	if _, ok, _ := f.Lookup(tok + "x"); ok {
		t.Error("Lookup accepted a longer token")
	}
	if _, err := f.Revoke(meta.ID); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := f.Lookup(tok); ok {
		t.Error("revoked token still found")
	}
	if _, err := f.Revoke(meta.ID); err == nil {
		t.Error("second revoke succeeded")
	}
	if _, _, err := f.Create("Bad.Tenant", "", now); err == nil {
		t.Error("Create accepted an invalid tenant")
	}
}

// TestFileConcurrentCreates: creates from several goroutines (as from
// several CLI processes, through the file lock) lose nothing, and a reader
// polling meanwhile sees each one.
func TestFileConcurrentCreates(t *testing.T) {
	dir := t.TempDir()
	reader := Open(dir)
	var wg sync.WaitGroup
	toks := make(chan string, 40)
	for range 4 {
		wg.Go(func() {
			f := Open(dir) // a process of its own
			for range 10 {
				tok, _, err := f.Create("acme", "", now)
				if err != nil {
					t.Error(err)
					return
				}
				toks <- tok
			}
		})
	}
	wg.Wait()
	close(toks)
	for tok := range toks {
		if _, ok, err := reader.Lookup(tok); !ok || err != nil {
			t.Errorf("token lost: %v", err)
		}
	}
	if ts, _ := reader.List(); len(ts) != 40 {
		t.Errorf("List holds %d tokens, want 40", len(ts))
	}
}
