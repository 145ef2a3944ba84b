package ingest

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the consumer's Prometheus collectors.
type metrics struct {
	batchesApplied prometheus.Counter
	recordsApplied prometheus.Counter
	recordsIgnored prometheus.Counter
	rejected       *prometheus.CounterVec
	quarantined    *prometheus.CounterVec
	qRefused       *prometheus.CounterVec
	retried        prometheus.Counter
	heartbeats     prometheus.Counter
	// heartbeatsRejected counts heartbeats dropped: bad subject or body,
	// or sent by another agent than the subject names.
	heartbeatsRejected prometheus.Counter
	confirmations      prometheus.Counter
	rejections         prometheus.Counter
	pending            prometheus.Gauge
	ackPending         prometheus.Gauge
	applySeconds       prometheus.Histogram
	// Part sets (records too large for one message): parts stored, sets
	// applied once complete, incomplete sets expired.
	partsStored     prometheus.Counter
	partSetsApplied prometheus.Counter
	partSetsExpired prometheus.Counter
	// decodedHeld is the inflated bytes of the decoded batches the
	// consumer holds now, decodedHeldMax the most it held at once since
	// it started: both stay within Config.DecodeBudget.
	decodedHeld    prometheus.Gauge
	decodedHeldMax prometheus.Gauge
}

const ns = "sei_relay_ingest"

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		batchesApplied: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "batches_applied_total",
			Help: "Batches committed to the store and acknowledged."}),
		recordsApplied: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "records_applied_total",
			Help: "Records written: new, or newer than the stored version."}),
		recordsIgnored: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "records_ignored_total",
			Help: "Records not newer than the stored version (duplicates, late redeliveries)."}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "batches_rejected_total",
			Help: "Batches that can never be applied (bad subject, headers or body), by reason."}, []string{"reason"}),
		quarantined: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "batches_quarantined_total",
			Help: "Batches put in quarantine, by reason (a rejection reason, or max_deliver)."}, []string{"reason"}),
		qRefused: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "quarantine_refused_total",
			Help: "Batches the quarantine refused, by reason: full (the tenant is at its limit) or exists (its tenant and id are quarantined already; the entry there is kept)."}, []string{"reason"}),
		retried: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "batches_retried_total",
			Help: "Batches negatively acknowledged for redelivery after a store error."}),
		heartbeats: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "heartbeats_total",
			Help: "Agent heartbeats stored."}),
		heartbeatsRejected: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "heartbeats_rejected_total",
			Help: "Agent heartbeats dropped: malformed, or sent by another agent than the subject names."}),
		confirmations: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "confirmations_sent_total",
			Help: "Delivery confirmations published to agents."}),
		rejections: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "rejections_sent_total",
			Help: "Negative confirmations published to agents: batches quarantined as undecodable, to be read again."}),
		pending: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Name: "consumer_pending_messages",
			Help: "Batches in the stream not yet delivered to any relay (consumer lag)."}),
		ackPending: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Name: "consumer_ack_pending_messages",
			Help: "Batches delivered to a relay and not yet acknowledged."}),
		applySeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Name: "store_apply_seconds",
			Help:    "Latency of one store transaction applying a group of batches.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 15)}),
		partsStored: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "parts_stored_total",
			Help: "Parts of records too large for one message, stored until their set is complete."}),
		partSetsApplied: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "part_sets_applied_total",
			Help: "Part sets reassembled, applied and deleted."}),
		partSetsExpired: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "part_sets_expired_total",
			Help: "Incomplete part sets deleted after Config.PartTTL (their record is read again only if its agent re-reads it)."}),
		decodedHeld: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Name: "decoded_bytes_held",
			Help: "Inflated bytes of the decoded batches the consumer holds now (bounded by consumer.decode_budget_bytes)."}),
		decodedHeldMax: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Name: "decoded_bytes_held_max",
			Help: "The most inflated bytes of decoded batches the consumer held at once since it started (bounded by consumer.decode_budget_bytes)."}),
	}
	for _, r := range []string{ReasonSubject, ReasonSchema, ReasonEncoding, ReasonDecode, ReasonTableMismatch, ReasonRecordCount, ReasonAgent, ReasonMsgID} {
		m.rejected.WithLabelValues(r)
		m.quarantined.WithLabelValues(r)
	}
	m.quarantined.WithLabelValues(ReasonMaxDeliver)
	m.qRefused.WithLabelValues("full")
	m.qRefused.WithLabelValues("exists")
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.batchesApplied, m.recordsApplied, m.recordsIgnored, m.rejected,
		m.quarantined, m.qRefused, m.retried, m.heartbeats, m.heartbeatsRejected, m.confirmations, m.rejections, m.pending, m.ackPending, m.applySeconds,
		m.partsStored, m.partSetsApplied, m.partSetsExpired, m.decodedHeld, m.decodedHeldMax} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register ingest metrics: %w", err)
		}
	}
	return m, nil
}
