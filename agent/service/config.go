package service

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/rs/zerolog"
)

// Defaults of Config.
const (
	DefaultName        = "sei-agent"
	DefaultDisplayName = "SEI ServiceNow Edge agent"
	DefaultDescription = "Forwards ServiceNow changes to SEI (sei-agent)"
	DefaultStopTimeout = 25 * time.Second
)

// Config describes the service. Only ConfigFile is required; Validate should
// be set for Install.
type Config struct {
	// Name is the service (and unit, event source, user) name; "" means
	// "sei-agent".
	Name string
	// DisplayName and Description are shown by the service manager.
	DisplayName, Description string
	// Executable is the absolute path of the binary the service runs; ""
	// means os.Executable() with symlinks resolved.
	Executable string
	// ConfigFile is passed to the service as `run -c FILE`. A relative path
	// is made absolute against the caller's working directory at install
	// time: the service manager starts in another directory.
	ConfigFile string
	// User is the Linux service user; "" means Name. Install creates it
	// as a system user when it does not exist.
	User string
	// DataDir and LogDir are agent.data_dir and the folder of log.file,
	// resolved. Outside /var/lib/<Name> and /var/log/<Name> (which systemd
	// creates) they become ReadWritePaths= of the otherwise read-only
	// (ProtectSystem=strict) unit, and Install creates them, owned by
	// User, mode 0700. Empty means the systemd defaults.
	DataDir, LogDir string
	// Validate loads and checks the configuration; Install refuses to
	// install when it fails.
	Validate func() error
	// StopTimeout bounds how long Run waits for the body to return after
	// a stop request; 0 means 25 s. The unit's TimeoutStopSec and the
	// Windows stop wait hint are 10 s longer.
	StopTimeout time.Duration
	// ExitCode maps the body's error to the exit code reported to the
	// Windows service manager (main applies the same mapping to the
	// process exit code); nil means 0 for nil and 1 otherwise.
	ExitCode func(error) int
	// Logger receives what the package does. It must not be given raw
	// configuration values.
	Logger zerolog.Logger
}

// withDefaults returns cfg with empty fields filled. It does no I/O beyond
// os.Executable when Executable is empty.
func withDefaults(cfg Config) Config {
	if cfg.Name == "" {
		cfg.Name = DefaultName
	}
	if cfg.DisplayName == "" {
		cfg.DisplayName = DefaultDisplayName
	}
	if cfg.Description == "" {
		cfg.Description = DefaultDescription
	}
	if cfg.User == "" {
		cfg.User = cfg.Name
	}
	if cfg.StopTimeout <= 0 {
		cfg.StopTimeout = DefaultStopTimeout
	}
	if cfg.ExitCode == nil {
		cfg.ExitCode = defaultExitCode
	}
	if cfg.Executable == "" {
		if exe, err := os.Executable(); err == nil {
			if real, err := filepath.EvalSymlinks(exe); err == nil {
				exe = real
			}
			cfg.Executable = exe
		}
	}
	return cfg
}

// defaultExitCode is 0 for success and 1 for any failure.
func defaultExitCode(err error) int {
	if err == nil {
		return 0
	}
	return 1
}

// resolve returns cfg with defaults and absolute Executable, ConfigFile,
// DataDir and LogDir, or an error naming what is unusable.
func resolve(cfg Config) (Config, error) {
	cfg = withDefaults(cfg)
	if cfg.ConfigFile == "" {
		return cfg, errors.New("config file: not set (use -c FILE)")
	}
	if cfg.Executable == "" {
		return cfg, errors.New("executable: cannot determine the path of this program")
	}
	for _, p := range []*string{&cfg.Executable, &cfg.ConfigFile, &cfg.DataDir, &cfg.LogDir} {
		if *p == "" {
			continue
		}
		abs, err := filepath.Abs(*p)
		if err != nil {
			return cfg, fmt.Errorf("make %s absolute: %w", *p, err)
		}
		*p = abs
	}
	return cfg, checkNames(cfg)
}

// checkNames refuses values that would break or inject into the generated
// unit or init script: control characters (a newline would start a new
// directive) and "{{" (kardianos/service renders scripts as templates).
func checkNames(cfg Config) error {
	for _, f := range []struct{ key, val string }{
		{"service name", cfg.Name}, {"display name", cfg.DisplayName}, {"description", cfg.Description},
		{"user", cfg.User}, {"executable", cfg.Executable}, {"config file", cfg.ConfigFile},
		{"agent.data_dir", cfg.DataDir}, {"log directory", cfg.LogDir},
	} {
		if strings.ContainsFunc(f.val, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			return fmt.Errorf("%s %q: contains a control character", f.key, f.val)
		}
		if strings.Contains(f.val, "{{") {
			return fmt.Errorf("%s %q: must not contain \"{{\"", f.key, f.val)
		}
	}
	for _, f := range []struct{ key, val string }{{"service name", cfg.Name}, {"user", cfg.User}} {
		if strings.ContainsAny(f.val, " /\\\"'%$") {
			return fmt.Errorf("%s %q: must be a plain word (letters, digits, - _ .)", f.key, f.val)
		}
	}
	return nil
}
