// Package wire is the contract between sei-agent and sei-relay: NATS subjects,
// message headers, the record format and the batch encoding (zstd-compressed
// NDJSON, one record a line).
//
// Limits a reader enforces and a writer respects (Encode refuses what Decode
// would): a batch inflates to at most MaxDecoded bytes and holds at most
// MaxRecords records; its compressed body is at most MaxPayload. Decode and
// DecodeEach inflate as a stream and refuse a body past either limit before
// parsing any record, so a zstd bomb costs one pass of inflating.
//
// Nats-Msg-Id: JetStream deduplicates on it across the whole stream, so an
// agent publishes ScopedMsgID(tenant, batch id) = "<tenant>:<batch id>", and
// the relay refuses a batch whose id is scoped to another tenant than its
// subject's (ids without a scope, from older agents, are accepted).
//
// It is the one relay package the agent imports, so it depends on nothing of
// either program. Everything here is a stable interface: change it only
// additively, and bump SchemaVersion for anything a reader must know about.
package wire
