// Package forward moves buffered batches to the relay over NATS JetStream.
//
// The Forwarder leases the oldest batches, publishes each to
// sei.ingest.<tenant>.<integration>.<table> with Nats-Msg-Id set to the
// batch's stable id, and deletes a batch from the buffer only after
// JetStream acknowledged it (a duplicate ack counts: the stream already holds
// it). A publish that fails or times out leaves the batch in the buffer; it
// is sent again with the same id, so JetStream drops the copy within its
// duplicate window and the relay's version guard does after it.
//
// The connection is outbound only and retried forever (nats.go gives up after
// 60 reconnects and after two identical auth errors unless told otherwise).
// The agent uses its own inbox prefix, so the relay can allow it to receive
// only on _INBOX.<tenant>.<agent>.> and sei.agent.<tenant>.<agent>.>.
// It also publishes a heartbeat (the agent's status snapshot) every minute
// and records the relay's delivery confirmations. An agent with several
// ServiceNow instances runs one Forwarder per instance (Config.Shared): each
// takes only the confirmations and rejections naming its integration, and
// one of them carries the agent's heartbeat.
//
// Memory: the publishes in flight are one window, at most Config.Window
// batches (default 8) of at most wire.MaxPayload (900 KiB) each, so about
// 7 MiB, leased from the buffer and released once acked or failed; the
// JetStream async-publish limit is 4 windows, which one window never
// reaches. While disconnected nats.go keeps publishes in its reconnect
// buffer (8 MiB by default), which holds at most that same window.
//
// Every batch is checked against its checksum when it is leased, right
// before its publish: a damaged batch is never published (the buffer
// turns it into a repair). The relay's negative confirmations
// (wire.Rejection: a batch it quarantined as undecodable) become repairs
// too, of the batch's range, which the buffer remembers for the last 4,096
// acked batches.
package forward
