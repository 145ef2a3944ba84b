package service

import "time"

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
