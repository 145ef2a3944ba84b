//go:build !linux

package logging

// UnderJournald reports whether stderr is connected to the systemd journal;
// never outside Linux.
func UnderJournald() bool { return false }
