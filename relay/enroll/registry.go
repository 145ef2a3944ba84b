package enroll

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/nats-io/nkeys"

	"github.com/sei-edge/servicenow-edge/relay/wire"
)

// RegistryFile is the registry's file name inside data_dir.
const RegistryFile = "agents.json"

// ErrNotEnrolled is returned by Revoke for an agent the registry does not hold.
var ErrNotEnrolled = errors.New("agent not enrolled")

// ErrEnrolled is returned by Enroll for an agent that already has a key
// (unless replace is set).
var ErrEnrolled = errors.New("agent already enrolled")

// Agent is one enrolled agent. An agent belongs to one tenant and publishes
// for one integration; (Tenant, Agent) is its identity.
type Agent struct {
	Tenant      string    `json:"tenant"`
	Integration string    `json:"integration"`
	Agent       string    `json:"agent"`
	PublicKey   string    `json:"public_key"` // NKEY user public key (U...)
	Created     time.Time `json:"created"`
}

// Registry is the agent registry in one data directory. Its methods read
// and write the file on every call and hold no state; Enroll and Revoke
// hold a file lock while they change it, so they are safe to run from
// several goroutines and several processes at once.
type Registry struct {
	path string
}

type registryFile struct {
	Agents []Agent `json:"agents"`
}

// NewRegistry returns the registry kept in dataDir/agents.json. It creates
// nothing until the first Enroll.
func NewRegistry(dataDir string) *Registry {
	return &Registry{path: filepath.Join(dataDir, RegistryFile)}
}

// Path returns the registry file's path.
func (r *Registry) Path() string { return r.path }

// List returns the enrolled agents ordered by tenant and agent; a missing
// file is an empty registry.
func (r *Registry) List() ([]Agent, error) {
	raw, err := os.ReadFile(r.path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read agent registry: %w", err)
	}
	agents, err := ParseRegistry(raw)
	if err != nil {
		return nil, fmt.Errorf("agent registry %s: %w", r.path, err)
	}
	return agents, nil
}

// ParseRegistry decodes the content of a registry file (empty content is
// an empty registry) and checks every entry: valid names and a user public
// key. Agents come back ordered by tenant and agent.
func ParseRegistry(raw []byte) ([]Agent, error) {
	if len(raw) == 0 {
		return nil, nil
	}
	var f registryFile
	if err := json.Unmarshal(raw, &f); err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	for _, a := range f.Agents {
		if err := a.check(); err != nil {
			return nil, fmt.Errorf("decode: %w", err)
		}
	}
	sortAgents(f.Agents)
	return f.Agents, nil
}

// Enroll creates a new NKEY for agent of tenant, publishing for integration,
// records its public key and returns the agent and its seed (the secret the
// caller writes to the credentials file). An agent already enrolled is an
// ErrEnrolled error unless replace is set, in which case its old key stops
// working.
func (r *Registry) Enroll(tenant, integration, agent string, replace bool) (Agent, []byte, error) {
	a := Agent{Tenant: tenant, Integration: integration, Agent: agent, Created: time.Now().UTC().Truncate(time.Second)}
	if err := a.checkNames(); err != nil {
		return Agent{}, nil, err
	}
	kp, err := nkeys.CreateUser()
	if err != nil {
		return Agent{}, nil, fmt.Errorf("create nkey: %w", err)
	}
	defer kp.Wipe()
	if a.PublicKey, err = kp.PublicKey(); err != nil {
		return Agent{}, nil, fmt.Errorf("create nkey: %w", err)
	}
	seed, err := kp.Seed()
	if err != nil {
		return Agent{}, nil, fmt.Errorf("create nkey: %w", err)
	}
	err = r.locked(func() error {
		agents, err := r.List()
		if err != nil {
			return err
		}
		i := find(agents, tenant, agent)
		if i >= 0 && !replace {
			return fmt.Errorf("enroll %s/%s: %w (revoke it first, or replace its key)", tenant, agent, ErrEnrolled)
		}
		if i >= 0 {
			agents[i] = a
		} else {
			agents = append(agents, a)
		}
		return r.write(agents)
	})
	if err != nil {
		return Agent{}, nil, err
	}
	return a, append([]byte(nil), seed...), nil
}

// Revoke removes agent of tenant; its key stops working at the relay's next
// registry check, and the relay disconnects it.
func (r *Registry) Revoke(tenant, agent string) error {
	return r.locked(func() error {
		agents, err := r.List()
		if err != nil {
			return err
		}
		i := find(agents, tenant, agent)
		if i < 0 {
			return fmt.Errorf("revoke %s/%s: %w", tenant, agent, ErrNotEnrolled)
		}
		return r.write(append(agents[:i], agents[i+1:]...))
	})
}

func (r *Registry) write(agents []Agent) error {
	if agents == nil {
		agents = []Agent{}
	}
	sortAgents(agents)
	raw, err := json.MarshalIndent(registryFile{Agents: agents}, "", "  ")
	if err != nil {
		return fmt.Errorf("encode agent registry: %w", err)
	}
	if err := WriteFileAtomic(r.path, append(raw, '\n'), 0o600); err != nil {
		return fmt.Errorf("write agent registry: %w", err)
	}
	return nil
}

func (a Agent) checkNames() error {
	return errors.Join(wire.CheckName("tenant", a.Tenant), wire.CheckName("integration", a.Integration), wire.CheckName("agent", a.Agent))
}

func (a Agent) check() error {
	if err := a.checkNames(); err != nil {
		return err
	}
	if !nkeys.IsValidPublicUserKey(a.PublicKey) {
		return fmt.Errorf("agent %s/%s: invalid public key %q", a.Tenant, a.Agent, a.PublicKey)
	}
	return nil
}

func find(agents []Agent, tenant, agent string) int {
	for i, a := range agents {
		if a.Tenant == tenant && a.Agent == agent {
			return i
		}
	}
	return -1
}

func sortAgents(agents []Agent) {
	sort.Slice(agents, func(i, j int) bool {
		if agents[i].Tenant != agents[j].Tenant {
			return agents[i].Tenant < agents[j].Tenant
		}
		return agents[i].Agent < agents[j].Agent
	})
}
