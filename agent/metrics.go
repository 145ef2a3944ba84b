package main

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// metrics is the agent's /metrics: figures read from the components at
// scrape time, so nothing is counted twice.
func (a *Agent) metrics() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	gauge := func(name, help string, fn func() float64) {
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "sei_agent", Name: name, Help: help}, fn))
	}
	counter := func(name, help string, fn func() float64) {
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: "sei_agent", Name: name, Help: help}, fn))
	}
	gauge("buffer_pending_batches", "Batches buffered and not yet acknowledged by the relay.", func() float64 { return float64(a.buf.Stats().PendingBatches) })
	gauge("buffer_pending_records", "Records buffered and not yet acknowledged by the relay.", func() float64 { return float64(a.buf.Stats().PendingRecords) })
	gauge("buffer_pending_bytes", "Bytes of buffered batches.", func() float64 { return float64(a.buf.Stats().PendingBytes) })
	gauge("buffer_max_bytes", "The buffer's bound (agent.buffer_max_bytes).", func() float64 { return float64(a.buf.Stats().MaxBytes) })
	gauge("buffer_free_disk_bytes", "Free space on the data directory's disk.", func() float64 { return float64(a.buf.Stats().FreeDisk) })
	gauge("buffer_oldest_age_seconds", "Age of the oldest pending batch.", func() float64 {
		if o := a.buf.Stats().Oldest; !o.IsZero() {
			return time.Since(o).Seconds()
		}
		return 0
	})
	gauge("polling_paused", "1 while polling waits for room in the buffer.", func() float64 { return b2f(a.poller.Stats().Paused) })
	gauge("relay_connected", "1 while connected to the relay.", func() float64 { return b2f(a.fwd.Stats().Connected) })
	gauge("relay_rtt_seconds", "Round-trip time to the relay.", func() float64 { return a.fwd.Stats().RTT.Seconds() })
	counter("relay_published_batches_total", "Batches acknowledged by JetStream.", func() float64 { return float64(a.fwd.Stats().Published) })
	counter("relay_publish_errors_total", "Failed publishes (retried).", func() float64 { return float64(a.fwd.Stats().PublishErrors) })
	counter("relay_reconnects_total", "Reconnections to the relay.", func() float64 { return float64(a.fwd.Stats().Reconnects) })
	counter("servicenow_requests_total", "Requests sent to ServiceNow.", func() float64 { return float64(a.sn.Stats().Requests) })
	counter("servicenow_retries_total", "Requests repeated after a transient error.", func() float64 { return float64(a.sn.Stats().Retries) })
	counter("servicenow_rate_limited_total", "429 answers from ServiceNow.", func() float64 { return float64(a.sn.Stats().RateLimited) })
	counter("servicenow_rate_limit_waits_total", "Waits imposed by servicenow.rate_limit.", func() float64 { return float64(a.sn.Stats().RateLimitWaits) })
	gauge("servicenow_cert_expiry_timestamp_seconds", "When the instance's TLS certificate expires (0: plain HTTP).", func() float64 { return unix(a.sn.Stats().CertExpiry) })
	gauge("relay_cert_expiry_timestamp_seconds", "When the relay's TLS certificate expires (0: plaintext).", func() float64 { return unix(a.fwd.Stats().CertExpiry) })
	reg.MustRegister(tableCollector{a})
	return reg
}

func unix(t time.Time) float64 {
	if t.IsZero() {
		return 0
	}
	return float64(t.Unix())
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// tableCollector reports per-table poll figures.
type tableCollector struct{ a *Agent }

var (
	descFetched = prometheus.NewDesc("sei_agent_table_records_fetched_total", "Records fetched from ServiceNow, by table.", []string{"table"}, nil)
	descFailed  = prometheus.NewDesc("sei_agent_table_poll_failures_total", "Failed polls, by table.", []string{"table"}, nil)
	descSuccess = prometheus.NewDesc("sei_agent_table_last_success_timestamp_seconds", "End of the last successful poll, by table.", []string{"table"}, nil)
)

func (c tableCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descFetched
	ch <- descFailed
	ch <- descSuccess
}

func (c tableCollector) Collect(ch chan<- prometheus.Metric) {
	for _, t := range c.a.poller.Stats().Tables {
		ch <- prometheus.MustNewConstMetric(descFetched, prometheus.CounterValue, float64(t.TotalRecords), t.Table)
		ch <- prometheus.MustNewConstMetric(descFailed, prometheus.CounterValue, float64(t.Failures), t.Table)
		if !t.LastSuccess.IsZero() {
			ch <- prometheus.MustNewConstMetric(descSuccess, prometheus.GaugeValue, float64(t.LastSuccess.Unix()), t.Table)
		}
	}
}
