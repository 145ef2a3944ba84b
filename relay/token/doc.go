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
//     The relay keeps only its SHA-256 (data_dir/http-tokens.json, 0600)
//     with an id, the tenant, the name and the creation time. `token list`
//     shows those; `token revoke ID` removes one.
//   - The running relay's API reads the file again whenever it changed (a
//     stat per request), so a new or revoked token takes effect on the next
//     request, without a restart or a signal.
//   - A presented token is hashed and looked up by hash; the hash found is
//     compared in constant time, and the admin token is compared in constant
//     time through its hash, so neither the timing nor the length of a
//     comparison tells an attacker anything about a token.
//
// With several relay replicas (external NATS cluster) each replica reads its
// own data_dir: run `token create` where the replicas share data_dir, or copy
// http-tokens.json to each (it holds no secret).
package token
