package service

import (
	"fmt"
	"os"

	"golang.org/x/sys/windows"
)

// secureDataDir creates dir when missing and replaces its DACL by
// dataDirSDDL, pushing it down to what it already holds.
func secureDataDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create data folder %s: %w", dir, err)
	}
	sd, err := windows.SecurityDescriptorFromString(dataDirSDDL())
	if err != nil {
		return fmt.Errorf("build the data folder's security descriptor: %w", err)
	}
	dacl, _, err := sd.DACL()
	if err != nil {
		return fmt.Errorf("read the data folder's DACL: %w", err)
	}
	err = windows.SetNamedSecurityInfo(dir, windows.SE_FILE_OBJECT,
		windows.DACL_SECURITY_INFORMATION|windows.PROTECTED_DACL_SECURITY_INFORMATION, nil, nil, dacl, nil)
	if err != nil {
		return fmt.Errorf("restrict data folder %s to SYSTEM and Administrators: %w", dir, err)
	}
	return nil
}
