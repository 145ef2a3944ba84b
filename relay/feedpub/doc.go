// Package feedpub publishes the relay store's change feed to JetStream:
// every change, one message on sei.changes.<tenant>.<integration>.<table>,
// captured by the SEI_CHANGES stream.
//
// It is an outbox that follows the store: the store's feed is the source of
// truth, and the Publisher keeps, per tenant, the position up to which
// JetStream acknowledged every message (a feed mark in the store, named
// "nats"). It publishes from that mark, waits for every PubAck, and only
// then moves the mark. So:
//
//   - a relay that dies after the store committed a write but before the
//     write was published loses nothing: the next Publisher (at start, or on
//     another replica) reads the write from the feed, since it lies beyond
//     the mark;
//   - a relay that dies after publishing but before saving the mark
//     publishes those changes again; their Nats-Msg-Id is the change's feed
//     position, so the stream drops them as duplicates within its
//     duplicate window (stream duplicate_window; the mark moves every page,
//     so at most one page can be re-sent after a longer outage, and a
//     consumer applying newest-version-wins, as it must anyway, is not
//     affected).
//
// Message: the /v1/changes line (a store.Change as JSON), headers
// Nats-Msg-Id and Sei-Position (the position token), Sei-Schema: 1. The
// feed is compacted (a record appears at its newest position only), so a
// Publisher that starts behind publishes each record's latest version, not
// every intermediate one.
//
// Several relays on one PostgreSQL database each run a Publisher, but only
// the one holding the lease (Config.Lease, a key in a JetStream key-value
// bucket) publishes; another takes over within the lease's TTL when the
// holder dies or stops. Order in the stream is position order per tenant.
// See Lease for the one race left (a holder stalled past its TTL), which
// the stream's de-duplication absorbs.
package feedpub
