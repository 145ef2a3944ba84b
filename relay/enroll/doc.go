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
// registry: only public keys. Enroll and revoke hold an OS file lock
// (data_dir/agents.json.lock) while they change the file, so commands run at
// the same time on one data_dir never lose each other's change.
package enroll
