// Command snowsim runs the ServiceNow simulator (package snowtest) as a
// standalone HTTP server for demos, manual testing and benchmarks. It prints
// the URL on the first line of stdout and the credentials on the next, then
// serves until SIGINT or SIGTERM.
//
//	snowsim -listen 127.0.0.1:8091 -seed 1 -incidents 5000 -page-faults rate=50,retry-after=1s,truncate=20
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/sei-edge/servicenow-edge/agent/servicenow/snowtest"
)

// config is the parsed command line.
type config struct {
	listen string
	opts   snowtest.Options
	faults snowtest.Faults
	hide   map[string]float64
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run parses args, serves until a signal and returns the exit code.
func run(args []string, stdout, stderr io.Writer) int {
	cfg, err := parseFlags(args, stderr)
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(stderr, "snowsim:", err)
		}
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := serve(ctx, cfg, stdout); err != nil {
		fmt.Fprintln(stderr, "snowsim:", err)
		return 1
	}
	return 0
}

func parseFlags(args []string, stderr io.Writer) (config, error) {
	var cfg config
	var clientID, clientSecret, faultSpec, hideSpec string
	var clientCreds bool
	var accessTTL time.Duration
	fs := flag.NewFlagSet("snowsim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.listen, "listen", "127.0.0.1:8091", "address to serve on (port 0 picks a free one)")
	def := snowtest.Options{}.WithDefaults()
	fs.Int64Var(&cfg.opts.Seed, "seed", 1, "seed of the generated data and the fault schedule")
	counts := []struct {
		v           *int
		name, usage string
		def         int
	}{
		{&cfg.opts.Incidents, "incidents", "incidents to generate", def.Incidents},
		{&cfg.opts.Changes, "changes", "change requests to generate", def.Changes},
		{&cfg.opts.Users, "users", "users to generate (at least 1)", def.Users},
		{&cfg.opts.Groups, "groups", "groups to generate (at least 1)", def.Groups},
		{&cfg.opts.Approvals, "approvals", "approvals per change", def.Approvals},
		{&cfg.opts.AuditPerRecord, "audit", "sys_audit rows per incident and change", def.AuditPerRecord},
		{&cfg.opts.JournalPerRecord, "journal", "journal rows per incident", def.JournalPerRecord},
	}
	for _, c := range counts {
		fs.IntVar(c.v, c.name, c.def, c.usage+"; 0 = none")
	}
	fs.DurationVar(&cfg.opts.Spread, "spread", def.Spread, "how far back sys_updated_on goes")
	fs.DurationVar(&cfg.opts.Latency, "latency", 0, "delay added to every request")
	fs.StringVar(&cfg.opts.Username, "user", def.Username, `basic auth user ("-" disables basic auth)`)
	fs.StringVar(&cfg.opts.Password, "password", def.Password, "basic auth password")
	fs.StringVar(&clientID, "oauth-client-id", "", "enables OAuth with this client id")
	fs.StringVar(&clientSecret, "oauth-client-secret", "", "OAuth client secret")
	fs.BoolVar(&clientCreds, "oauth-client-credentials", false, "accept grant_type=client_credentials")
	oauthDef := snowtest.Options{OAuth: &snowtest.OAuthOptions{}}.WithDefaults().OAuth
	fs.DurationVar(&accessTTL, "oauth-access-ttl", oauthDef.AccessTTL, "OAuth access token lifetime")
	fs.StringVar(&faultSpec, "page-faults", "", "fault schedule: rate=N,retry-after=D,5xx=N,html=N,truncate=N,max-limit=N,unknown-403")
	fs.StringVar(&hideSpec, "hide", "", "row ACLs: table=fraction,... (e.g. incident=0.1)")
	if err := fs.Parse(args); err != nil {
		return config{}, err
	}
	if fs.NArg() > 0 {
		return config{}, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	for _, c := range counts {
		if *c.v == 0 { // none; in Options zero means the default
			*c.v = -1
		}
	}
	if clientID != "" {
		cfg.opts.OAuth = &snowtest.OAuthOptions{ClientID: clientID, ClientSecret: clientSecret,
			AccessTTL: accessTTL, ClientCredentials: clientCreds}
	}
	var err error
	if cfg.faults, err = parseFaults(faultSpec); err != nil {
		return config{}, fmt.Errorf("-page-faults: %w", err)
	}
	if cfg.hide, err = parseHide(hideSpec); err != nil {
		return config{}, fmt.Errorf("-hide: %w", err)
	}
	return cfg, nil
}

// parseFaults reads a -page-faults spec.
func parseFaults(spec string) (snowtest.Faults, error) {
	var f snowtest.Faults
	for _, item := range strings.Split(spec, ",") {
		if item = strings.TrimSpace(item); item == "" {
			continue
		}
		key, val, _ := strings.Cut(item, "=")
		if key == "unknown-403" {
			f.UnknownFieldIs403 = true
			continue
		}
		if key == "retry-after" {
			d, err := time.ParseDuration(val)
			if err != nil || d < 0 {
				return f, fmt.Errorf("retry-after: want a duration such as 2s (got %q)", val)
			}
			f.RetryAfter = d
			continue
		}
		n, err := strconv.Atoi(val)
		if err != nil || n < 0 {
			return f, fmt.Errorf("%s: want a count >= 0 (got %q)", key, val)
		}
		switch key {
		case "rate":
			f.RateLimitEvery = n
		case "5xx":
			f.ServerErrorEvery = n
		case "html":
			f.HTMLEvery = n
		case "truncate":
			f.TruncateEvery = n
		case "max-limit":
			f.MaxLimitBeforeTruncate = n
		default:
			return f, fmt.Errorf("unknown fault %q (want rate, retry-after, 5xx, html, truncate, max-limit, unknown-403)", key)
		}
	}
	return f, nil
}

// parseHide reads a -hide spec.
func parseHide(spec string) (map[string]float64, error) {
	out := map[string]float64{}
	for _, item := range strings.Split(spec, ",") {
		if item = strings.TrimSpace(item); item == "" {
			continue
		}
		table, val, _ := strings.Cut(item, "=")
		f, err := strconv.ParseFloat(val, 64)
		if err != nil || f < 0 || f > 1 || table == "" {
			return nil, fmt.Errorf("want table=fraction with fraction in 0..1 (got %q)", item)
		}
		out[table] = f
	}
	return out, nil
}

// serve runs the simulator until ctx ends.
func serve(ctx context.Context, cfg config, stdout io.Writer) error {
	ln, err := net.Listen("tcp", cfg.listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.listen, err)
	}
	sim := snowtest.New(cfg.opts)
	sim.SetFaults(cfg.faults)
	for table, f := range cfg.hide {
		sim.HideRows(table, f)
	}
	fmt.Fprintf(stdout, "http://%s\n", ln.Addr())
	if cfg.opts.Username != "" && cfg.opts.Username != "-" {
		fmt.Fprintf(stdout, "username=%s password=%s\n", cfg.opts.Username, cfg.opts.Password)
	}
	if oa := cfg.opts.OAuth; oa != nil {
		fmt.Fprintf(stdout, "oauth_client_id=%s oauth_client_secret=%s\n", oa.ClientID, oa.ClientSecret)
	}
	hs := &http.Server{Handler: sim, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }() // ended by Shutdown below
	select {
	case err := <-errc:
		return fmt.Errorf("serve on %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		return fmt.Errorf("shut down: %w", err)
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve on %s: %w", ln.Addr(), err)
	}
	return nil
}
