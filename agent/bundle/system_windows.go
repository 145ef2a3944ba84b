//go:build windows

package bundle

func kernelCommand() (string, []string) { return "cmd", []string{"/c", "ver"} }
