// Command sei-relay is the cloud side of SEI ServiceNow Edge: it runs (or
// connects to) NATS JetStream, consumes the agents' batches into the record
// store and serves the HTTP API. Its other commands manage the agents
// allowed to connect and the quarantined batches.
//
// Usage:
//
//	sei-relay run [-c FILE]
//	sei-relay enroll [-c FILE] --tenant T --integration I --agent A [--out FILE] [--replace]
//	sei-relay hosted enroll [-c FILE] --agent NAME [--out FILE]
//	sei-relay revoke [-c FILE] --tenant T --agent A
//	sei-relay agents [-c FILE] [--json]
//	sei-relay quarantine [-c FILE] list [--tenant T] [--json]
//	sei-relay quarantine [-c FILE] show [--tenant T] [--raw] ID
//	sei-relay quarantine [-c FILE] replay [--tenant T] ID
//	sei-relay token create [-c FILE] --tenant T [--name N]
//	sei-relay token list [-c FILE] [--json]
//	sei-relay token revoke [-c FILE] ID
//	sei-relay ask [-c FILE] --tenant T --agent A KIND [--integration I] [--table X] [--limit N] [--from TIME] [-o FILE]
//
// Exit codes: 0 success, 1 runtime failure, 2 usage or invalid configuration.
//
// # Accounts: how tenants are kept apart
//
// The embedded NATS server runs in operator mode with a directory resolver
// (data_dir/accounts/jwt). The keys live in data_dir/accounts: the
// operator (signs every account JWT), the system account, and the relay's
// account, which holds the SEI_INGEST stream, the durable consumer and
// every internal subject (sei.relay.admin.…, $JS.API.…, the relay's
// inboxes). Each tenant is its own account (accounts/tenants/<tenant>.nk and
// .json); each agent is a user of its tenant's account, and its
// credentials file (relay.credentials) is a standard .creds file: a user
// JWT named after the agent, signed by the tenant's account key, and the
// user's seed.
//
// The relay account exports, once for all tenants and with a token
// required: sei.submit.*.>, sei.heartbeat.*.* and sei.reply.*.> as
// services, sei.agent.*.> as a stream. A tenant's account imports only its
// own slice, each with an activation token the relay account signs for
// that tenant:
//
//	sei.ingest.<tenant>.>    (local)  ->  sei.submit.<tenant>.>  (service, shares the sender's identity)
//	sei.heartbeat.<tenant>.*          ->  same subject           (service, shares the sender's identity)
//	sei.reply.<tenant>.>              ->  same subject           (service: answers to remote requests, shares identity)
//	sei.agent.<tenant>.>              <-  same subject           (stream: confirmations, remote requests)
//
// and the user's permissions narrow that to the agent's integration, its
// own heartbeat subject, its own answers (sei.reply.<tenant>.<agent>.>),
// its inbox (_INBOX.<tenant>.<agent>.>) and its own
// sei.agent.<tenant>.<agent>.>. A remote request (relay/remotereq) is
// published by the relay on sei.agent.<tenant>.<agent>.req.<kind> with a
// reply subject sei.reply.<tenant>.<agent>.<random id> only the asking relay
// subscribes to; agents enrolled before remote requests lack the publish
// permission and are enrolled again (--replace). Because ingest and heartbeats are service
// imports, the server maps the agent's reply subject to a one-time _R_
// subject in the relay account and routes the answer back into the asking
// connection's own account: a reply subject an agent sets can name nothing
// outside its account, and nothing in the relay account can be reached from
// a tenant but these four imports. Tenants have no JetStream.
//
// Identity comes from the connection. The server sets Nats-Request-Info
// (account, user, user JWT name) on everything crossing a shared import,
// replacing anything the agent sent. JetStream strips that header before
// it stores a message, so batches pass the relay's gateway
// (ingest.Gateway, on sei.submit.>): it refuses a batch whose Sei-Agent
// header names another agent (the publish fails with a 400 API error,
// counted in sei_relay_ingest_batches_rejected_total{reason="agent"}),
// stamps Sei-Agent from the connection and forwards the batch to
// sei.ingest.<tenant>.…, answering the agent with the stream's PubAck.
// Heartbeats are checked the same way (sei_relay_ingest_heartbeats_rejected_total).
// Confirmations go to sei.agent.<tenant>.<agent>.confirm of the agent the
// gateway stamped, which only that agent may subscribe to.
//
// Enroll and revoke change one tenant's file and re-sign one account JWT,
// which they hand to the running relay (sei.relay.admin.account.update);
// the server applies it to that account alone (a new tenant's account is
// read from the resolver directory on its first connection). The relay
// account's JWT never changes as tenants come and go. A revoked or
// replaced agent's user key goes into the account's revocations and the
// server disconnects it. Every JWT change of a tenant raises its revision
// (kept in the JWT's audience): the resolver ignores a JWT whose id it
// holds, and a JWT's id hashes only its standard claims, so two changes
// within one second would otherwise look alike.
//
// External cluster (nats.url): enroll works the same and writes the
// tenant's account JWT to data_dir/accounts/jwt/<account>.jwt, the
// operator JWT to data_dir/accounts/operator.jwt, the system and relay
// account JWTs beside the tenants', and a relay-account user to
// data_dir/relay-admin.creds; it prints what to do with them. The cluster
// operator, once: trusts operator.jwt (operator: in the server config),
// sets system_account to the printed key, configures a full resolver, and
// pushes the system and relay account JWTs; after every enroll or revoke:
// pushes that tenant's JWT (for example `nats server request push-account`,
// or `nsc push`). The relays connect as a user of the relay account
// (nats.credentials: relay-admin.creds, copied to each relay). A cluster without
// accounts still works as before, with Sei-Agent believed as sent.
// Optionally the operator lets the relay push JWTs itself: enroll also
// writes data_dir/relay-system.creds, a user of the system account (the
// one system_account names); with nats.system_credentials set to it,
// enroll and revoke push the tenant's JWT ($SYS.REQ.CLAIMS.UPDATE, as
// `nsc push` does; the cluster needs a full resolver) and the change is
// live when they return, and every relay replica limits each agent's
// connections as on the embedded server (see Quotas).
//
// Migration: a data_dir from the single-account layout keeps its stream and
// store, but its agents held bare NKEY seeds, which the operator-mode
// server cannot accept. At start the relay lists every agent of the old
// data_dir/agents.json not yet enrolled again, with the exact command
// (`sei-relay enroll -c FILE --tenant T --integration I --agent A`); the
// agent then needs only the new credentials file.
//
// # Quotas
//
// The stream is shared, and JetStream's account limits (max_file,
// max_streams, JWT Limits.Data) do not bound one tenant's share of a stream
// in another account. quota.max_messages bounds the batches one tenant
// holds in the stream: relay/quota counts them from the stream's
// per-subject counts (one request per quota.check_interval, whatever the
// number of tenants) and, at the limit, re-signs that tenant's account JWT
// without the ingest import. Its agents' publishes then fail with "no
// responders", which they treat as an outage: the batches stay in their
// buffers and polling pauses once a buffer is full. Heartbeats and
// confirmations keep flowing, and no other account is touched. When the
// relay has drained the tenant below 90% of the limit the import comes
// back. The pause is kept in the tenant's file across restarts
// (sei_relay_tenants_paused, sei_relay_tenant_pauses_total).
// quota.connections_per_agent (default 4: sei-agent run holds two,
// forwarding and remote requests) bounds each agent's connections.
// nats-server counts connections per account only (a user JWT has no
// connection limit), so the tenant account's limit is just a ceiling, that
// many per enrolled agent; the relay (natsbox.ConnLimit) watches the
// server's connect events as a system-account user and closes an agent's
// newest connection when it holds the limit already. One agent's
// credentials thus cannot keep its tenant's other agents out: its extra
// connections are closed within milliseconds (a burst may fill the
// ceiling that briefly, and an agent refused then connects on its next
// attempt). Counted in sei_relay_agent_connections_refused_total, logged
// once a minute per agent. On an external cluster the tenant account's
// JWT carries the same ceiling (Limits.Conn, agents × integrations ×
// quota.connections_per_agent), which the servers enforce once the
// operator pushed the JWT of the tenant's last enroll or revoke. With
// nats.system_credentials each replica also runs the per-agent limit,
// through the system account: the connect and disconnect events, the
// servers' CONNZ (the connections open at start) and KICK requests. Only
// users whose JWT has an integration tag (agents) are limited. Without
// it, one agent's credentials may take its tenant's whole ceiling.
//
// On an external cluster (nats.url) several replicas share the stream and
// each sees only its share of the batches, so quota.max_bytes and
// quota.max_messages are kept in one count per tenant in the KV bucket
// SEI_QUOTA (quota.Shared): each replica's gateway adds a stored batch, its
// consumer subtracts a batch that left, one revision-checked update per
// tenant per write round; the pause (at the limit, lifted at 90%) is part
// of that count, so every replica refuses the tenant alike. Its agents'
// batches get a 503 naming the quota key, the same refusal as
// quota.max_bytes on the embedded server, which they treat as an outage.
// A gateway reads a publishing tenant's count at most once a second; every
// quota.check_interval each replica sets to zero the tenants it saw whose
// subjects hold no batch (repairing what a crash or stream.max_age left),
// so a restarted replica starts from the bucket. The limit may be passed
// by the batches in flight when a replica first reads a tenant.
//
// Figures of scripts/bench-accounts.sh are in the README.
package main
