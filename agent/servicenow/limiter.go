package servicenow

import (
	"context"
	"math/rand/v2"
	"sync"
	"time"
)

// limiter spaces requests to at most rate per second (no bursts). Safe for
// concurrent use. A nil *limiter never waits.
type limiter struct {
	interval time.Duration
	sleep    func(context.Context, time.Duration) error
	now      func() time.Time

	mu   sync.Mutex // guards next
	next time.Time  // earliest start of the next request
}

func newLimiter(rate float64, sleep func(context.Context, time.Duration) error) *limiter {
	if rate <= 0 {
		return nil
	}
	return &limiter{interval: time.Duration(float64(time.Second) / rate), sleep: sleep, now: time.Now}
}

// wait blocks until the caller may send; it returns how long it waited.
func (l *limiter) wait(ctx context.Context) (time.Duration, error) {
	if l == nil {
		return 0, nil
	}
	l.mu.Lock()
	now := l.now()
	start := l.next
	if start.Before(now) {
		start = now
	}
	l.next = start.Add(l.interval)
	l.mu.Unlock()
	d := start.Sub(now)
	if d <= 0 {
		return 0, nil
	}
	return d, l.sleep(ctx, d)
}

// Backoff bounds of transient retries.
const (
	backoffBase = time.Second
	backoffMax  = 60 * time.Second
)

// backoff is the wait before retry attempt n (1-based): exponential from 1s,
// capped at 60s, with jitter over its upper half so many agents do not retry
// in step.
func backoff(n int) time.Duration {
	d := backoffBase
	for i := 1; i < n && d < backoffMax; i++ {
		d *= 2
	}
	d = min(d, backoffMax)
	return d/2 + rand.N(d/2+1)
}
