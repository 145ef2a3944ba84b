// Package wire is the contract between sei-agent and sei-relay: NATS subjects,
// message headers, the record format and the batch encoding (zstd-compressed
// NDJSON, one record a line).
//
// It is the one relay package the agent imports, so it depends on nothing of
// either program. Everything here is a stable interface: change it only
// additively, and bump SchemaVersion for anything a reader must know about.
package wire
