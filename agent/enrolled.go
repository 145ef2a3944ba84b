package main

import (
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/nats-io/jwt/v2"

	"github.com/sei-edge/servicenow-edge/agent/config"
	"github.com/sei-edge/servicenow-edge/relay/wire"
)

// tagIntegration starts the user JWT tags `sei-relay enroll` writes, one
// per integration the agent was enrolled for (enroll.TagIntegration; the
// agent does not import the relay's packages but wire).
const tagIntegration = "integration:"

// checkEnrolled is validate's check that relay.credentials allow every
// integration of a multi-instance configuration: each instance needs
// `sei-relay enroll --integration` of its own, or its batches stay
// buffered, refused by the relay. It reads the user JWT of a .creds file
// (the integration tags, else the ingest publish permissions); a bare
// NKEY seed says nothing, and the check passes with a note.
func checkEnrolled(cfg *config.Config) check {
	const name = "relay integrations"
	raw, err := os.ReadFile(cfg.Relay.Credentials)
	if err != nil {
		return check{name, false, fmt.Sprintf("relay.credentials: %v", err)}
	}
	if !strings.Contains(string(raw), "BEGIN NATS USER JWT") {
		return check{name, true, "relay.credentials holds no user JWT to read the integrations from; the relay checks them"}
	}
	tok, err := jwt.ParseDecoratedJWT(raw)
	if err != nil {
		return check{name, false, fmt.Sprintf("relay.credentials %s: %v", cfg.Relay.Credentials, err)}
	}
	uc, err := jwt.DecodeUserClaims(tok)
	if err != nil {
		return check{name, false, fmt.Sprintf("relay.credentials %s: %v", cfg.Relay.Credentials, err)}
	}
	var enrolled []string
	for _, t := range uc.Tags {
		if in, ok := strings.CutPrefix(t, tagIntegration); ok {
			enrolled = append(enrolled, in)
		}
	}
	allowed := func(in string) bool {
		if len(enrolled) > 0 {
			return slices.Contains(enrolled, in)
		}
		return slices.Contains(uc.Pub.Allow, wire.IngestFilter(cfg.Relay.Tenant, in))
	}
	var missing []string
	for _, in := range cfg.Integrations() {
		if !allowed(in) {
			missing = append(missing, in)
		}
	}
	if len(missing) > 0 {
		return check{name, false, fmt.Sprintf("relay.credentials do not allow %s: enroll the agent again for every instance: "+
			"sei-relay enroll --tenant %s --agent %s --integration %s --replace",
			strings.Join(missing, ", "), cfg.Relay.Tenant, cfg.Agent.ID, strings.Join(cfg.Integrations(), " --integration "))}
	}
	return check{name, true, "relay.credentials allow " + strings.Join(cfg.Integrations(), ", ")}
}
