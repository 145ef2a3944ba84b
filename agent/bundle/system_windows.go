//go:build windows

package bundle

import "golang.org/x/sys/windows"

func kernelCommand() (string, []string) { return "cmd", []string{"/c", "ver"} }

// diskSpace returns the free (for this user) and total bytes of the volume
// holding dir.
func diskSpace(dir string) (free, total int64, err error) {
	p, err := windows.UTF16PtrFromString(dir)
	if err != nil {
		return 0, 0, err
	}
	var avail, tot, totalFree uint64
	if err := windows.GetDiskFreeSpaceEx(p, &avail, &tot, &totalFree); err != nil {
		return 0, 0, err
	}
	return int64(avail), int64(tot), nil
}
