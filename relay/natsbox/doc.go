// Package natsbox runs the NATS side of sei-relay: the embedded nats-server
// with JetStream (single machine), or the connection to an external cluster;
// a health check of that connection; TLS for the embedded listener (a
// generated development CA and certificate when none is configured); and the
// agents' NKEY users, reloaded from the enroll registry while the server
// runs, so enrolled agents can connect and revoked agents are disconnected
// without a restart. The SEI_INGEST stream itself is created by package
// ingest (ingest.EnsureStream), with the settings from the relay's config.
//
// Authorization model of the embedded server: every user lives in the one
// global account (which has JetStream). Three kinds of user exist:
//   - the relay itself: an NKEY generated in memory at each start, full
//     access, connecting in-process (nats.InProcessServer), never over TCP;
//   - the operator: the NKEY in data_dir/relay-admin.nk, full access;
//   - each enrolled agent: its own NKEY, allowed to publish only to
//     sei.ingest.<tenant>.<integration>.> and sei.heartbeat.<tenant>.<agent>,
//     and to receive only on _INBOX.<tenant>.<agent>.> (its custom inbox
//     prefix, where PubAcks arrive) and sei.agent.<tenant>.<agent>.>. It can
//     reach no $JS.API subject, so it cannot read any stream or consumer.
package natsbox
