package forward

import (
	"math/rand/v2"
	"time"
)

// maxRetryWait caps the pause between failed publish windows.
const maxRetryWait = time.Minute

// warnEvery is the least time between two "publish failed" warnings; the
// failures in between are counted in the next one (and in Stats).
const warnEvery = time.Minute

// retryWait is the pause after failures failed windows in a row: base
// doubled for each failure after the first, capped at maxRetryWait (or
// base, when larger), then jittered down by up to half so agents that lost
// the relay together do not come back in step. jitter is in [0, 1).
func retryWait(base time.Duration, failures int, jitter float64) time.Duration {
	d := base
	for i := 1; i < failures && d < maxRetryWait; i++ {
		d *= 2
	}
	d = max(min(d, maxRetryWait), base)
	return d - time.Duration(jitter*float64(d/2))
}

// outage tracks a run of failed publishes for the log: one warning per
// warnEvery, however many batches fail, and one line when a publish
// succeeds again. Only the forwarding goroutine uses it.
type outage struct {
	failures   int       // failed windows in a row
	since      time.Time // first failure of the run; zero when none
	lastWarn   time.Time // last warning logged
	suppressed int       // failed batches not warned about since lastWarn
}

// failed records a failed batch at now and reports whether to warn, with
// how many failures the warning stands for.
func (o *outage) failed(now time.Time) (warn bool, count int) {
	if o.since.IsZero() {
		o.since = now
	}
	o.suppressed++
	if !o.lastWarn.IsZero() && now.Sub(o.lastWarn) < warnEvery {
		return false, 0
	}
	count, o.suppressed, o.lastWarn = o.suppressed, 0, now
	return true, count
}

// recovered ends the run at now; it returns how long it lasted, or 0 when
// there was no run.
func (o *outage) recovered(now time.Time) time.Duration {
	if o.since.IsZero() {
		return 0
	}
	d := now.Sub(o.since)
	*o = outage{}
	return d
}

// jitter draws the retry jitter.
func jitter() float64 { return rand.Float64() }
