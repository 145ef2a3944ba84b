// Package enroll keeps the relay's agent registry in the NATS account model:
// an operator, a system account, the relay's account (the stream, the
// consumer and every internal subject) and one account per tenant, each
// agent a user of its tenant's account. It writes the agents' .creds files,
// the operator's admin credentials and the `relay:` block an admin pastes
// into an agent's configuration.
//
// Layout in data_dir: accounts/{operator,system,relay}.nk are the signing
// seeds (0600); accounts/tenants/<tenant>.json lists a tenant's agents and
// revocations, accounts/tenants/<tenant>.nk is its account seed. An enroll
// or revoke rewrites one tenant's file and re-signs one account JWT, never
// the others, so its cost does not grow with the number of tenants. Changes
// hold an OS file lock (accounts/.lock), so `sei-relay enroll` and `revoke`
// may run as separate processes while the relay runs; they hand the new
// account JWT to the running relay (see natsbox).
//
// A tenant's account imports, from the relay account, only its own
// subjects, each with an activation token the relay account signs for that
// tenant: sei.ingest.<tenant>.> and sei.heartbeat.<tenant>.* as services
// (the server routes JetStream's PubAck back to the asking connection, and
// passes the agent's identity along in Nats-Request-Info), and
// sei.agent.<tenant>.> as a stream (confirmations, remote requests), and
// sei.reply.<tenant>.> as a service (agents' answers to remote requests,
// each acknowledged by the relay; an agent's user may publish only its own
// sei.reply.<tenant>.<agent>.>). The relay account's
// JWT and exports never change as tenants come and go.
package enroll
