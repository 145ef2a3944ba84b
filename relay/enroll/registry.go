package enroll

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/nats-io/nkeys"

	"github.com/sei-edge/servicenow-edge/relay/wire"
)

// TenantsDir holds one <tenant>.json and one <tenant>.nk (the tenant
// account's seed) per tenant, inside data_dir.
const TenantsDir = "accounts/tenants"

// DefaultConnsPerAgent is how many connections each enrolled agent may hold
// at once (sei-agent run holds two, forwarding and remote requests, plus a
// validate or status beside it).
const DefaultConnsPerAgent = 4

// ErrNotEnrolled is returned by Revoke for an agent the registry does not hold.
var ErrNotEnrolled = errors.New("agent not enrolled")

// ErrEnrolled is returned by Enroll for an agent that already has a key
// (unless replace is set).
var ErrEnrolled = errors.New("agent already enrolled")

// Agent is one enrolled agent. An agent belongs to one tenant and publishes
// for one or several integrations (one per ServiceNow instance); (Tenant,
// Agent) is its identity.
type Agent struct {
	Tenant string `json:"tenant"`
	// Integration is the agent's first integration, the only one in files
	// written before agents could have several.
	Integration string `json:"integration"`
	// Integrations lists every integration the agent may publish for,
	// Integration first; absent (older files) means just Integration.
	Integrations []string  `json:"integrations,omitempty"`
	Agent        string    `json:"agent"`
	PublicKey    string    `json:"public_key"` // NKEY user public key (U...)
	Created      time.Time `json:"created"`
}

// Tenant is one tenant's file: its NATS account and its agents. Only this
// file and the tenant's account JWT change when one of its agents is
// enrolled or revoked, so the cost of an enroll does not grow with the
// number of tenants.
type Tenant struct {
	Name    string  `json:"tenant"`
	Account string  `json:"account"` // account public key (A...)
	Agents  []Agent `json:"agents"`
	// Revoked holds the user keys of revoked or replaced agents with the
	// time of revocation (Unix seconds), copied into the account JWT.
	Revoked map[string]int64 `json:"revoked,omitempty"`
	// Paused is set while the tenant is over its quota: its account JWT
	// then lacks the ingest import, and its agents' publishes get "no
	// responders", which they treat as an outage.
	Paused bool `json:"paused,omitempty"`
	// Revision counts the changes of the tenant's account JWT. It goes into
	// the JWT's audience: a JWT's id hashes only the standard claims, and
	// the resolver ignores a JWT whose id it already holds, so two changes
	// within one second (enroll then revoke) would otherwise look alike.
	Revision uint64 `json:"revision"`
}

// Registry is the agent registry in one data directory. Its methods read
// and write files on every call and hold no state but the keys; changes
// hold a file lock, so they are safe from several goroutines and processes.
type Registry struct {
	dataDir string
	keys    *Keys
	// ConnsPerAgent sets the tenant account's connection limit to this
	// times its agents' integrations (an agent with several instances
	// holds one connection each); 0 means DefaultConnsPerAgent. The
	// server cannot bound one user: the embedded relay does
	// (natsbox.ConnLimit).
	ConnsPerAgent int
}

// NewRegistry returns the registry of dataDir, creating its signing keys on
// first use.
func NewRegistry(dataDir string) (*Registry, error) {
	k, err := LoadKeys(dataDir)
	if err != nil {
		return nil, err
	}
	return &Registry{dataDir: dataDir, keys: k}, nil
}

// Keys returns the registry's signing keys.
func (r *Registry) Keys() *Keys { return r.keys }

func (r *Registry) tenantPath(tenant, ext string) string {
	return filepath.Join(r.dataDir, TenantsDir, tenant+ext)
}

// Tenant reads one tenant's file; ok is false when it has none.
func (r *Registry) Tenant(name string) (t Tenant, ok bool, err error) {
	if err := wire.CheckName("tenant", name); err != nil {
		return Tenant{}, false, err
	}
	raw, err := os.ReadFile(r.tenantPath(name, ".json"))
	if errors.Is(err, os.ErrNotExist) {
		return Tenant{}, false, nil
	}
	if err != nil {
		return Tenant{}, false, fmt.Errorf("read tenant %s: %w", name, err)
	}
	t, err = ParseTenant(raw)
	if err != nil {
		return Tenant{}, false, fmt.Errorf("tenant file %s: %w", r.tenantPath(name, ".json"), err)
	}
	if t.Name != name {
		return Tenant{}, false, fmt.Errorf("tenant file %s names tenant %q", r.tenantPath(name, ".json"), t.Name)
	}
	return t, true, nil
}

// ParseTenant decodes and checks a tenant file.
func ParseTenant(raw []byte) (Tenant, error) {
	var t Tenant
	if err := json.Unmarshal(raw, &t); err != nil {
		return Tenant{}, fmt.Errorf("decode: %w", err)
	}
	if err := wire.CheckName("tenant", t.Name); err != nil {
		return Tenant{}, err
	}
	if !nkeys.IsValidPublicAccountKey(t.Account) {
		return Tenant{}, fmt.Errorf("tenant %s: invalid account key %q", t.Name, t.Account)
	}
	for _, a := range t.Agents {
		if err := a.check(); err != nil {
			return Tenant{}, err
		}
		if a.Tenant != t.Name {
			return Tenant{}, fmt.Errorf("agent %s/%s listed under tenant %s", a.Tenant, a.Agent, t.Name)
		}
	}
	return t, nil
}

// Tenants returns the names of every tenant with a file, sorted.
func (r *Registry) Tenants() ([]string, error) {
	entries, err := os.ReadDir(filepath.Join(r.dataDir, TenantsDir))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read tenants: %w", err)
	}
	var names []string
	for _, e := range entries {
		if n, ok := strings.CutSuffix(e.Name(), ".json"); ok && wire.ValidName(n) {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return names, nil
}

// List returns every enrolled agent ordered by tenant and agent. It reads
// every tenant's file: for listing, not for the hot path.
func (r *Registry) List() ([]Agent, error) {
	names, err := r.Tenants()
	if err != nil {
		return nil, err
	}
	var out []Agent
	for _, n := range names {
		t, _, err := r.Tenant(n)
		if err != nil {
			return nil, err
		}
		out = append(out, t.Agents...)
	}
	return out, nil
}

// PausedTenants returns the tenants paused for their quota. It reads every
// tenant's file: the relay calls it once, at start.
func (r *Registry) PausedTenants() ([]string, error) {
	names, err := r.Tenants()
	if err != nil {
		return nil, err
	}
	var out []string
	for _, n := range names {
		t, _, err := r.Tenant(n)
		if err != nil {
			return nil, err
		}
		if t.Paused {
			out = append(out, n)
		}
	}
	return out, nil
}

// Enroll creates a user for agent of tenant, publishing for integration,
// creating the tenant's account on its first agent. It returns the agent,
// its .creds content (the secret the caller writes to the credentials
// file) and the tenant's new account JWT, which the caller hands to the
// server (see Server.UpdateAccount in natsbox). An agent already enrolled
// is an ErrEnrolled error unless replace is set; its old user is then
// revoked.
func (r *Registry) Enroll(tenant, integration, agent string, replace bool) (Agent, []byte, string, error) {
	return r.EnrollIntegrations(tenant, []string{integration}, agent, replace)
}

// EnrollIntegrations is Enroll for an agent publishing for several
// integrations (one per ServiceNow instance): its credentials allow
// exactly those. Enrolling an enrolled agent again with replace issues a
// new key for the new set and revokes the old one.
func (r *Registry) EnrollIntegrations(tenant string, integrations []string, agent string, replace bool) (Agent, []byte, string, error) {
	a := Agent{Tenant: tenant, Agent: agent, Created: time.Now().UTC().Truncate(time.Second)}
	if len(integrations) > 0 {
		a.Integration = integrations[0]
	}
	if len(integrations) > 1 {
		a.Integrations = append([]string(nil), integrations...)
	}
	if err := a.checkNames(); err != nil {
		return Agent{}, nil, "", err
	}
	var creds []byte
	var tok string
	err := r.change(tenant, true, func(t *Tenant, acct nkeys.KeyPair) error {
		i := find(t.Agents, agent)
		if i >= 0 && !replace {
			if was, now := strings.Join(t.Agents[i].AllIntegrations(), ", "), strings.Join(a.AllIntegrations(), ", "); was != now {
				return fmt.Errorf("enroll %s/%s: %w for integrations %s (to change them to %s, enroll again with --replace: a new key, the old one revoked)",
					tenant, agent, ErrEnrolled, was, now)
			}
			return fmt.Errorf("enroll %s/%s: %w (revoke it first, or replace its key)", tenant, agent, ErrEnrolled)
		}
		ukp, err := nkeys.CreateUser()
		if err != nil {
			return fmt.Errorf("create nkey: %w", err)
		}
		defer ukp.Wipe()
		a.PublicKey = Public(ukp)
		if creds, err = userCredsFor(acct, ukp, agent, a.permissions(), a.Tags()...); err != nil {
			return err
		}
		if i >= 0 {
			t.revoke(t.Agents[i].PublicKey)
			t.Agents[i] = a
		} else {
			t.Agents = append(t.Agents, a)
		}
		tok, err = r.accountJWT(t)
		return err
	})
	if err != nil {
		return Agent{}, nil, "", err
	}
	return a, creds, tok, nil
}

// Revoke removes agent of tenant and revokes its user in the tenant's
// account; it returns the account's new JWT. The server disconnects the
// agent once it has the JWT.
func (r *Registry) Revoke(tenant, agent string) (string, error) {
	var tok string
	err := r.change(tenant, false, func(t *Tenant, _ nkeys.KeyPair) error {
		i := find(t.Agents, agent)
		if i < 0 {
			return fmt.Errorf("revoke %s/%s: %w", tenant, agent, ErrNotEnrolled)
		}
		t.revoke(t.Agents[i].PublicKey)
		t.Agents = append(t.Agents[:i], t.Agents[i+1:]...)
		var err error
		tok, err = r.accountJWT(t)
		return err
	})
	return tok, err
}

// SetPaused sets whether tenant is paused (over quota) and returns its
// account JWT, and whether anything changed.
func (r *Registry) SetPaused(tenant string, paused bool) (string, bool, error) {
	var tok string
	var changed bool
	err := r.change(tenant, false, func(t *Tenant, _ nkeys.KeyPair) error {
		changed = t.Paused != paused
		t.Paused = paused
		var err error
		tok, err = r.accountJWT(t)
		return err
	})
	return tok, changed, err
}

// AccountJWT returns tenant's current account JWT (signed now).
func (r *Registry) AccountJWT(tenant string) (string, error) {
	t, ok, err := r.Tenant(tenant)
	if err != nil {
		return "", err
	}
	if !ok {
		return "", fmt.Errorf("tenant %s: %w", tenant, ErrNotEnrolled)
	}
	return r.accountJWT(&t)
}

// change runs fn on tenant's file under the registry lock and writes it
// back when fn succeeds. create allows a tenant without a file (and makes
// its account key); otherwise a missing tenant is ErrNotEnrolled.
func (r *Registry) change(tenant string, create bool, fn func(*Tenant, nkeys.KeyPair) error) error {
	if err := wire.CheckName("tenant", tenant); err != nil {
		return err
	}
	return lockDir(r.dataDir, func() error {
		t, ok, err := r.Tenant(tenant)
		if err != nil {
			return err
		}
		if !ok && !create {
			return fmt.Errorf("tenant %s: %w", tenant, ErrNotEnrolled)
		}
		acct, err := seedFile(r.tenantPath(tenant, ".nk"), nkeys.CreateAccount, "sei-relay tenant "+tenant+" account")
		if err != nil {
			return err
		}
		defer acct.Wipe()
		if !ok {
			t = Tenant{Name: tenant, Account: Public(acct)}
		} else if t.Account != Public(acct) {
			return fmt.Errorf("tenant %s: account key %s does not match seed file %s", tenant, t.Account, r.tenantPath(tenant, ".nk"))
		}
		t.Revision++
		if err := fn(&t, acct); err != nil {
			return err
		}
		return r.writeTenant(t)
	})
}

func (r *Registry) writeTenant(t Tenant) error {
	if t.Agents == nil {
		t.Agents = []Agent{}
	}
	sort.Slice(t.Agents, func(i, j int) bool { return t.Agents[i].Agent < t.Agents[j].Agent })
	raw, err := json.MarshalIndent(t, "", "  ")
	if err != nil {
		return fmt.Errorf("encode tenant %s: %w", t.Name, err)
	}
	if err := WriteFileAtomic(r.tenantPath(t.Name, ".json"), append(raw, '\n'), 0o600); err != nil {
		return fmt.Errorf("write tenant %s: %w", t.Name, err)
	}
	return nil
}

func (t *Tenant) revoke(userKey string) {
	if t.Revoked == nil {
		t.Revoked = map[string]int64{}
	}
	// A revocation covers JWTs issued at or before this second; a user
	// key is never reused, so "now" is enough.
	t.Revoked[userKey] = time.Now().Unix()
}

func (a Agent) checkNames() error {
	errs := []error{wire.CheckName("tenant", a.Tenant), wire.CheckName("integration", a.Integration), wire.CheckName("agent", a.Agent)}
	seen := map[string]bool{}
	for _, in := range a.Integrations {
		errs = append(errs, wire.CheckName("integration", in))
		if seen[in] {
			errs = append(errs, fmt.Errorf("integration %s: given twice", in))
		}
		seen[in] = true
	}
	if len(a.Integrations) > 0 && a.Integrations[0] != a.Integration {
		errs = append(errs, fmt.Errorf("agent %s/%s: integration %q is not the first of integrations %v", a.Tenant, a.Agent, a.Integration, a.Integrations))
	}
	return errors.Join(errs...)
}

// AllIntegrations lists the integrations a may publish for: Integrations,
// or Integration alone (files written before agents could have several).
func (a Agent) AllIntegrations() []string {
	if len(a.Integrations) > 0 {
		return a.Integrations
	}
	return []string{a.Integration}
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

func find(agents []Agent, agent string) int {
	for i, a := range agents {
		if a.Agent == agent {
			return i
		}
	}
	return -1
}
