//go:build !linux

package service

// osHost does nothing outside Linux: only systemd installs need a user.
type osHost struct{}

// EnsureUser does nothing.
func (osHost) EnsureUser(name, home string) error { return nil }

// PrepareDir does nothing.
func (osHost) PrepareDir(dir, user string) error { return nil }

// CheckReadable does nothing.
func (osHost) CheckReadable(file, user string) error { return nil }
