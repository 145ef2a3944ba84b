package forward

import (
	"testing"
	"time"
)

func TestRetryWait(t *testing.T) {
	base := 2 * time.Second
	for _, tt := range []struct {
		failures int
		jitter   float64
		want     time.Duration
	}{
		{1, 0, 2 * time.Second},
		{2, 0, 4 * time.Second},
		{3, 0, 8 * time.Second},
		{6, 0, 60 * time.Second}, // 64s capped
		{100, 0, 60 * time.Second},
		{100, 0.999999, 30*time.Second + 30*time.Microsecond}, // at most half off
		{1, 0.5, 1500 * time.Millisecond},
	} {
		got := retryWait(base, tt.failures, tt.jitter)
		if d := got - tt.want; d < -time.Millisecond || d > time.Millisecond {
			t.Errorf("retryWait(%s, %d, %g) = %s, want %s", base, tt.failures, tt.jitter, got, tt.want)
		}
	}
	if got := retryWait(2*time.Minute, 5, 0); got != 2*time.Minute {
		t.Errorf("a base above the cap is kept: got %s", got)
	}
}

// TestOutageRateLimitsWarnings: 1,000 failures in a minute make one
// warning; the next one, a minute on, counts the rest; recovery is told
// once, with the outage's length.
func TestOutageRateLimitsWarnings(t *testing.T) {
	var o outage
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	warns := 0
	for i := range 1000 {
		if warn, n := o.failed(t0.Add(time.Duration(i) * 50 * time.Millisecond)); warn {
			warns++
			if n != 1 {
				t.Errorf("first warning stands for %d failures, want 1", n)
			}
		}
	}
	if warns != 1 {
		t.Fatalf("%d warnings in 50 s of failures, want 1", warns)
	}
	warn, n := o.failed(t0.Add(61 * time.Second))
	if !warn || n != 1000 {
		t.Errorf("after a minute: warn %v for %d failures, want true for 1000", warn, n)
	}
	if d := o.recovered(t0.Add(90 * time.Second)); d != 90*time.Second {
		t.Errorf("recovered after %s, want 1m30s", d)
	}
	if d := o.recovered(t0.Add(91 * time.Second)); d != 0 {
		t.Errorf("a second recovery reports %s, want 0 (nothing to tell)", d)
	}
}
