package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	neturl "net/url"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/sei-edge/servicenow-edge/relay/command"
	"github.com/sei-edge/servicenow-edge/relay/config"
	"github.com/sei-edge/servicenow-edge/relay/enroll"
	"github.com/sei-edge/servicenow-edge/relay/natsbox"
	"github.com/sei-edge/servicenow-edge/relay/wire"
)

// cmdEnroll creates an agent's user in its tenant's account (the account
// too, for a tenant's first agent), writes its .creds file and prints the
// agent's relay: block on stdout. A running relay gets the tenant's new
// account JWT at once.
func cmdEnroll(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, path := newFlags("enroll", stdout)
	tenant := fs.String("tenant", "", "tenant of the agent")
	var integrations stringList
	fs.Var(&integrations, "integration", "integration the agent publishes for; repeat it for an agent with several ServiceNow instances (one integration each)")
	agent := fs.String("agent", "", "agent id (the agent's agent.id)")
	out := fs.String("out", "", "credentials file to write (default data_dir/credentials/TENANT.AGENT.creds)")
	replace := fs.Bool("replace", false, "replace the key of an agent already enrolled")
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := errors.Join(wire.CheckName("--tenant", *tenant), checkIntegrations(integrations), wire.CheckName("--agent", *agent)); err != nil {
		return command.Usage(err)
	}
	cfg, err := loadConfig(*path)
	if err != nil {
		return err
	}
	credsPath, err := credentialsPath(cfg, *out, *tenant+"."+*agent)
	if err != nil {
		return err
	}
	reg, err := newRegistry(cfg)
	if err != nil {
		return err
	}
	_, creds, tok, err := reg.EnrollIntegrations(*tenant, integrations, *agent, *replace)
	if errors.Is(err, enroll.ErrEnrolled) {
		return command.Usage(fmt.Errorf("%w (use --replace to issue a new key)", err))
	}
	if err != nil {
		return err
	}
	if err := enroll.WriteCredentials(credsPath, creds); err != nil {
		return err
	}
	ri, err := publishAccount(ctx, cfg, reg, tok, stderr)
	if err != nil {
		return err
	}
	block := enroll.RelayBlock{Credentials: credsPath, Tenant: *tenant}
	if len(integrations) == 1 {
		block.Integration = integrations[0]
	} else {
		block.Instances = integrations
	}
	block.URL, block.CAFile = agentURL(cfg, ri, stderr)
	text, err := block.Marshal(*agent)
	if err != nil {
		return err
	}
	_, err = stdout.Write(text)
	return err
}

// publishAccount hands a tenant's new account JWT to the NATS server. The
// embedded server of a running relay (relay.json names it) gets it over
// the admin subject, so the change is live when the command returns; a
// relay that is not running finds it in its resolver directory when it
// starts. In external mode the JWT is written to data_dir/accounts/jwt and
// pushed to the cluster with nats.system_credentials, or else by the
// cluster operator (see relay/doc.go); ri is zero then.
func publishAccount(ctx context.Context, cfg config.Config, reg *enroll.Registry, tok string, w io.Writer) (runInfo, error) {
	if !cfg.NATS.Embedded() {
		path, err := reg.WriteResolverJWT(tok)
		if err != nil {
			return runInfo{}, err
		}
		op, sys, err := reg.WriteClusterFiles()
		if err != nil {
			return runInfo{}, err
		}
		if _, err := enroll.AdminCreds(cfg.DataDir, reg.Keys()); err != nil {
			return runInfo{}, err
		}
		syscreds, err := enroll.SystemCreds(cfg.DataDir, reg.Keys())
		if err != nil {
			return runInfo{}, err
		}
		if cfg.NATS.SystemCredentials != "" {
			if err := pushAccount(ctx, cfg, tok); err != nil {
				return runInfo{}, fmt.Errorf("%w (the account JWT is saved in %s: push it by hand)", err, path)
			}
			return runInfo{}, nil
		}
		fmt.Fprintf(w, "note: external cluster: push the tenant's account JWT %s to the cluster's account resolver (nats.url), e.g. `nats server request push-account` or `nsc push`, or set nats.system_credentials (e.g. %s) and enroll pushes it.\n"+
			"  Once per cluster: trust the operator %s, set system_account %s, use a full resolver, push the JWTs in %s, and run the relays as a user of the relay account (nats.credentials, e.g. %s). See relay/doc.go.\n",
			path, syscreds, op, sys, filepath.Dir(path), filepath.Join(cfg.DataDir, enroll.AdminCredsFile))
		return runInfo{}, nil
	}
	ri, err := readRunInfo(cfg.DataDir)
	if err != nil { // not running: it reads the resolver directory at start
		_, err := reg.WriteResolverJWT(tok)
		return runInfo{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	nc, err := adminConn(ctx, cfg, ri)
	if err == nil {
		defer nc.Close()
		_, err = adminRequest(ctx, nc, accountUpdateSubject, []byte(tok))
	}
	if err != nil {
		if _, werr := reg.WriteResolverJWT(tok); werr != nil {
			return ri, werr
		}
		fmt.Fprintf(w, "note: could not hand the account to the running relay (%v); it is saved and applies when the relay restarts\n", err)
	}
	return ri, nil
}

// agentURL returns the URL and CA file agents should use: nats.public_url
// when set, else the running relay's actual URL from its relay.json ri
// (zero when it does not run), else one derived from nats.listen.
func agentURL(cfg config.Config, ri runInfo, stderr io.Writer) (url, caFile string) {
	if cfg.NATS.TLS.CertFile == "" && !cfg.NATS.TLS.Disable {
		caFile, _ = filepath.Abs(filepath.Join(cfg.DataDir, natsbox.TLSDir, natsbox.CAFile))
	}
	if cfg.NATS.PublicURL != "" {
		return cfg.NATS.PublicURL, caFile
	}
	if ri.NATSURL != "" {
		url = ri.NATSURL
	} else {
		scheme := "tls"
		if cfg.NATS.TLS.Disable {
			scheme = "nats"
		}
		url = scheme + "://" + cfg.NATS.Listen
	}
	if u, err := neturl.Parse(url); err == nil {
		host := u.Hostname()
		if ip := net.ParseIP(host); host == "localhost" || (ip != nil && (ip.IsLoopback() || ip.IsUnspecified())) {
			fmt.Fprintf(stderr, "note: %s is a local address; set nats.public_url to the address agents dial\n", url)
		}
	}
	return url, caFile
}

// cmdRevoke removes an agent and revokes its user; a running relay
// disconnects it before the command returns.
func cmdRevoke(ctx context.Context, args []string, stdout io.Writer) error {
	fs, path := newFlags("revoke", stdout)
	tenant := fs.String("tenant", "", "tenant of the agent")
	agent := fs.String("agent", "", "agent id")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *tenant == "" || *agent == "" {
		return command.Usagef("--tenant and --agent are required")
	}
	cfg, reg, err := loadRegistry(*path)
	if err != nil {
		return err
	}
	tok, err := reg.Revoke(*tenant, *agent)
	if err != nil {
		if errors.Is(err, enroll.ErrNotEnrolled) {
			return command.Usage(err)
		}
		return err
	}
	if _, err := publishAccount(ctx, cfg, reg, tok, stdout); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "revoked %s/%s\n", *tenant, *agent)
	return nil
}

// cmdAgents lists the enrolled agents.
func cmdAgents(ctx context.Context, args []string, stdout io.Writer) error {
	fs, path := newFlags("agents", stdout)
	asJSON := fs.Bool("json", false, "print JSON")
	if err := parse(fs, args); err != nil {
		return err
	}
	_, reg, err := loadRegistry(*path)
	if err != nil {
		return err
	}
	agents, err := reg.List()
	if err != nil {
		return err
	}
	if *asJSON {
		if agents == nil {
			agents = []enroll.Agent{}
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(agents)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TENANT\tINTEGRATION\tAGENT\tENROLLED\tPUBLIC KEY")
	for _, a := range agents {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", a.Tenant, strings.Join(a.AllIntegrations(), ","), a.Agent, a.Created.Format(time.RFC3339), a.PublicKey)
	}
	return tw.Flush()
}

// stringList is a flag that may be given several times.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }

// checkIntegrations: at least one --integration, each a valid name, none
// twice.
func checkIntegrations(list []string) error {
	if len(list) == 0 {
		return wire.CheckName("--integration", "")
	}
	var errs []error
	seen := map[string]bool{}
	for _, in := range list {
		errs = append(errs, wire.CheckName("--integration", in))
		if seen[in] {
			errs = append(errs, fmt.Errorf("--integration %s: given twice", in))
		}
		seen[in] = true
	}
	return errors.Join(errs...)
}

// credentialsPath is the absolute path of the credentials file enroll
// writes: --out, or data_dir/credentials/NAME.creds.
func credentialsPath(cfg config.Config, out, name string) (string, error) {
	if out == "" {
		out = filepath.Join(cfg.DataDir, "credentials", name+".creds")
	}
	p, err := filepath.Abs(out)
	if err != nil {
		return "", fmt.Errorf("resolve credentials path: %w", err)
	}
	return p, nil
}

// loadRegistry loads the configuration at path and opens its enrollment
// registry.
func loadRegistry(path string) (config.Config, *enroll.Registry, error) {
	cfg, err := loadConfig(path)
	if err != nil {
		return cfg, nil, err
	}
	reg, err := newRegistry(cfg)
	return cfg, reg, err
}

// pushAccount hands an account JWT to the external cluster as a user of
// its system account (nats.system_credentials).
func pushAccount(ctx context.Context, cfg config.Config, tok string) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	nc, err := natsbox.Dial(ctx, natsbox.DialConfig{URL: cfg.NATS.URL, Credentials: cfg.NATS.SystemCredentials,
		CredentialsKey: "nats.system_credentials", CAFile: cfg.NATS.CAFile, Name: "sei-relay-enroll"})
	if err != nil {
		return fmt.Errorf("push the tenant's account JWT: %w", err)
	}
	defer nc.Close()
	return natsbox.PushAccount(nc, tok)
}
