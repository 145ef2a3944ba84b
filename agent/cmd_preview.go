package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/rs/zerolog"

	"github.com/sei-edge/servicenow-edge/agent/config"
	"github.com/sei-edge/servicenow-edge/agent/servicenow"
	"github.com/sei-edge/servicenow-edge/relay/command"
	"github.com/sei-edge/servicenow-edge/relay/wire"
)

// cmdPreview fetches a few of TABLE's records (the first of the lookback
// window, in poll order) and prints them exactly as they would be sent:
// NDJSON wire records, after exclusions.
func cmdPreview(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, path := flags("preview", stdout)
	n := fs.Int("n", 3, "how many records to show")
	if err := parse(fs, args); err != nil {
		return err
	}
	// Flags may follow the table too: preview -c FILE incident -n 2.
	var name string
	if fs.NArg() > 0 {
		name = fs.Arg(0)
		if err := parse(fs, fs.Args()[1:]); err != nil {
			return err
		}
	}
	if name == "" || fs.NArg() != 0 {
		return command.Usagef("usage: sei-agent preview -c FILE TABLE [-n N]")
	}
	if *n < 1 {
		return command.Usagef("preview: -n must be at least 1 (got %d)", *n)
	}
	cfg, err := loadConfig(*path)
	if err != nil {
		return err
	}
	tokens, release := borrowTokens(cfg)
	defer release()
	recs, t, err := previewRecords(ctx, cfg, tokens, name, *n)
	if err != nil {
		return err
	}
	raw, err := wire.EncodeNDJSON(recs)
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "# %s: %d record(s) exactly as they would leave (excluded: %v)\n", name, len(recs), t.Exclude)
	_, err = stdout.Write(raw)
	return err
}

// previewRecords reads the first n records of table name (the first of
// the lookback window, in poll order) exactly as a poll reads them: the
// same client settings, the same exclusions. A table cfg does not sync, or
// a client cfg cannot make, is a usage error.
func previewRecords(ctx context.Context, cfg *config.Config, tokens servicenow.TokenStore, name string, n int) ([]wire.Record, servicenow.Table, error) {
	tables := syncTables(cfg)
	i := slices.IndexFunc(tables, func(t servicenow.Table) bool { return t.Name == name })
	if i < 0 {
		return nil, servicenow.Table{}, command.Usagef("table %q is not synced by this configuration (synced: %v)", name, tableNames(cfg))
	}
	cc := clientConfig(cfg, zerolog.Nop(), tokens)
	cc.PageSize = min(cc.PageSize, n) // a preview needs no page of 1000 rows
	client, err := servicenow.New(cc)
	if err != nil {
		return nil, servicenow.Table{}, command.Usage(err)
	}
	t := tables[i]
	upto := time.Now().UTC()
	from := servicenow.CursorAt(upto.Add(-time.Duration(cfg.ServiceNow.Lookback)))
	var recs []wire.Record
	err = client.Scan(ctx, t, from, upto, func(p servicenow.Page) error {
		recs = append(recs, p.Records...)
		if len(recs) >= n {
			recs = recs[:n]
			return errEnough
		}
		return nil
	})
	if err != nil && !errors.Is(err, errEnough) {
		return nil, t, err
	}
	return recs, t, nil
}

var errEnough = errors.New("enough records")
