// Package remote answers the cloud's requests to this agent over the
// connection the agent opened to the relay: no inbound port.
//
// The relay publishes a request on sei.agent.<tenant>.<agent>.req.<kind>,
// which reaches the agent only through its tenant account's import of the
// relay's sei.agent.<tenant>.> (no user of the tenant account may publish
// there), with a reply subject sei.reply.<tenant>.<agent>.<id>, the one
// reply space the agent's user may publish to; its account imports it from
// the relay's as a service, so an answer can go nowhere but back to the
// relay. A request whose reply subject is anything else is dropped.
//
// Server checks each request's kind against remote_requests.allow (the
// refusal text goes back to the asker), answers "accepted" at once, then
// runs the kind's Handler (at most Config.MaxConcurrent at a time, more are
// "busy") and sends the result in chunks no larger than the connection's
// max payload, each a request the relay acknowledges, so a result of any
// size arrives whole and in order, and the agent never sends faster than
// the relay stores. The last chunk's headers carry the size and SHA-256 of
// the whole, which the relay checks.
//
// Every request and answer is logged with who asked (the relay's
// Sei-Asker header), the kind, the request id, the answer's status, size
// and duration; never the result's data.
package remote
