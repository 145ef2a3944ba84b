package quota

import (
	"errors"
	"strings"
	"sync"
	"testing"
)

// TestLedgerPausesAtMaxBytes fills one tenant to its byte quota: it is
// refused with an error naming quota.max_bytes until it drained to 90%,
// and another tenant is admitted throughout.
func TestLedgerPausesAtMaxBytes(t *testing.T) {
	l, err := NewLedger(1000)
	if err != nil {
		t.Fatal(err)
	}
	for range 9 {
		if err := l.Admit("ta"); err != nil {
			t.Fatalf("admit below the quota: %v", err)
		}
		l.Added("ta", 100)
	}
	if err := l.Admit("ta"); err != nil {
		t.Fatalf("admit at 900 of 1000: %v", err)
	}
	l.Added("ta", 100)
	err = l.Admit("ta")
	if !errors.Is(err, ErrOverQuota) || !strings.Contains(err.Error(), "quota.max_bytes") {
		t.Fatalf("admit at 1000 of 1000: %v, want ErrOverQuota naming quota.max_bytes", err)
	}
	if err := l.Admit("tb"); err != nil {
		t.Fatalf("other tenant refused: %v", err)
	}
	l.Removed("ta", 50) // 950: still above 90%
	if l.Admit("ta") == nil {
		t.Fatal("admitted at 950 of 1000, before draining to 90%")
	}
	l.Removed("ta", 50) // 900
	if err := l.Admit("ta"); err != nil {
		t.Fatalf("still refused at 900 of 1000: %v", err)
	}
	if n, paused := l.Held("ta"); n != 900 || paused {
		t.Fatalf("Held = %d %v, want 900 false", n, paused)
	}
}

// TestLedgerSettle: a tenant that holds no batch is set to zero (an
// estimate after a restart, a batch the stream dropped), unless it was
// added to after the mark; the count never goes below zero.
func TestLedgerSettle(t *testing.T) {
	l, _ := NewLedger(1000)
	l.Reset(map[string]int64{"ta": 2000, "tb": 300})
	if !l.Paused("ta") || l.Paused("tb") {
		t.Fatal("Reset over the quota did not pause ta alone")
	}
	mark := l.Mark()
	l.Added("tb", 10) // after the mark: the stream counts were read before it landed
	l.Settle(map[string]int64{}, mark)
	if n, paused := l.Held("ta"); n != 0 || paused {
		t.Fatalf("ta after Settle = %d %v, want 0 false", n, paused)
	}
	if n, _ := l.Held("tb"); n != 310 {
		t.Fatalf("tb after Settle = %d, want 310 (added after the mark)", n)
	}
	l.Removed("tb", 1000)
	if n, _ := l.Held("tb"); n != 0 {
		t.Fatalf("tb below zero: %d", n)
	}
	if _, err := NewLedger(0); err == nil {
		t.Fatal("NewLedger(0) accepted")
	}
}

// TestLedgerConcurrent runs the gateway's and consumer's calls at once
// (for -race) and checks nothing is lost.
func TestLedgerConcurrent(t *testing.T) {
	l, _ := NewLedger(1 << 40)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tenant := []string{"ta", "tb"}[i%2]
			for range 1000 {
				_ = l.Admit(tenant)
				l.Added(tenant, 3)
				l.Removed(tenant, 1)
			}
		}()
	}
	wg.Wait()
	for _, tenant := range []string{"ta", "tb"} {
		if n, _ := l.Held(tenant); n != 8000 {
			t.Errorf("%s holds %d, want 8000", tenant, n)
		}
	}
}
