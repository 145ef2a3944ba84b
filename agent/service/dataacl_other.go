//go:build !windows

package service

// secureDataDir has nothing to do outside Windows: under systemd
// prepareHost makes the folder 0700 for the service user.
func secureDataDir(dir string) error { return nil }
