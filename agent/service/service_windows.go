package service

import (
	"fmt"
	"time"

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

// postInstall sets the recovery actions: kardianos sets a single one.
func postInstall(name string) error {
	m, err := mgr.Connect()
	if err != nil {
		return fmt.Errorf("connect to service manager: %w", err)
	}
	defer m.Disconnect()
	s, err := m.OpenService(name)
	if err != nil {
		return fmt.Errorf("open service %s: %w", name, err)
	}
	defer s.Close()
	var actions []mgr.RecoveryAction
	for _, a := range RecoveryActions() {
		actions = append(actions, mgr.RecoveryAction{Type: mgr.ServiceRestart, Delay: a.Delay})
	}
	if err := s.SetRecoveryActions(actions, uint32(RecoveryResetPeriod/time.Second)); err != nil {
		return fmt.Errorf("set recovery actions of service %s: %w", name, err)
	}
	if err := s.SetRecoveryActionsOnNonCrashFailures(true); err != nil {
		return fmt.Errorf("enable recovery on non-crash failures of service %s: %w", name, err)
	}
	return nil
}
