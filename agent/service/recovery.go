package service

import (
	"fmt"
	"time"
)

// RecoveryAction is one Windows service recovery step: restart the service
// after Delay.
type RecoveryAction struct {
	Delay time.Duration
}

// RecoveryResetPeriod is how long the service must run without failing
// before Windows starts again from the first recovery action.
const RecoveryResetPeriod = 24 * time.Hour

// RecoveryActions returns the Windows recovery actions Install sets: restart
// after 5 s, then 30 s, then 60 s (Windows repeats the last one for every
// later failure). Install also turns on recovery for non-crash failures, so
// the service stopping with a non-zero exit code (Run's error) is restarted
// too, not only a crash.
func RecoveryActions() []RecoveryAction {
	return []RecoveryAction{{Delay: 5 * time.Second}, {Delay: 30 * time.Second}, {Delay: 60 * time.Second}}
}

// serviceExit is what a Windows service handler reports when the body
// returns with err: a service-specific exit code (non-zero on failure, which
// the service manager treats as a non-crash failure and recovers from).
func serviceExit(err error, exitCode func(error) int) (svcSpecific bool, code uint32) {
	c := exitCode(err)
	if err != nil && c == 0 {
		c = 1
	}
	if c == 0 {
		return false, 0
	}
	return true, uint32(c)
}

// configStep is one service setting Install applies after creating the
// service (Windows: delayed start, recovery actions, recovery on non-crash
// failures).
type configStep struct {
	what  string
	apply func() error
}

// applyConfigSteps runs steps in order. A step the service manager does not
// implement (unsupported(err): Windows's ERROR_INVALID_LEVEL, which real
// Windows never returns for these levels but Wine's service manager does
// for delayed start and the non-crash failure flag) is reported to warn and
// skipped: the service still installs and runs. Any other failure stops
// and is returned, since on real Windows a service whose recovery could not
// be set would stay down after its first failure without anyone knowing.
func applyConfigSteps(steps []configStep, unsupported func(error) bool, warn func(what string, err error)) error {
	for _, s := range steps {
		err := s.apply()
		switch {
		case err == nil:
		case unsupported(err):
			warn(s.what, err)
		default:
			return fmt.Errorf("%s: %w", s.what, err)
		}
	}
	return nil
}
