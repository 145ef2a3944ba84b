//go:build linux || darwin

package buffer

import "syscall"

// DiskSpace returns the bytes of dir's filesystem available to this
// process and its total size.
func DiskSpace(dir string) (free, total uint64, err error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, 0, err
	}
	return uint64(st.Bavail) * uint64(st.Bsize), uint64(st.Blocks) * uint64(st.Bsize), nil
}

// diskFree returns the bytes available to this process on dir's filesystem.
func diskFree(dir string) (uint64, error) {
	free, _, err := DiskSpace(dir)
	return free, err
}
