//go:build !linux

package badgerstore

// pageOut does nothing outside Linux (MADV_PAGEOUT is Linux's): the
// kernel reclaims the mapped files' pages under memory pressure only.
func pageOut(string) (int, error) { return 0, nil }
