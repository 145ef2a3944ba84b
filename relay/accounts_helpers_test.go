package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats-server/v2/server"

	"github.com/sei-edge/servicenow-edge/relay/enroll"
)

// accountsSetup is a relay data_dir prepared for an external cluster in
// operator mode, as relay/doc.go tells a cluster operator: the relay's
// keys, one tenant with enrolled agents, and the account JWTs every node
// must hold.
type accountsSetup struct {
	dataDir    string
	adminCreds string            // the relays' nats.credentials
	creds      map[string]string // agent → credentials file
	operator   *jwt.OperatorClaims
	jwts       []string // system, relay and the tenant's account JWTs
}

// newAccountsSetup enrolls agents of tenant (integration "snow") in a
// fresh data_dir.
func newAccountsSetup(t *testing.T, tenant string, agents ...string) *accountsSetup {
	t.Helper()
	a := &accountsSetup{dataDir: filepath.Join(t.TempDir(), "data"), creds: map[string]string{}}
	reg, err := enroll.NewRegistry(a.dataDir)
	if err != nil {
		t.Fatal(err)
	}
	if a.adminCreds, err = enroll.AdminCreds(a.dataDir, reg.Keys()); err != nil {
		t.Fatal(err)
	}
	for _, agent := range agents {
		_, creds, _, err := reg.Enroll(tenant, "snow", agent, false)
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(a.dataDir, agent+".creds")
		if err := os.WriteFile(path, creds, 0o600); err != nil {
			t.Fatal(err)
		}
		a.creds[agent] = path
	}
	if a.operator, _, err = reg.Keys().OperatorClaims(); err != nil {
		t.Fatal(err)
	}
	for _, f := range []func() (string, error){reg.Keys().SystemJWT, reg.Keys().RelayJWT, func() (string, error) { return reg.AccountJWT(tenant) }} {
		tok, err := f()
		if err != nil {
			t.Fatal(err)
		}
		a.jwts = append(a.jwts, tok)
	}
	return a
}

// nodeOptions puts one node in operator mode with a resolver directory of
// its own holding every account JWT.
func (a *accountsSetup) nodeOptions(t *testing.T) func(*server.Options) {
	return func(opts *server.Options) {
		dr, err := server.NewDirAccResolver(t.TempDir(), 0, 0, server.NoDelete)
		if err != nil {
			t.Fatal(err)
		}
		for _, tok := range a.jwts {
			ac, err := jwt.DecodeAccountClaims(tok)
			if err != nil {
				t.Fatal(err)
			}
			if err := dr.Store(ac.Subject, tok); err != nil {
				t.Fatal(err)
			}
		}
		opts.TrustedOperators, opts.SystemAccount, opts.AccountResolver = []*jwt.OperatorClaims{a.operator}, a.operator.SystemAccount, dr
	}
}
