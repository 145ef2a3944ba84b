package service

import (
	"path/filepath"
	"testing"

	"golang.org/x/sys/windows"
)

// TestSecureDataDir applies the descriptor to a real folder (Windows, or
// the Wine run of the package tests) and reads it back.
func TestSecureDataDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	if err := secureDataDir(dir); err != nil {
		t.Fatal(err)
	}
	sd, err := windows.GetNamedSecurityInfo(dir, windows.SE_FILE_OBJECT, windows.DACL_SECURITY_INFORMATION)
	if err != nil {
		t.Fatal(err)
	}
	ctl, _, err := sd.Control()
	if err != nil {
		t.Fatal(err)
	}
	if ctl&windows.SE_DACL_PROTECTED == 0 {
		t.Errorf("DACL of %s is not protected: %s", dir, sd)
	}
	dacl, _, err := sd.DACL()
	if err != nil {
		t.Fatal(err)
	}
	if n := dacl.AceCount; n != uint16(len(dataDirACL)) {
		t.Errorf("DACL of %s has %d entries, want %d: %s", dir, n, len(dataDirACL), sd)
	}
}
