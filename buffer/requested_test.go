package buffer

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/rs/zerolog"
)

// lockedBuf is a log sink safe for Badger's goroutines.
type lockedBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestRequestedRepairIsNotLoggedAsDamage: a repair asked for is pending
// and resolved like one for damage, survives a reopen, but its log line
// is at info level and does not say damage; AddRepair's still does.
func TestRequestedRepairIsNotLoggedAsDamage(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	var logs lockedBuf
	b, err := Open(Options{Dir: dir, Logger: zerolog.New(&logs)})
	if err != nil {
		t.Fatal(err)
	}
	r, err := b.AddRequestedRepair(ctx, Repair{Reason: "takeover: resume"})
	if err != nil {
		t.Fatal(err)
	}
	if out := logs.String(); strings.Contains(out, "damage") || strings.Contains(out, `"level":"error"`) || !strings.Contains(out, "takeover: resume") {
		t.Errorf("requested repair logged as:\n%s", out)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	b = openTest(t, Options{Dir: dir})
	if got := b.Repairs(); len(got) != 1 || got[0].ID != r.ID || got[0].Reason != "takeover: resume" || got[0].Range.Table != "" {
		t.Fatalf("after reopen: %+v", got)
	}
	if err := b.ResolveRepairs(ctx, r.ID); err != nil || len(b.Repairs()) != 0 {
		t.Fatalf("resolve: %v, pending %+v", err, b.Repairs())
	}

	var damageLogs lockedBuf
	b2, err := Open(Options{Dir: t.TempDir(), Logger: zerolog.New(&damageLogs)})
	if err != nil {
		t.Fatal(err)
	}
	defer b2.Close()
	if _, err := b2.AddRepair(ctx, Repair{Reason: "checksum"}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(damageLogs.String(), "damage found") {
		t.Errorf("damage repair logged as:\n%s", damageLogs.String())
	}
}
