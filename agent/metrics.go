package main

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/sei-edge/servicenow-edge/buffer"
)

// metrics is the agent's /metrics: one collector reads every component's
// figures once per scrape (the buffer's include a statfs of the disk), so
// nothing is counted twice and nothing is read twice.
func (a *Agent) metrics() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), agentCollector{a})
	return reg
}

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc("sei_agent_"+name, help, labels, nil)
}

var (
	descPendingBatches = desc("buffer_pending_batches", "Batches buffered and not yet acknowledged by the relay.")
	descPendingRecords = desc("buffer_pending_records", "Records buffered and not yet acknowledged by the relay.")
	descPendingBytes   = desc("buffer_pending_bytes", "Bytes of buffered batches.")
	descMaxBytes       = desc("buffer_max_bytes", "The buffer's bound (agent.buffer_max_bytes).")
	descFreeDisk       = desc("buffer_free_disk_bytes", "Free space on the data directory's disk.")
	descOldestAge      = desc("buffer_oldest_age_seconds", "Age of the oldest pending batch.")
	descRepairs        = desc("buffer_repairs_total", "Damaged buffer ranges found (checksum, relay decode, unreadable cursor), each read again from ServiceNow.")
	descRepairsPending = desc("buffer_repairs_pending", "Damaged ranges not yet read again from ServiceNow.")
	descMovedAside     = desc("buffer_moved_aside", "Damaged buffers moved aside (kept for support) beside the buffer.")
	descRejected       = desc("relay_rejected_batches_total", "Batches the relay quarantined as undecodable, each repaired.")
	descPaused         = desc("polling_paused", "1 while polling waits for room in the buffer.")
	descConnected      = desc("relay_connected", "1 while connected to the relay.")
	descRTT            = desc("relay_rtt_seconds", "Round-trip time to the relay.")
	descPublished      = desc("relay_published_batches_total", "Batches acknowledged by JetStream.")
	descPublishErrors  = desc("relay_publish_errors_total", "Failed publishes (retried).")
	descReconnects     = desc("relay_reconnects_total", "Reconnections to the relay.")
	descRelayCert      = desc("relay_cert_expiry_timestamp_seconds", "When the relay's TLS certificate expires (0: plaintext).")
	descRequests       = desc("servicenow_requests_total", "Requests sent to ServiceNow.")
	descRetries        = desc("servicenow_retries_total", "Requests repeated after a transient error.")
	descRateLimited    = desc("servicenow_rate_limited_total", "429 answers from ServiceNow.")
	descLimiterWaits   = desc("servicenow_rate_limit_waits_total", "Waits imposed by servicenow.rate_limit.")
	descOffsetPages    = desc("servicenow_offset_pages_total", "Pages read with sysparm_offset past rows hidden by ACLs (such a poll may miss a row).")
	descSNCert         = desc("servicenow_cert_expiry_timestamp_seconds", "When the instance's TLS certificate expires (0: plain HTTP).")
	descFetched        = desc("table_records_fetched_total", "Records fetched from ServiceNow, by table.", "table")
	descFailed         = desc("table_poll_failures_total", "Failed polls, by table.", "table")
	descSuccess        = desc("table_last_success_timestamp_seconds", "End of the last successful poll, by table.", "table")
)

// agentCollector reports the agent's figures.
type agentCollector struct{ a *Agent }

func (c agentCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		descPendingBatches, descPendingRecords, descPendingBytes, descMaxBytes, descFreeDisk, descOldestAge,
		descRepairs, descRepairsPending, descMovedAside, descRejected,
		descPaused, descConnected, descRTT, descPublished, descPublishErrors, descReconnects, descRelayCert,
		descRequests, descRetries, descRateLimited, descLimiterWaits, descOffsetPages, descSNCert, descFetched, descFailed, descSuccess,
	} {
		ch <- d
	}
}

func (c agentCollector) Collect(ch chan<- prometheus.Metric) {
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
	}
	bs := c.a.buf.Stats()
	gauge(descPendingBatches, float64(bs.PendingBatches))
	gauge(descPendingRecords, float64(bs.PendingRecords))
	gauge(descPendingBytes, float64(bs.PendingBytes))
	gauge(descMaxBytes, float64(bs.MaxBytes))
	gauge(descFreeDisk, float64(bs.FreeDisk))
	if !bs.Oldest.IsZero() {
		gauge(descOldestAge, time.Since(bs.Oldest).Seconds())
	} else {
		gauge(descOldestAge, 0)
	}

	rs := c.a.buf.RepairStats()
	counter(descRepairs, float64(rs.Total))
	gauge(descRepairsPending, float64(rs.Pending))
	moved, _ := buffer.MovedAside(bufferDir(c.a.cfg))
	gauge(descMovedAside, float64(len(moved)))

	ps := c.a.poller.Stats()
	gauge(descPaused, b2f(ps.Paused))
	for _, t := range ps.Tables {
		counter(descFetched, float64(t.TotalRecords), t.Table)
		counter(descFailed, float64(t.Failures), t.Table)
		if !t.LastSuccess.IsZero() {
			gauge(descSuccess, float64(t.LastSuccess.Unix()), t.Table)
		}
	}

	fs := c.a.fwd.Stats()
	gauge(descConnected, b2f(fs.Connected))
	gauge(descRTT, fs.RTT.Seconds())
	counter(descPublished, float64(fs.Published))
	counter(descPublishErrors, float64(fs.PublishErrors))
	counter(descReconnects, float64(fs.Reconnects))
	counter(descRejected, float64(fs.Rejected))
	gauge(descRelayCert, unix(fs.CertExpiry))

	cs := c.a.sn.Stats()
	counter(descRequests, float64(cs.Requests))
	counter(descRetries, float64(cs.Retries))
	counter(descRateLimited, float64(cs.RateLimited))
	counter(descLimiterWaits, float64(cs.RateLimitWaits))
	counter(descOffsetPages, float64(cs.OffsetFallback))
	gauge(descSNCert, unix(cs.CertExpiry))
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
