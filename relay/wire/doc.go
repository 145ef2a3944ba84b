// Package wire is the contract between sei-agent and sei-relay: NATS subjects,
// message headers, the record format and the batch encoding (zstd-compressed
// NDJSON, one record a line).
//
// Limits a reader enforces and a writer respects (Encode refuses what Decode
// would): a batch inflates to at most MaxDecoded bytes and holds at most
// MaxRecords records; its compressed body is at most MaxPayload; a frame
// with a window past EncoderWindow (at most MaxWindow) declares its content
// size, as every Encode (EncodeAll) frame does. Decode and DecodeEach
// inflate as a stream and refuse a body past either limit before parsing
// any record (Measure is that first pass alone, for a reader that must know
// the size first), so a zstd bomb costs one pass of inflating.
//
// Nats-Msg-Id: JetStream deduplicates on it across the whole stream, so an
// agent publishes ScopedMsgID(tenant, batch id) = "<tenant>:<batch id>", and
// the relay refuses a batch whose id is scoped to another tenant than its
// subject's (ids without a scope, from older agents, are accepted).
//
// Part sets (added to schema 1; DESIGN's headers are unchanged): a batch
// body larger than MaxPayload (one record too large for one message: a long
// work-notes history, a large description) travels as 2..MaxParts part
// messages on the table's subject, each with its own Nats-Msg-Id and the
// usual headers plus
//
//	Sei-Part:     "i/n", this message's 1-based index and the set's size
//	Sei-Part-Set: PartSetID(body), the hex SHA-256 of the whole body
//
// Each part is at most MaxPayload bytes of the body, in order (Split). The
// relay keeps the parts in its store, keyed by (tenant, integration, set,
// index), until all n are there, then joins them, checks the hash (Join),
// decodes the body with the usual limits (MaxDecoded, MaxRecords), applies
// it and deletes the parts; a set stays below MaxPartSetBytes. The set id
// depends on the body only, so an agent that reads the record again sends
// the same set. Sei-Records is not checked on parts (an agent puts the
// set's record count on the last part, 0 on the others). A relay that
// predates part sets quarantines each part as undecodable.
//
// It is the one relay package the agent imports, so it depends on nothing of
// either program. Everything here is a stable interface: change it only
// additively, and bump SchemaVersion for anything a reader must know about.
package wire
