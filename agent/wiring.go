package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"time"

	"github.com/rs/zerolog"

	"github.com/sei-edge/servicenow-edge/agent/config"
	"github.com/sei-edge/servicenow-edge/agent/logging"
	"github.com/sei-edge/servicenow-edge/agent/service"
	"github.com/sei-edge/servicenow-edge/agent/servicenow"
	"github.com/sei-edge/servicenow-edge/relay/command"
	"github.com/sei-edge/servicenow-edge/relay/logsetup"
)

// Wiring: how the configuration becomes the components' own settings (the
// ServiceNow client, the tables to sync, the logger, the service).

// clientConfig maps the agent configuration onto the ServiceNow client's.
func clientConfig(cfg *config.Config, log zerolog.Logger, tokens servicenow.TokenStore) servicenow.Config {
	sn := cfg.ServiceNow
	return servicenow.Config{
		URL: sn.URL,
		Auth: servicenow.Auth{
			Method:       sn.Auth.Method,
			Username:     sn.Auth.Username,
			Password:     sn.Auth.Password.Reveal(),
			ClientID:     sn.Auth.ClientID,
			ClientSecret: sn.Auth.ClientSecret.Reveal(),
			Grant:        sn.Auth.Grant,
			RedirectURL:  sn.Auth.RedirectURL,
			Tokens:       tokens,
		},
		CAFile:             sn.CAFile,
		Proxy:              sn.Proxy,
		ProxyUsername:      sn.ProxyUsername,
		ProxyPassword:      sn.ProxyPassword.Reveal(),
		InsecureSkipVerify: sn.InsecureSkipVerify,
		Timeout:            time.Duration(sn.Timeout),
		PageSize:           sn.PageSize,
		RateLimit:          sn.RateLimit,
		Exclude:            exclusions(cfg),
		Logger:             log.With().Str("component", "servicenow").Logger(),
		UserAgent:          "sei-agent/" + version,
	}
}

func newServiceNowClient(cfg *config.Config, log zerolog.Logger, tokens servicenow.TokenStore) (*servicenow.Client, error) {
	c, err := servicenow.New(clientConfig(cfg, log, tokens))
	if err != nil {
		return nil, command.Usage(fmt.Errorf("servicenow: %w", err))
	}
	return c, nil
}

// syncTables is the default table list adjusted by servicenow.tables:
// named tables are added or changed, enabled: false removes one, and
// servicenow.Plan applies the exclusions (sys_journal_field skipped or
// narrowed, each table's excluded fields listed for status).
func syncTables(cfg *config.Config) []servicenow.Table {
	tables := servicenow.DefaultTables()
	names := make([]string, 0, len(cfg.ServiceNow.Tables))
	for name := range cfg.ServiceNow.Tables {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		tc := cfg.ServiceNow.Tables[name]
		i := slices.IndexFunc(tables, func(t servicenow.Table) bool { return t.Name == name })
		if i < 0 {
			tables = append(tables, servicenow.Table{Name: name, Field: servicenow.FieldUpdatedOn})
			i = len(tables) - 1
		}
		t := &tables[i]
		if tc.Field != "" {
			t.Field = tc.Field
		}
		if tc.Filter != "" {
			t.Filter = tc.Filter
		}
		if len(tc.Fields) > 0 {
			t.Fields = tc.Fields
		}
	}
	tables = slices.DeleteFunc(tables, func(t servicenow.Table) bool {
		tc, ok := cfg.ServiceNow.Tables[t.Name]
		return ok && tc.Enabled != nil && !*tc.Enabled
	})
	return servicenow.Plan(tables, exclusions(cfg))
}

// exclusions are servicenow.exclude_fields and every table's exclude_fields.
func exclusions(cfg *config.Config) servicenow.Exclusions {
	ex := servicenow.Exclusions{Global: cfg.ServiceNow.ExcludeFields, Tables: map[string][]string{}}
	for name, t := range cfg.ServiceNow.Tables {
		ex.Tables[name] = t.ExcludeFields
	}
	return ex
}

// tableNames are the names of the tables cfg syncs.
func tableNames(cfg *config.Config) []string {
	var names []string
	for _, t := range syncTables(cfg) {
		names = append(names, t.Name)
	}
	return names
}

// serviceConfig describes the system service for cfg.
func serviceConfig(cfg *config.Config) service.Config {
	logDir := ""
	if cfg.Log.File != "" {
		logDir = filepath.Dir(cfg.Log.File)
	}
	return service.Config{
		ConfigFile: cfg.File,
		DataDir:    cfg.Agent.DataDir,
		LogDir:     logDir,
		Validate:   func() error { _, err := loadConfig(cfg.File); return err },
		ExitCode:   command.Code,
	}
}

// logOptions says where cfg's log goes. The name is the service's: on
// Windows it is the event-log source that installing the service
// registers.
func logOptions(cfg *config.Config) logging.Options {
	return logging.Options{Level: cfg.Log.Level, File: cfg.Log.File, DataDir: cfg.Agent.DataDir, Name: service.DefaultName}
}

// commandLogger creates the data folder (a relative log file may live in
// it) and the logger of a command run by hand: sync, reconcile.
func commandLogger(cfg *config.Config, stderr io.Writer) (zerolog.Logger, io.Closer, error) {
	if err := os.MkdirAll(cfg.Agent.DataDir, 0o700); err != nil {
		return zerolog.Logger{}, nil, fmt.Errorf("agent.data_dir: %w", err)
	}
	return newLogger(cfg, stderr, false)
}

// newLogger builds the process's one logger: JSON to the rotated file, the
// console writer on a terminal, journald priorities under systemd.
func newLogger(cfg *config.Config, stderr io.Writer, asService bool) (zerolog.Logger, io.Closer, error) {
	opts := logOptions(cfg)
	opts.Service = asService
	opts.Journald = asService && logging.UnderJournald()
	if f, ok := stderr.(*os.File); ok && logsetup.Terminal(f) {
		opts.Console = f
	}
	log, closer, err := logging.New(opts)
	if err != nil {
		return zerolog.Nop(), nil, command.Usage(fmt.Errorf("log.file: %w", err))
	}
	return log, closer, nil
}
