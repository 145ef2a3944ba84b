//go:build !windows

package service

// runsAsWindowsService is false outside Windows.
func runsAsWindowsService() bool { return false }

// runWindowsService is never called outside Windows.
func runWindowsService(cfg Config, prg *program) error { return prg.runForeground() }

// postInstall has nothing to add outside Windows.
func postInstall(Config) error { return nil }
