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
	"text/tabwriter"
	"time"

	"github.com/sei-edge/servicenow-edge/relay/command"
	"github.com/sei-edge/servicenow-edge/relay/config"
	"github.com/sei-edge/servicenow-edge/relay/enroll"
	"github.com/sei-edge/servicenow-edge/relay/natsbox"
	"github.com/sei-edge/servicenow-edge/relay/wire"
)

// cmdEnroll creates an agent's NKEY, writes its credentials file and prints
// the agent's relay: block on stdout. A running relay is asked to load the
// agent at once.
func cmdEnroll(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, path := newFlags("enroll", stdout)
	tenant := fs.String("tenant", "", "tenant of the agent")
	integration := fs.String("integration", "", "integration the agent publishes for")
	agent := fs.String("agent", "", "agent id (the agent's agent.id)")
	out := fs.String("out", "", "credentials file to write (default data_dir/credentials/TENANT.AGENT.nk)")
	replace := fs.Bool("replace", false, "replace the key of an agent already enrolled")
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := errors.Join(wire.CheckName("--tenant", *tenant), wire.CheckName("--integration", *integration), wire.CheckName("--agent", *agent)); err != nil {
		return command.Usage(err)
	}
	cfg, err := loadConfig(*path)
	if err != nil {
		return err
	}
	if !cfg.NATS.Embedded() {
		return command.Usagef("enroll manages the embedded NATS server's agents; with nats.url (external cluster) issue agent credentials with the cluster's own tooling")
	}
	credsPath := *out
	if credsPath == "" {
		credsPath = filepath.Join(cfg.DataDir, "credentials", *tenant+"."+*agent+".nk")
	}
	if credsPath, err = filepath.Abs(credsPath); err != nil {
		return fmt.Errorf("resolve credentials path: %w", err)
	}
	a, seed, err := enroll.NewRegistry(cfg.DataDir).Enroll(*tenant, *integration, *agent, *replace)
	if errors.Is(err, enroll.ErrEnrolled) {
		return command.Usage(fmt.Errorf("%w (use --replace to issue a new key)", err))
	}
	if err != nil {
		return err
	}
	if err := enroll.WriteCredentials(credsPath, a, seed); err != nil {
		return err
	}
	// A relay that is not running (no relay.json) loads the registry when
	// it starts; ri stays zero then.
	ri, err := readRunInfo(cfg.DataDir)
	if err == nil {
		reloadRunning(ctx, cfg, ri, stderr)
	}
	block := enroll.RelayBlock{Credentials: credsPath, Tenant: *tenant, Integration: *integration}
	block.URL, block.CAFile = agentURL(cfg, ri, stderr)
	text, err := block.Marshal(*agent)
	if err != nil {
		return err
	}
	_, err = stdout.Write(text)
	return err
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

// cmdRevoke removes an agent; the running relay disconnects it within a
// second.
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
	cfg, err := loadConfig(*path)
	if err != nil {
		return err
	}
	if err := enroll.NewRegistry(cfg.DataDir).Revoke(*tenant, *agent); err != nil {
		if errors.Is(err, enroll.ErrNotEnrolled) {
			return command.Usage(err)
		}
		return err
	}
	if ri, err := readRunInfo(cfg.DataDir); err == nil { // else it loads the registry when it starts
		reloadRunning(ctx, cfg, ri, stdout)
	}
	fmt.Fprintf(stdout, "revoked %s/%s\n", *tenant, *agent)
	return nil
}

// reloadRunning asks the running relay, whose relay.json is ri, to load
// the agent registry now, so a new agent can connect (or a revoked one is
// cut off) as soon as the command returns. If the request fails, the relay
// still picks the change up within a second.
func reloadRunning(ctx context.Context, cfg config.Config, ri runInfo, w io.Writer) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	nc, err := adminConn(ctx, cfg, ri)
	if err == nil {
		defer nc.Close()
		_, err = adminRequest(ctx, nc, registryReloadSubject, nil)
	}
	if err != nil {
		fmt.Fprintf(w, "note: could not ask the running relay to reload its agents (%v); it picks the change up within a second\n", err)
	}
}

// cmdAgents lists the enrolled agents.
func cmdAgents(ctx context.Context, args []string, stdout io.Writer) error {
	fs, path := newFlags("agents", stdout)
	asJSON := fs.Bool("json", false, "print JSON")
	if err := parse(fs, args); err != nil {
		return err
	}
	cfg, err := loadConfig(*path)
	if err != nil {
		return err
	}
	agents, err := enroll.NewRegistry(cfg.DataDir).List()
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
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", a.Tenant, a.Integration, a.Agent, a.Created.Format(time.RFC3339), a.PublicKey)
	}
	return tw.Flush()
}
