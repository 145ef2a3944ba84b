// Package hosted shares the relay's hosted integrations among the running
// `sei-agent hosted` processes through leases in the JetStream KV bucket
// wire.HostedLeasesBucket, and runs one pipeline per integration this
// process holds a lease on.
//
// The lease contract:
//
//   - A lease is the key wire.HostedLeaseKey(id). It is taken with a create
//     (which fails when the key exists) and renewed with an update that
//     names the revision last written (which fails when anyone else wrote
//     since). Only the holder can renew; no one can take a live lease.
//   - The bucket's TTL is the lease period: the server drops a key that was
//     not written for that long, and only then can another agent create it.
//   - The holder renews every quarter period. It stops the pipeline itself
//     when its lease is no longer certain: a renewal refused, or no
//     renewal succeeded by (time the last successful renewal was sent) +
//     3/4 of the period. That is a quarter period before the server can
//     drop the key, so the old pipeline's polling has stopped before
//     another agent can even take the lease. (Forwarding already polled
//     batches may finish during the stop; the relay's store is idempotent.)
//   - Each agent also keeps a presence key (wire.HostedPresenceKey) and
//     holds at most its fair share, ceil(integrations / agents present):
//     above it, it releases one lease per round (pipeline stopped first),
//     so integrations spread as agents come, and move when one dies.
//   - On a clean stop an agent stops its pipelines, then deletes its leases
//     (with the revision check), so another takes them at once.
package hosted
