//go:build !unix

package main

// privateFiles is a no-op where there is no umask: on Windows install
// restricts the data folder's ACL.
func privateFiles() {}
