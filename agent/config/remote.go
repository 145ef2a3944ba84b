package config

import (
	"slices"
	"strings"

	"github.com/sei-edge/servicenow-edge/relay/confload"
	"github.com/sei-edge/servicenow-edge/relay/wire"
)

// RemoteRequests says which requests from the cloud the agent answers
// (POST /v1/agents/{tenant}/{agent}/requests on the relay, carried over the
// agent's own outbound connection). Allow defaults to status and validate,
// which hold no record; preview (records as they would leave), resync (read
// a table again from a point in time) and bundle (the redacted support
// bundle) are the admin's to add. An empty list answers nothing.
type RemoteRequests struct {
	Allow []string `yaml:"allow"`
}

func defaultRemoteRequests() RemoteRequests {
	return RemoteRequests{Allow: slices.Clone(wire.DefaultAllowedKinds)}
}

func (r *RemoteRequests) check(p *confload.Problems) {
	for i, k := range r.Allow {
		switch {
		case !wire.ValidKind(k):
			p.Add("remote_requests.allow", "unknown request kind %q (known: %s)", k, strings.Join(wire.RequestKinds, ", "))
		case slices.Index(r.Allow, k) != i:
			p.Add("remote_requests.allow", "lists %q twice", k)
		}
	}
}
