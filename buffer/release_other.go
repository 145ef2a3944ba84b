//go:build !linux

package buffer

// releaseTables does nothing outside Linux (see release_linux.go).
func releaseTables(string) {}
