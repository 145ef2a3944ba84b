package ingest

import "github.com/prometheus/client_golang/prometheus"

// decoded counts the inflated bytes of the decoded batches the consumer
// holds, for Config.DecodeBudget: process holds a batch's size before
// parsing it and releases it once its group was applied or refused. Only
// the fetch goroutine uses it; the gauges are read by the metrics handler.
type decoded struct {
	held, max   int64
	gauge, peak prometheus.Gauge
}

func newDecoded(m *metrics) *decoded {
	return &decoded{gauge: m.decodedHeld, peak: m.decodedHeldMax}
}

// hold counts n more bytes held.
func (d *decoded) hold(n int64) {
	d.held += n
	d.gauge.Set(float64(d.held))
	if d.held > d.max {
		d.max = d.held
		d.peak.Set(float64(d.max))
	}
}

// release counts n bytes no longer held.
func (d *decoded) release(n int64) {
	d.held -= n
	d.gauge.Set(float64(d.held))
}
