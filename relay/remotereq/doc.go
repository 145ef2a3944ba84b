// Package remotereq is the relay's side of remote requests: it asks one
// agent a request over NATS and waits, bounded, for its answer (see
// relay/wire's requests.go for the exchange, and agent/remote for the
// agent's side).
//
// Asker.Ask publishes the request in the relay's account on
// sei.agent.<tenant>.<agent>.req.<kind> with a reply subject of its own,
// sei.reply.<tenant>.<agent>.<id> (a random id), subscribed only for the
// time of the request and only by the relay replica that asks, so with
// several relays the answer comes back to the one holding the HTTP
// request. Only that agent can publish there (its user's permissions; its
// tenant account imports sei.reply.<tenant>.> alone); when the answer
// crossed the tenant's import, the server's Nats-Request-Info names the
// agent, and a message from anyone else is ignored.
//
// Two waits bound a request: Timeout (default 10s) for the agent's
// "accepted", which tells an offline agent apart at once, then
// AnswerTimeout (default 2m) for the whole answer. Every message of an
// answer is acknowledged after it is stored, so the agent never runs ahead.
//
// A JSON result is held in memory, at most MaxResultBytes. A bundle (the
// agent's support bundle, a zip) is held in memory up to BundleMaxBytes,
// checked against the size and SHA-256 the agent announced, and kept in the
// JetStream object store SEI_BUNDLES (BundleStoreBytes in all, each for
// BundleTTL), from which any relay replica serves it; at most
// MaxBundlesInFlight bundles are received at once, so memory stays bounded.
package remotereq
