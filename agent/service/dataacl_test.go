package service

import (
	"regexp"
	"slices"
	"testing"
)

// TestDataDirSDDL checks the security descriptor install puts on the data
// folder on Windows: a protected DACL (nothing inherited from
// C:\ProgramData, which lets Users read), exactly SYSTEM and
// Administrators, full control, passed down to files and folders.
func TestDataDirSDDL(t *testing.T) {
	sddl := dataDirSDDL()
	const want = "D:PAI(A;OICI;FA;;;S-1-5-18)(A;OICI;FA;;;S-1-5-32-544)"
	if sddl != want {
		t.Fatalf("dataDirSDDL() = %q, want %q", sddl, want)
	}
	m := regexp.MustCompile(`^D:(P?)(AI)?((\([^()]*\))*)$`).FindStringSubmatch(sddl)
	if m == nil || m[1] != "P" {
		t.Fatalf("%q is not a protected DACL-only descriptor", sddl)
	}
	var sids []string
	for _, a := range regexp.MustCompile(`\(([^()]*)\)`).FindAllStringSubmatch(m[3], -1) {
		f := regexp.MustCompile(`;`).Split(a[1], -1)
		if len(f) != 6 {
			t.Fatalf("ACE %q: want 6 fields", a[1])
		}
		if f[0] != "A" || f[2] != "FA" || f[1] != "OICI" {
			t.Errorf("ACE %q: want an inherited full-access allow entry", a[1])
		}
		sids = append(sids, f[5])
	}
	slices.Sort(sids)
	if !slices.Equal(sids, []string{sidLocalSystem, sidAdministrators}) {
		t.Errorf("SIDs = %v, want only SYSTEM and Administrators", sids)
	}
	// Nobody else: Users, Everyone, Authenticated Users, Creator Owner.
	for _, other := range []string{"S-1-5-32-545", "S-1-1-0", "S-1-5-11", "S-1-3-0", ";WD)", ";BU)", ";AU)"} {
		if regexp.MustCompile(regexp.QuoteMeta(other)).MatchString(sddl) {
			t.Errorf("descriptor grants %s", other)
		}
	}
}
