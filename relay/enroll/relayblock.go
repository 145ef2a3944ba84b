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
	Integration string `yaml:"integration"`
}

// Marshal returns the block as YAML under a top-level `relay:` key, preceded
// by a comment naming the agent's id, which must match agent.id.
func (b RelayBlock) Marshal(agentID string) ([]byte, error) {
	out, err := yaml.MarshalWithOptions(map[string]RelayBlock{"relay": b}, yaml.Indent(2))
	if err != nil {
		return nil, fmt.Errorf("encode relay block: %w", err)
	}
	head := fmt.Sprintf("# sei-agent configuration for agent.id %q (copy the credentials and ca_file to the agent's machine)\n", agentID)
	return append([]byte(head), out...), nil
}
