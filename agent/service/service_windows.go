package service

import (
	"errors"
	"fmt"
	"time"
	"unsafe"

	"golang.org/x/sys/windows"

	"golang.org/x/sys/windows/svc"
	"golang.org/x/sys/windows/svc/mgr"
)

// runsAsWindowsService reports whether the service manager started us.
func runsAsWindowsService() bool {
	is, err := svc.IsWindowsService()
	return err == nil && is
}

// runWindowsService runs prg under the service manager with our own handler:
// kardianos's handler cannot report the body returning by itself, which
// must stop the service with a non-zero exit code so recovery restarts it.
func runWindowsService(cfg Config, prg *program) error {
	h := &handler{prg: prg, cfg: cfg}
	if err := svc.Run(cfg.Name, h); err != nil {
		return fmt.Errorf("run service %s: %w", cfg.Name, err)
	}
	return h.err
}

// handler is the svc.Handler of the agent service.
type handler struct {
	prg *program
	cfg Config
	// err is the body's result, set before Execute returns.
	err error
}

// Execute runs the body until a stop or shutdown request or its own return.
func (h *handler) Execute(_ []string, r <-chan svc.ChangeRequest, s chan<- svc.Status) (bool, uint32) {
	s <- svc.Status{State: svc.StartPending}
	h.prg.start()
	s <- svc.Status{State: svc.Running, Accepts: svc.AcceptStop | svc.AcceptShutdown}
	for {
		select {
		case <-h.prg.done:
			h.err = h.prg.stop()
			return serviceExit(h.err, h.cfg.ExitCode)
		case c := <-r:
			switch c.Cmd {
			case svc.Interrogate:
				s <- c.CurrentStatus
			case svc.Stop, svc.Shutdown:
				hint := uint32((h.cfg.StopTimeout + 10*time.Second) / time.Millisecond)
				s <- svc.Status{State: svc.StopPending, WaitHint: hint}
				h.err = h.prg.stop()
				return serviceExit(h.err, h.cfg.ExitCode)
			}
		}
	}
}

// postInstall sets what kardianos does not, or not as we want: delayed
// automatic start (kardianos would set it inside CreateService, and delete
// the service when the service manager lacks that level, as Wine's does),
// the recovery actions (kardianos sets a single one) and recovery on
// non-crash failures. See applyConfigSteps for which failures only warn.
func postInstall(cfg Config) error {
	m, err := mgr.Connect()
	if err != nil {
		return fmt.Errorf("connect to service manager: %w", err)
	}
	defer m.Disconnect()
	s, err := openCreated(m, cfg.Name)
	if err != nil {
		return fmt.Errorf("open service %s: %w", cfg.Name, err)
	}
	defer s.Close()
	var actions []mgr.RecoveryAction
	for _, a := range RecoveryActions() {
		actions = append(actions, mgr.RecoveryAction{Type: mgr.ServiceRestart, Delay: a.Delay})
	}
	steps := []configStep{
		{"set delayed automatic start of service " + cfg.Name, func() error {
			info := windows.SERVICE_DELAYED_AUTO_START_INFO{IsDelayedAutoStartUp: 1}
			return windows.ChangeServiceConfig2(s.Handle, windows.SERVICE_CONFIG_DELAYED_AUTO_START_INFO, (*byte)(unsafe.Pointer(&info)))
		}},
		{"set recovery actions of service " + cfg.Name, func() error {
			return s.SetRecoveryActions(actions, uint32(RecoveryResetPeriod/time.Second))
		}},
		{"enable recovery on non-crash failures of service " + cfg.Name, func() error {
			return s.SetRecoveryActionsOnNonCrashFailures(true)
		}},
	}
	unsupported := func(err error) bool { return errors.Is(err, windows.ERROR_INVALID_LEVEL) }
	warn := func(what string, err error) {
		cfg.Logger.Warn().Err(err).Str("service", cfg.Name).
			Msgf("could not %s: the service manager does not support it; the service is installed without it", what)
	}
	return applyConfigSteps(steps, unsupported, warn)
}

// openCreated opens a service Install just created. Wine's service manager
// has been seen to answer "does not exist" for a moment after the create
// (the package tests hit it now and then), so that answer is retried for
// up to two seconds; Windows answers at once.
func openCreated(m *mgr.Mgr, name string) (*mgr.Service, error) {
	for attempt := 1; ; attempt++ {
		s, err := m.OpenService(name)
		if err == nil || !errors.Is(err, windows.ERROR_SERVICE_DOES_NOT_EXIST) || attempt == 10 {
			return s, err
		}
		t := time.NewTimer(200 * time.Millisecond)
		<-t.C
	}
}
