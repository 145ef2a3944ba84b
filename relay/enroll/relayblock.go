package enroll

import (
	"fmt"

	"github.com/goccy/go-yaml"
)

// RelayBlock is the agent configuration's `relay:` section for one enrolled
// agent, as `sei-relay enroll` prints it.
type RelayBlock struct {
	URL         string `yaml:"url"`
	Credentials string `yaml:"credentials"`
	CAFile      string `yaml:"ca_file,omitempty"`
	Tenant      string `yaml:"tenant"`
	Integration string `yaml:"integration,omitempty"`
	// Instances, for an agent enrolled for several integrations, are
	// those integrations: the block then has no integration, and a
	// comment says each goes into one entry of the agent's instances.
	Instances []string `yaml:"-"`
}

// Marshal returns the block as YAML under a top-level `relay:` key, preceded
// by a comment naming the agent's id, which must match agent.id.
func (b RelayBlock) Marshal(agentID string) ([]byte, error) {
	out, err := yaml.MarshalWithOptions(map[string]RelayBlock{"relay": b}, yaml.Indent(2))
	if err != nil {
		return nil, fmt.Errorf("encode relay block: %w", err)
	}
	head := fmt.Sprintf("# sei-agent configuration for agent.id %q (copy the credentials and ca_file to the agent's machine)\n", agentID)
	if len(b.Instances) > 0 {
		head += "# enrolled for several integrations: give each its own entry under instances:\n"
		for _, in := range b.Instances {
			head += fmt.Sprintf("#   - integration: %s\n#     servicenow: {url: …, auth: …}\n", in)
		}
	}
	return append([]byte(head), out...), nil
}
