package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"

	"github.com/sei-edge/servicenow-edge/relay/command"
	"github.com/sei-edge/servicenow-edge/relay/config"
	"github.com/sei-edge/servicenow-edge/relay/enroll"
	"github.com/sei-edge/servicenow-edge/relay/natsbox"
	"github.com/sei-edge/servicenow-edge/relay/store"
	"github.com/sei-edge/servicenow-edge/relay/wire"
)

// cmdQuarantine lists, shows or replays dead-lettered batches through the
// running relay (which holds the store). Every answer comes in pages or
// chunks, so a quarantine of any size works.
func cmdQuarantine(ctx context.Context, args []string, stdout io.Writer) error {
	fs, path := newFlags("quarantine", stdout)
	asJSON := fs.Bool("json", false, "print JSON (list)")
	tenant := fs.String("tenant", "", "tenant of the batch (list: only this tenant)")
	raw := fs.Bool("raw", false, "show: print the stored body as it is (zstd), not inflated")
	if err := parse(fs, args); err != nil {
		return err
	}
	rest := fs.Args()
	for len(rest) > 1 { // flags may follow the subcommand and the id
		i := 1
		for i < len(rest) && !strings.HasPrefix(rest[i], "-") {
			i++
		}
		if i == len(rest) {
			break
		}
		if err := parse(fs, rest[i:]); err != nil {
			return err
		}
		rest = append(rest[:i], fs.Args()...)
	}
	switch {
	case len(rest) == 1 && rest[0] == "list":
	case len(rest) == 2 && (rest[0] == "replay" || rest[0] == "show"):
	default:
		return command.Usagef("want: quarantine list [--tenant T] [--json] | quarantine show [--tenant T] [--raw] ID | quarantine replay [--tenant T] ID")
	}
	if *tenant != "" {
		if err := wire.CheckName("--tenant", *tenant); err != nil {
			return command.Usage(err)
		}
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
	req := quarantineRequest{Tenant: *tenant}
	switch rest[0] {
	case "replay":
		req.ID = rest[1]
		if _, err := adminRequestJSON(ctx, nc, quarantineReplaySubject, req); err != nil {
			return err
		}
		_, err = fmt.Fprintf(stdout, "replayed and released %s\n", rest[1])
		return err
	case "show":
		req.ID = rest[1]
		return showQuarantined(ctx, nc, req, *raw, stdout)
	}
	return listQuarantine(ctx, nc, req, *asJSON, stdout)
}

// listQuarantine prints the quarantine's metadata, page by page.
func listQuarantine(ctx context.Context, nc *nats.Conn, req quarantineRequest, asJSON bool, stdout io.Writer) error {
	all := []store.Quarantined{}
	for {
		r, err := adminRequestJSON(ctx, nc, quarantineListSubject, req)
		if err != nil {
			return err
		}
		all = append(all, r.Batches...)
		if r.Next == "" {
			break
		}
		req.After = r.Next
	}
	if asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(all)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TENANT\tID\tSUBJECT\tTIME\tBYTES\tREASON")
	for _, b := range all {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\n", b.Tenant, b.ID, b.Subject, b.Time.Format(time.RFC3339), b.Size, b.Reason)
	}
	return tw.Flush()
}

// showQuarantined fetches a batch's data chunk by chunk and prints it,
// inflated (NDJSON) unless raw or it does not inflate.
func showQuarantined(ctx context.Context, nc *nats.Conn, req quarantineRequest, raw bool, stdout io.Writer) error {
	var data []byte
	for {
		r, err := adminRequestJSON(ctx, nc, quarantineShowSubject, req)
		if err != nil {
			return err
		}
		data = append(data, r.Data...)
		if r.NextOffset == 0 {
			break
		}
		req.Offset = r.NextOffset
	}
	if !raw {
		if d, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(wire.MaxDecoded)); err == nil {
			out, err := d.DecodeAll(data, nil)
			d.Close()
			if err == nil {
				data = out
			}
		}
	}
	_, err := stdout.Write(data)
	return err
}

// adminRequestJSON sends req as JSON to subject.
func adminRequestJSON(ctx context.Context, nc *nats.Conn, subject string, req quarantineRequest) (adminReply, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return adminReply{}, err
	}
	return adminRequest(ctx, nc, subject, body)
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
