package service

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	kservice "github.com/kardianos/service"
)

// Platform names of the kardianos/service init systems this package treats
// specially.
const (
	platformSystemd = "linux-systemd"
	platformSysV    = "unix-systemv"
)

// Status values returned by Status.
const (
	StatusRunning      = "running"
	StatusStopped      = "stopped"
	StatusFailed       = "failed"
	StatusUnknown      = "unknown"
	StatusNotInstalled = "not-installed"
)

// kardianosOptions are our unit and the Windows start options
// (kardianos/service keys; values must be exactly string, int or bool or
// they are silently ignored). No OnFailure option: kardianos would set a
// single recovery action, which Install's postInstall replaces with
// RecoveryActions anyway. No DelayedAutoStart option either: postInstall
// sets it, so a service manager without it (Wine) only warns.
func kardianosOptions(cfg Config) kservice.KeyValue {
	return kservice.KeyValue{
		"SystemdScript": SystemdUnit(cfg),
		"StartType":     "automatic",
	}
}

// newService builds the kardianos service for cfg (already resolved) on the
// chosen init system. prg may be nil for control-only uses.
func newService(cfg Config, prg kservice.Interface) (kservice.Service, error) {
	if prg == nil {
		prg = controlOnly{}
	}
	kcfg := &kservice.Config{
		Name:        cfg.Name,
		DisplayName: cfg.DisplayName,
		Description: cfg.Description,
		Executable:  cfg.Executable,
		Arguments:   []string{"run", "-c", cfg.ConfigFile},
		Option:      kardianosOptions(cfg),
	}
	if p, ok := prg.(*program); ok {
		kcfg.Option["RunWait"] = p.wait
	}
	s, err := kservice.New(prg, kcfg)
	if err != nil {
		return nil, fmt.Errorf("set up service %s: %w", cfg.Name, err)
	}
	return s, nil
}

// Install validates the configuration and installs the service. On Windows
// it restricts the data folder to SYSTEM and Administrators first. It refuses
// when cfg.Validate fails, when the service is already installed, and, under
// systemd, when a path lies under a home directory the hardened unit cannot
// see. An existing installation makes the service manager's install fail.
// It does not start the service.
func Install(cfg Config) error {
	cfg, err := resolve(cfg)
	if err != nil {
		return fmt.Errorf("install service: %w", err)
	}
	platform := kservice.Platform()
	if platform == platformSystemd {
		if err := checkSystemdPaths(cfg); err != nil {
			return fmt.Errorf("install service %s: %w", cfg.Name, err)
		}
	}
	if _, err := os.Stat(cfg.ConfigFile); err != nil {
		return fmt.Errorf("install service %s: config file: %w", cfg.Name, err)
	}
	if cfg.Validate != nil {
		if err := cfg.Validate(); err != nil {
			return fmt.Errorf("install service %s: config file %s does not validate: %w", cfg.Name, cfg.ConfigFile, err)
		}
	}
	// The data folder holds the buffer, the token store and the admin
	// token: on Windows only SYSTEM and Administrators may open it.
	if err := secureDataDir(cfg.DataDir); err != nil {
		return fmt.Errorf("install service %s: %w", cfg.Name, err)
	}
	s, err := newService(cfg, nil)
	if err != nil {
		return err
	}
	if platform == platformSystemd {
		if err := prepareHost(cfg); err != nil {
			return fmt.Errorf("install service %s: %w", cfg.Name, err)
		}
	}
	if err := s.Install(); err != nil {
		return fmt.Errorf("install service %s on %s: %w", cfg.Name, platform, err)
	}
	if err := postInstall(cfg); err != nil {
		uerr := s.Uninstall()
		return errors.Join(fmt.Errorf("install service %s: %w (service removed again)", cfg.Name, err), uerr)
	}
	cfg.Logger.Info().Str("service", cfg.Name).Str("platform", platform).Str("config", cfg.ConfigFile).
		Str("executable", cfg.Executable).Msg("service installed; start it with `start`")
	return nil
}

// prepareHost creates the service user and the writable folders the unit
// names.
func prepareHost(cfg Config) error {
	if err := host.EnsureUser(cfg.User, "/var/lib/"+cfg.Name); err != nil {
		return fmt.Errorf("create user %s: %w", cfg.User, err)
	}
	for _, dir := range writablePaths(cfg) {
		if err := host.PrepareDir(dir, cfg.User); err != nil {
			return fmt.Errorf("prepare folder %s for user %s: %w", dir, cfg.User, err)
		}
	}
	if err := host.CheckReadable(cfg.ConfigFile, cfg.User); err != nil {
		cfg.Logger.Warn().Str("config", cfg.ConfigFile).Str("user", cfg.User).Err(err).
			Msgf("the service user may not read the config file: chgrp %s %s && chmod 0640 %s", cfg.User, cfg.ConfigFile, cfg.ConfigFile)
	}
	return nil
}

// Uninstall stops the service (when it runs) and removes it. The data
// directory is kept unless purgeData is set, in which case cfg.DataDir is
// removed (an empty or relative one, or a filesystem root, is refused).
// Uninstalling a service that is not installed is an error.
func Uninstall(cfg Config, purgeData bool) error {
	cfg = withDefaults(cfg)
	dataDir := cfg.DataDir
	if purgeData {
		if err := checkPurgeable(dataDir); err != nil {
			return fmt.Errorf("uninstall service %s: %w", cfg.Name, err)
		}
	}
	s, err := newService(cfg, nil)
	if err != nil {
		return err
	}
	st, err := s.Status()
	switch {
	case errors.Is(err, kservice.ErrNotInstalled):
		return fmt.Errorf("uninstall service %s: not installed", cfg.Name)
	case err != nil || st != kservice.StatusStopped:
		// Running, starting, failed or unknown: ask it to stop; a stop
		// of an already stopped service is harmless.
		if serr := s.Stop(); serr != nil && st == kservice.StatusRunning {
			return fmt.Errorf("uninstall service %s: stop: %w", cfg.Name, serr)
		}
	}
	if err := s.Uninstall(); err != nil {
		return fmt.Errorf("uninstall service %s: %w", cfg.Name, err)
	}
	if purgeData {
		if err := os.RemoveAll(dataDir); err != nil {
			return fmt.Errorf("uninstall service %s: remove data directory %s: %w", cfg.Name, dataDir, err)
		}
		cfg.Logger.Info().Str("service", cfg.Name).Str("data_dir", dataDir).Msg("service uninstalled; data directory removed")
		return nil
	}
	cfg.Logger.Info().Str("service", cfg.Name).Str("data_dir", dataDir).Msg("service uninstalled; data directory kept")
	return nil
}

// checkPurgeable refuses a data directory that must never be removed.
func checkPurgeable(dir string) error {
	if dir == "" || !filepath.IsAbs(dir) {
		return fmt.Errorf("purge data directory %q: must be an absolute path", dir)
	}
	clean := filepath.Clean(dir)
	if filepath.Dir(clean) == clean {
		return fmt.Errorf("purge data directory %q: refusing to remove a filesystem root", dir)
	}
	return nil
}

// Control asks the service manager to start, stop or restart the service.
func Control(cfg Config, action string) error {
	cfg = withDefaults(cfg)
	switch action {
	case "start", "stop", "restart":
	default:
		return fmt.Errorf("control service %s: unknown action %q (want start, stop or restart)", cfg.Name, action)
	}
	s, err := newService(cfg, nil)
	if err != nil {
		return err
	}
	var cerr error
	switch action {
	case "start":
		cerr = s.Start()
	case "stop":
		cerr = s.Stop()
	case "restart":
		cerr = s.Restart()
	}
	if cerr != nil {
		return fmt.Errorf("%s service %s: %w", action, cfg.Name, cerr)
	}
	return nil
}

// Status returns what the service manager says of the service: "running",
// "stopped", "failed" (systemd: stopped after an error, including a bad
// configuration), "not-installed", or "unknown" with the error.
func Status(cfg Config) (string, error) {
	cfg = withDefaults(cfg)
	s, err := newService(cfg, nil)
	if err != nil {
		return StatusUnknown, err
	}
	st, err := s.Status()
	switch {
	case errors.Is(err, kservice.ErrNotInstalled):
		return StatusNotInstalled, nil
	case err != nil && err.Error() == "service in failed state":
		return StatusFailed, nil
	case err != nil:
		return StatusUnknown, fmt.Errorf("query service %s: %w", cfg.Name, err)
	case st == kservice.StatusRunning:
		return StatusRunning, nil
	case st == kservice.StatusStopped:
		return StatusStopped, nil
	}
	return StatusUnknown, nil
}

// controlOnly is the kardianos Interface of services built only to be
// installed or controlled; it is never run.
type controlOnly struct{}

// Start is never called.
func (controlOnly) Start(kservice.Service) error { return errors.New("not runnable") }

// Stop is never called.
func (controlOnly) Stop(kservice.Service) error { return nil }

// Interactive reports whether the process runs outside a service manager
// (a terminal, a container without an init system): main sets
// logging.Options.Service to its negation.
func Interactive() bool { return kservice.Interactive() }

// Platform names the init system in use ("linux-systemd", "unix-systemv",
// "windows-service", ...), for the support bundle; "" when there is none.
func Platform() string { return kservice.Platform() }
