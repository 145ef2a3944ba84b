package config

import (
	"fmt"
	"path/filepath"
	"reflect"

	"github.com/sei-edge/servicenow-edge/relay/confload"
	"github.com/sei-edge/servicenow-edge/relay/wire"
)

// Instance is one ServiceNow instance of a multi-instance configuration:
// the integration it is published under and its own servicenow block,
// with the same keys, defaults and rules as the single-instance form.
type Instance struct {
	Integration string     `yaml:"integration"`
	ServiceNow  ServiceNow `yaml:"servicenow"`
}

// UnmarshalYAML starts every instance from the servicenow defaults, so an
// instance that sets only url and auth gets interval 1h, page_size 1000
// and the rest, exactly like the single-instance block.
func (in *Instance) UnmarshalYAML(unmarshal func(any) error) error {
	type plain Instance
	p := plain{ServiceNow: Default().ServiceNow}
	if err := unmarshal(&p); err != nil {
		return err
	}
	*in = Instance(p)
	return nil
}

// InstancesDir is the folder, inside agent.data_dir, that holds one folder
// per instance of a multi-instance configuration (its buffer, tokens and
// cursors). The single-instance form keeps its buffer in data_dir/buffer.
const InstancesDir = "instances"

// Multi reports whether the configuration uses the instances list.
func (c *Config) Multi() bool { return len(c.Instances) > 0 }

// Split returns one single-instance configuration per instance, in the
// order of the file: c itself for the single-instance form; for the
// instances form, copies of c whose servicenow block and
// relay.integration are the instance's and whose agent.data_dir is the
// instance's own folder, data_dir/instances/<integration>. Everything
// else (agent.id, relay, log, status) is shared. The copies share c's maps
// and slices: treat them as read-only.
func (c *Config) Split() []*Config {
	if !c.Multi() {
		return []*Config{c}
	}
	out := make([]*Config, 0, len(c.Instances))
	for _, in := range c.Instances {
		sub := *c
		sub.Instances = nil
		sub.ServiceNow = in.ServiceNow
		sub.Relay.Integration = in.Integration
		sub.Agent.DataDir = InstanceDataDir(c.Agent.DataDir, in.Integration)
		out = append(out, &sub)
	}
	return out
}

// Integrations lists the integrations the agent publishes for, in the
// order of the file: relay.integration, or each instance's.
func (c *Config) Integrations() []string {
	if !c.Multi() {
		return []string{c.Relay.Integration}
	}
	out := make([]string, len(c.Instances))
	for i, in := range c.Instances {
		out[i] = in.Integration
	}
	return out
}

// InstanceDataDir is the folder of one instance inside dataDir.
func InstanceDataDir(dataDir, integration string) string {
	return filepath.Join(dataDir, InstancesDir, integration)
}

// instanceKey is the key path prefix of instance i: "instances[1]".
func instanceKey(i int) string { return fmt.Sprintf("instances[%d]", i) }

// checkInstances applies the rules of the instances form: the two forms
// are exclusive (servicenow and relay.integration belong to the single
// form), every integration is a valid name used once, and each instance's
// servicenow block passes every rule of the single block, its problems
// named instances[N].servicenow.….
func (c *Config) checkInstances(p *confload.Problems) {
	if !reflect.DeepEqual(c.ServiceNow, Default().ServiceNow) {
		p.Add("servicenow", "set either servicenow (one instance) or instances (several), not both: move this block under an instances[N].servicenow")
	}
	if c.Relay.Integration != "" {
		p.Add("relay.integration", "not used with instances: each instance names its own integration (instances[N].integration)")
	}
	seen := map[string]int{}
	for i := range c.Instances {
		in, key := &c.Instances[i], instanceKey(i)
		if err := wire.CheckName(key+".integration", in.Integration); err != nil {
			*p = append(*p, err.Error())
		} else if j, dup := seen[in.Integration]; dup {
			p.Add(key+".integration", "%q is already used by instances[%d]: each instance needs its own integration", in.Integration, j)
		} else {
			seen[in.Integration] = i
		}
		var q confload.Problems
		in.ServiceNow.check(&q)
		*p = append(*p, prefixed(key, q)...)
	}
}

// prefixed puts key+"." before every problem (each starts with its own
// key path, "servicenow.…").
func prefixed(key string, q confload.Problems) []string {
	out := make([]string, len(q))
	for i, s := range q {
		out[i] = key + "." + s
	}
	return out
}

// resolveInstancePaths resolves each instance's files like the single
// block's.
func (c *Config) resolveInstancePaths(dir string) {
	for i := range c.Instances {
		sn := &c.Instances[i].ServiceNow
		confload.ResolvePaths(dir, &sn.CAFile, &sn.Auth.PasswordFile, &sn.Auth.ClientSecretFile, &sn.ProxyPasswordFile)
	}
}

// instanceSecretFiles are each instance's `*_file` secrets, named by key.
func (c *Config) instanceSecretFiles() []confload.SecretFile {
	var out []confload.SecretFile
	for i := range c.Instances {
		sn, key := &c.Instances[i].ServiceNow, instanceKey(i)+".servicenow."
		out = append(out,
			confload.SecretFile{Key: key + "auth.password", File: sn.Auth.PasswordFile, Dst: &sn.Auth.Password},
			confload.SecretFile{Key: key + "auth.client_secret", File: sn.Auth.ClientSecretFile, Dst: &sn.Auth.ClientSecret},
			confload.SecretFile{Key: key + "proxy_password", File: sn.ProxyPasswordFile, Dst: &sn.ProxyPassword})
	}
	return out
}

// instanceSecrets are every instance's secret values.
func (c *Config) instanceSecrets() []Secret {
	var out []Secret
	for _, in := range c.Instances {
		out = append(out, in.ServiceNow.Auth.Password, in.ServiceNow.Auth.ClientSecret, in.ServiceNow.ProxyPassword)
	}
	return out
}

// redactInstances passes every instance URL through redact; c is a copy
// whose Instances slice it replaces.
func (c *Config) redactInstances(redact func(string) string) {
	ins := make([]Instance, len(c.Instances))
	copy(ins, c.Instances)
	for i := range ins {
		sn := &ins[i].ServiceNow
		for _, u := range []*string{&sn.URL, &sn.Proxy, &sn.Auth.RedirectURL} {
			*u = redact(*u)
		}
	}
	c.Instances = ins
}
