// Package enroll keeps the relay's agent registry: which agents may connect
// to the embedded NATS server, each with its own NKEY and permissions limited
// to its tenant, integration and agent name. It also writes the agents'
// credentials files, the operator's admin NKEY and the `relay:` block an
// admin pastes into an agent's configuration.
//
// The registry is one JSON file (data_dir/agents.json, mode 0600) replaced
// atomically (temp file + rename), so `sei-relay enroll` and `revoke` can run
// as separate processes while the relay runs; the relay notices the change
// (see natsbox) and reloads its users. Seeds are never stored in the
// registry: only public keys. Two enroll/revoke commands racing on the same
// data_dir may lose one update (last rename wins); run them one at a time.
package enroll
