// Package token keeps the relay's tenant API tokens: bearer tokens that read
// one tenant's records and agents on the HTTP API.
//
// The token model:
//
//   - The admin token (http.token, or data_dir/http.token generated on first
//     start, mode 0600, never printed or logged) reads every tenant and is
//     the only one that may list across tenants or read /metrics.
//   - A tenant token is created by `sei-relay token create --tenant T
//     [--name N]`: 256 random bits, printed once on stdout and never stored.
//     The relays keep only its SHA-256, with an id, the tenant, the name and
//     the creation time, in the JetStream key-value bucket SEI_TOKENS of the
//     relay's account (KV; key: the hash). `token list` shows those;
//     `token revoke ID` removes one.
//   - Every request's token is one read of the bucket by its hash, so a new
//     or revoked token counts on every relay from the next request, without
//     a restart or a signal. Nothing is cached: while the relay is not
//     connected to NATS a tenant-token request is answered 503 ("check
//     token: read token bucket SEI_TOKENS: token store unavailable: not
//     connected to NATS (RECONNECTING)", with Retry-After) at once, and a
//     read that gets no answer is given up after 2 s (lookupTimeout) with
//     the same 503; the admin token does not need the bucket and still
//     reads.
//   - A presented token is hashed and looked up by hash; the hash found is
//     compared in constant time, and the admin token is compared in constant
//     time through its hash, so neither the timing nor the length of a
//     comparison tells an attacker anything about a token.
//
// Why the bucket, not the store: every deployment has NATS and every relay
// replica shares it (the embedded server, or the external cluster with
// PostgreSQL), while PostgreSQL exists only with store.kind postgres and
// Badger is per replica. So one implementation serves every deployment,
// and the token commands reach it as the other admin commands do (through
// the running relay's server, or nats.url with nats.credentials).
//
// Migration: a relay moves the tokens of its data_dir's http-tokens.json
// (the file relays kept before, File) into the bucket when it starts and
// renames the file http-tokens.json.migrated; with several replicas each
// moves its own. With the embedded server and no relay running, the token
// commands use that file, which the relay then moves at its start.
package token
