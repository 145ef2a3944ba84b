package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"

	"github.com/sei-edge/servicenow-edge/relay/command"
	"github.com/sei-edge/servicenow-edge/relay/config"
	"github.com/sei-edge/servicenow-edge/relay/enroll"
	"github.com/sei-edge/servicenow-edge/relay/natsbox"
)

// cmdQuarantine lists or replays dead-lettered batches through the running
// relay (which holds the store).
func cmdQuarantine(ctx context.Context, args []string, stdout io.Writer) error {
	fs, path := newFlags("quarantine", stdout)
	asJSON := fs.Bool("json", false, "print JSON (list)")
	if err := parse(fs, args); err != nil {
		return err
	}
	rest := fs.Args()
	if len(rest) > 1 { // flags may follow the subcommand
		if err := parse(fs, rest[1:]); err != nil {
			return err
		}
		rest = append(rest[:1], fs.Args()...)
	}
	switch {
	case len(rest) == 1 && rest[0] == "list":
	case len(rest) == 2 && rest[0] == "replay":
	default:
		return command.Usagef("want: quarantine list | quarantine replay ID")
	}
	cfg, err := loadConfig(*path)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	var ri runInfo
	if cfg.NATS.Embedded() {
		if ri, err = readRunInfo(cfg.DataDir); err != nil {
			return err
		}
	}
	nc, err := adminConn(ctx, cfg, ri)
	if err != nil {
		return err
	}
	defer nc.Close()
	if rest[0] == "replay" {
		if _, err := adminRequest(ctx, nc, quarantineReplaySubject, []byte(rest[1])); err != nil {
			return err
		}
		_, err = fmt.Fprintf(stdout, "replayed and released %s\n", rest[1])
		return err
	}
	r, err := adminRequest(ctx, nc, quarantineListSubject, nil)
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(r.Batches)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSUBJECT\tTIME\tBYTES\tREASON")
	for _, b := range r.Batches {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\n", b.ID, b.Subject, b.Time.Format(time.RFC3339), len(b.Data), b.Reason)
	}
	return tw.Flush()
}

// adminConn connects as an operator: to the running embedded server with
// data_dir/relay-admin.creds (URL and CA from ri, the running relay's
// relay.json), or to the external cluster with nats.credentials (ri unused).
func adminConn(ctx context.Context, cfg config.Config, ri runInfo) (*nats.Conn, error) {
	if !cfg.NATS.Embedded() {
		return natsbox.Dial(ctx, natsbox.DialConfig{URL: cfg.NATS.URL, Credentials: cfg.NATS.Credentials,
			CAFile: cfg.NATS.CAFile, Name: "sei-relay cli", Log: zerolog.Nop()})
	}
	creds := filepath.Join(cfg.DataDir, enroll.AdminCredsFile)
	if _, err := os.Stat(creds); err != nil {
		return nil, fmt.Errorf("admin credentials %s: %w (the relay writes them when it starts)", creds, err)
	}
	opts := []nats.Option{nats.UserCredentials(creds), nats.Name("sei-relay cli"), nats.MaxReconnects(0)}
	if ri.CAFile != "" {
		opts = append(opts, nats.RootCAs(ri.CAFile))
	}
	nc, err := nats.Connect(ri.NATSURL, opts...)
	if err != nil {
		return nil, fmt.Errorf("connect to running relay %s: %w", ri.NATSURL, err)
	}
	return nc, nil
}
