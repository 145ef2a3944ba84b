//go:build !windows

package bundle

func kernelCommand() (string, []string) { return "uname", []string{"-srvm"} }
