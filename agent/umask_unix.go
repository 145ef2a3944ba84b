//go:build unix

package main

import "syscall"

// privateFiles makes every file the agent creates (buffer, token store,
// logs, bundles) readable by its owner only, also when run by hand; the
// packaged unit sets UMask=0077 for the service.
func privateFiles() { syscall.Umask(0o077) }
