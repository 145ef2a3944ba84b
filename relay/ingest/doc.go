// Package ingest is the relay's consumer: it drains the SEI_INGEST JetStream
// stream through one durable pull consumer and upserts every batch into the
// relay's store.
//
// Any number of relay processes may run a Consumer on the same durable; each
// batch goes to one of them at a time. A batch is acknowledged only after the
// store committed it, so together with the store's "newest version wins"
// upsert every record ends up stored exactly once, whatever crashes or
// redeliveries happen in between.
//
// Per message the Consumer:
//
//   - checks the headers (Sei-Schema 1, Content-Encoding zstd), the subject
//     (sei.ingest.<tenant>.<integration>.<table>), decodes the body as a
//     stream with wire.DecodeEach (refused past wire.MaxDecoded inflated
//     bytes or wire.MaxRecords records, before any record is parsed, so a
//     zstd bomb costs a pass of inflating and no memory) and checks that
//     every record belongs to the subject's table.
//     A batch failing any check can never succeed: it is quarantined in the
//     store, terminated and counted under its reason.
//   - converts the records to store.Record, taking tenant and integration from
//     the subject (what the agent's credentials allowed it to publish on),
//     never from the payload, and checks each with store.CheckRecord (stricter
//     than the wire: a real date, UTF-8 fields), quarantining like above;
//   - decodes the messages of a fetch one at a time: each body is measured
//     by a first pass of inflating (wire.Measure) before its records are
//     parsed, and the group of batches held is applied first when the next
//     would not fit in DecodeBudget (consumer.decode_budget_bytes, default
//     32 MiB) beside it, or would pass MaxGroupRecords records. So the
//     decoded records held at once stay within the budget whatever a fetch
//     delivered (sei_relay_ingest_decoded_bytes_held, _held_max), in the
//     order they were fetched;
//   - applies the records of several fetched messages in one store.Apply,
//     sending InProgress while a slow write runs, then acknowledges each
//     message with a confirmed (double) ack;
//   - on a store error naks the message with a growing delay; once a message
//     was delivered MaxDeliver times it is quarantined and terminated instead.
//     A store.ErrInvalidRecord is quarantined at once.
//     The limit is enforced here rather than by the server, so a batch whose
//     quarantine fails stays in the stream instead of being dropped.
//
// Before the stream, the Gateway (run by the Consumer) receives what the
// tenants' ingest imports deliver to sei.submit.<tenant>.… in the relay's
// account, with the sender's identity the server attached: it refuses a
// batch whose Sei-Agent header names another agent than the connection's
// user, stamps Sei-Agent from the connection and forwards the batch to
// sei.ingest.<tenant>.…, answering the agent with the stream's ack. The
// agent a batch's confirmation goes to is therefore the connection that
// sent it (see relay/doc.go for the account model).
//
// Beside the batches it stores agent heartbeats (sei.heartbeat.<tenant>.<agent>,
// shared by the relays through a queue group; one naming another agent than
// the connection's is dropped and counted) and sends each agent delivery
// confirmations (wire.Confirmation on wire.ConfirmSubject) with the newest
// version per table it committed from that agent.
package ingest
