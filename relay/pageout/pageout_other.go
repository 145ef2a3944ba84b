//go:build !linux

package pageout

// Dir does nothing outside Linux (MADV_PAGEOUT is Linux's): the kernel
// reclaims the mapped files' pages under memory pressure only.
func Dir(string, func(string) bool) (int, error) { return 0, nil }
