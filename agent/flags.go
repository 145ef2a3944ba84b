package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/rs/zerolog"

	"github.com/sei-edge/servicenow-edge/agent/config"
	"github.com/sei-edge/servicenow-edge/agent/servicenow"
	"github.com/sei-edge/servicenow-edge/relay/command"
)

// Flags and the one configuration path every command takes.

// defaultConfigPath is where the service looks without -c.
func defaultConfigPath() string {
	if p := os.Getenv("SEI_AGENT_CONFIG"); p != "" {
		return p
	}
	if runtime.GOOS == "windows" {
		return filepath.Join(os.Getenv("ProgramData"), "sei-agent", "agent.yaml")
	}
	return "/etc/sei-agent/agent.yaml"
}

// flags returns a flag set with -c for cmd; -h prints the flags on stdout
// (command.Flags).
func flags(cmd string, stdout io.Writer) (*flag.FlagSet, *string) {
	fs := command.Flags("sei-agent "+cmd, stdout)
	path := fs.String("c", defaultConfigPath(), "configuration file")
	return fs, path
}

// parse is command.Parse.
func parse(fs *flag.FlagSet, args []string) error { return command.Parse(fs, args) }

// loadConfig is the agent's one configuration path, run the same way by
// every command that needs a valid configuration (run, sync, validate,
// preview, login, install, start, restart): config.Load (parse, expand,
// defaults, validate), then what the ServiceNow client would refuse of it
// (each synced table's filter and field list, the client's settings), so
// a mistake stops every command now, with exit 2, instead of failing
// every poll. An invalid file is a usage error (exit 2).
func loadConfig(path string) (*config.Config, error) {
	c, err := config.Load(path)
	if err == nil {
		err = clientProblems(c)
	}
	if err != nil {
		return c, command.Usage(err)
	}
	return c, nil
}

// clientProblems reports what the ServiceNow client refuses of cfg: every
// table it could not scan, each naming its servicenow.tables key, and its
// own settings (config.Validate holds the same rules, so this is a guard).
func clientProblems(cfg *config.Config) error {
	var problems []string
	for i, sub := range cfg.Split() {
		prefix := ""
		if cfg.Multi() { // each instance's problems are named instances[N].servicenow.…
			prefix = fmt.Sprintf("instances[%d].", i)
		}
		for _, p := range instanceClientProblems(sub) {
			problems = append(problems, prefix+p)
		}
	}
	if err := checkLogFile(cfg.Log.File); err != nil {
		problems = append(problems, err.Error())
	}
	if len(problems) > 0 {
		return fmt.Errorf("load config %s: %w", cfg.File, &config.Error{Problems: problems})
	}
	return nil
}

// instanceClientProblems is clientProblems for one instance's
// (single-instance) configuration.
func instanceClientProblems(cfg *config.Config) []string {
	var problems []string
	for _, t := range syncTables(cfg) {
		if err := t.Check(); err != nil {
			problems = append(problems, err.Error())
		}
	}
	if _, err := servicenow.New(clientConfig(cfg, zerolog.Nop(), nil)); err != nil {
		problems = append(problems, strings.Split(err.Error(), "\n")...)
	}
	return problems
}

// checkLogFile refuses a log.file that cannot be a file: the nearest
// existing folder on its path is not a folder. It changes nothing on disk;
// a permission problem shows when the log is opened.
func checkLogFile(path string) error {
	if path == "" {
		return nil
	}
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		return fmt.Errorf("log.file: %s is a folder", path)
	}
	for dir := filepath.Dir(path); ; dir = filepath.Dir(dir) {
		fi, err := os.Stat(dir)
		if err == nil && !fi.IsDir() {
			return fmt.Errorf("log.file: %s is not a folder", dir)
		}
		if err == nil || dir == filepath.Dir(dir) {
			return nil
		}
	}
}
