package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/sei-edge/servicenow-edge/relay/command"
	relaytoken "github.com/sei-edge/servicenow-edge/relay/token"
	"github.com/sei-edge/servicenow-edge/relay/wire"
)

// cmdToken manages the HTTP API's tenant tokens in the cluster's token
// bucket (token.Bucket), which every relay reads on each request, so a
// created or revoked token counts at once on every replica. With the
// embedded server and no relay running it uses data_dir's token file,
// which the relay moves into the bucket when it starts.
func cmdToken(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) == 0 {
		return command.Usagef("want: token create --tenant T [--name N] | token list [--json] | token revoke ID")
	}
	switch verb, rest := args[0], args[1:]; verb {
	case "create":
		return cmdTokenCreate(ctx, rest, stdout)
	case "list":
		return cmdTokenList(ctx, rest, stdout)
	case "revoke":
		return cmdTokenRevoke(ctx, rest, stdout)
	default:
		return command.Usagef("unknown token command %q (want create, list or revoke)", verb)
	}
}

// cmdTokenCreate prints the new token alone on stdout: `T=$(sei-relay token
// create --tenant acme)` keeps it out of terminals and logs.
func cmdTokenCreate(ctx context.Context, args []string, stdout io.Writer) error {
	fs, path := newFlags("token create", stdout)
	tenant := fs.String("tenant", "", "tenant the token reads")
	name := fs.String("name", "", "what the token is for (shown by token list)")
	if err := command.ParseFlagsOnly(fs, args); err != nil {
		return err
	}
	if err := wire.CheckName("--tenant", *tenant); err != nil {
		return command.Usage(err)
	}
	if len(*name) > 128 {
		return command.Usagef("--name: at most 128 bytes")
	}
	ts, closeTokens, err := openTokens(ctx, *path)
	if err != nil {
		return err
	}
	defer closeTokens()
	tok, _, err := ts.Create(ctx, *tenant, *name, time.Now())
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(stdout, tok)
	return err
}

func cmdTokenList(ctx context.Context, args []string, stdout io.Writer) error {
	fs, path := newFlags("token list", stdout)
	asJSON := fs.Bool("json", false, "print JSON")
	if err := command.ParseFlagsOnly(fs, args); err != nil {
		return err
	}
	store, closeTokens, err := openTokens(ctx, *path)
	if err != nil {
		return err
	}
	defer closeTokens()
	ts, err := store.List(ctx)
	if err != nil {
		return err
	}
	if *asJSON {
		type view struct {
			ID      string    `json:"id"`
			Tenant  string    `json:"tenant"`
			Name    string    `json:"name"`
			Created time.Time `json:"created"`
		}
		out := make([]view, 0, len(ts))
		for _, t := range ts {
			out = append(out, view{t.ID, t.Tenant, t.Name, t.Created})
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tTENANT\tNAME\tCREATED")
	for _, t := range ts {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", t.ID, t.Tenant, t.Name, t.Created.Format(time.RFC3339))
	}
	return tw.Flush()
}

func cmdTokenRevoke(ctx context.Context, args []string, stdout io.Writer) error {
	fs, path := newFlags("token revoke", stdout)
	if err := parse(fs, args); err != nil {
		return err
	}
	rest := fs.Args()
	if len(rest) > 1 { // flags may follow the id
		if err := parse(fs, rest[1:]); err != nil {
			return err
		}
		rest = append(rest[:1], fs.Args()...)
	}
	if len(rest) != 1 {
		return command.Usagef("want: token revoke [-c FILE] ID (see token list)")
	}
	store, closeTokens, err := openTokens(ctx, *path)
	if err != nil {
		return err
	}
	defer closeTokens()
	t, err := store.Revoke(ctx, rest[0])
	if errors.Is(err, relaytoken.ErrNotFound) {
		return command.Usage(err)
	}
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(stdout, "revoked token %s of tenant %s\n", t.ID, t.Tenant)
	return err
}

// tokenStore is where the tenant tokens' hashes are kept: the cluster's
// bucket (relaytoken.KV) or, before the relay moved them, a data_dir's file.
type tokenStore interface {
	Create(ctx context.Context, tenant, name string, now time.Time) (string, relaytoken.Token, error)
	List(ctx context.Context) ([]relaytoken.Token, error)
	Revoke(ctx context.Context, id string) (relaytoken.Token, error)
}

// openTokens loads the configuration at path and opens the token bucket
// through the running relay's embedded server or the external cluster (as
// quarantine does), or, with the embedded server and no relay running,
// data_dir's token file. The returned func closes the connection.
func openTokens(ctx context.Context, path string) (tokenStore, func(), error) {
	cfg, err := loadConfig(path)
	if err != nil {
		return nil, nil, err
	}
	var ri runInfo
	if cfg.NATS.Embedded() {
		if ri, err = readRunInfo(cfg.DataDir); err != nil {
			return fileTokens{relaytoken.Open(cfg.DataDir)}, func() {}, nil
		}
	}
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	nc, err := adminConn(ctx, cfg, ri)
	if err != nil {
		return nil, nil, err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, nil, fmt.Errorf("open jetstream: %w", err)
	}
	kv, err := relaytoken.OpenKV(ctx, js, cfg.StreamReplicas())
	if err != nil {
		nc.Close()
		return nil, nil, err
	}
	return kv, nc.Close, nil
}

// fileTokens is a token file as a tokenStore.
type fileTokens struct{ f *relaytoken.File }

func (f fileTokens) Create(_ context.Context, tenant, name string, now time.Time) (string, relaytoken.Token, error) {
	return f.f.Create(tenant, name, now)
}
func (f fileTokens) List(context.Context) ([]relaytoken.Token, error) { return f.f.List() }
func (f fileTokens) Revoke(_ context.Context, id string) (relaytoken.Token, error) {
	return f.f.Revoke(id)
}
