package enroll

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// LegacyRegistryFile is the agent registry of the single-account layout
// (every agent an NKEY user in one account with the stream), which tenant
// accounts replace.
const LegacyRegistryFile = "agents.json"

// Legacy returns the agents of data_dir's single-account registry that are
// not enrolled in the account model: their NKEY-only credentials cannot
// authenticate any more (the server now requires a user JWT signed by the
// tenant's account), so each must be enrolled again. A data_dir without the
// old file has none.
func (r *Registry) Legacy() ([]Agent, error) {
	path := filepath.Join(r.dataDir, LegacyRegistryFile)
	raw, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	var f struct {
		Agents []Agent `json:"agents"`
	}
	if err := json.Unmarshal(raw, &f); err != nil {
		return nil, fmt.Errorf("decode %s: %w", path, err)
	}
	var out []Agent
	for _, a := range f.Agents {
		if a.checkNames() != nil {
			continue
		}
		t, _, err := r.Tenant(a.Tenant)
		if err != nil {
			return nil, err
		}
		if find(t.Agents, a.Agent) < 0 {
			out = append(out, a)
		}
	}
	return out, nil
}

// ReenrollHint is the command that enrolls a again, with configFlag (like
// "-c /etc/sei/relay.yaml", or "") naming the relay's configuration.
func ReenrollHint(a Agent, configFlag string) string {
	c := "sei-relay enroll"
	if configFlag != "" {
		c += " " + configFlag
	}
	c += " --tenant " + a.Tenant
	for _, in := range a.AllIntegrations() {
		c += " --integration " + in
	}
	return c + " --agent " + a.Agent
}
