//go:build windows

package buffer

import "golang.org/x/sys/windows"

// DiskSpace returns the bytes of dir's volume available to this process's
// user and its total size.
func DiskSpace(dir string) (free, total uint64, err error) {
	p, err := windows.UTF16PtrFromString(dir)
	if err != nil {
		return 0, 0, err
	}
	var avail, tot, totalFree uint64
	if err := windows.GetDiskFreeSpaceEx(p, &avail, &tot, &totalFree); err != nil {
		return 0, 0, err
	}
	return avail, tot, nil
}

// diskFree returns the bytes available to this process's user on dir's
// volume.
func diskFree(dir string) (uint64, error) {
	free, _, err := DiskSpace(dir)
	return free, err
}
