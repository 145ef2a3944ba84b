package service

import "strings"

// A Windows access control entry of the data folder's DACL: who (a
// well-known SID), what (an access right) and how it passes to what the
// folder holds.
type ace struct {
	SID     string // e.g. S-1-5-18
	Rights  string // SDDL rights: FA is full access
	Inherit string // SDDL flags: OICI, files and folders below inherit it
}

// The only principals that may touch the data folder. It holds the buffer
// (records not yet sent), the OAuth token store and the admin endpoint's
// token: the service runs as LocalSystem, and an administrator must be able
// to read it for support.
const (
	sidLocalSystem    = "S-1-5-18"     // NT AUTHORITY\SYSTEM
	sidAdministrators = "S-1-5-32-544" // BUILTIN\Administrators
)

// dataDirACL is the data folder's DACL on Windows: protected, so nothing
// is inherited from the parent (C:\ProgramData grants Users read access),
// and full control for SYSTEM and Administrators only, inherited by every
// file and folder below.
var dataDirACL = []ace{
	{SID: sidLocalSystem, Rights: "FA", Inherit: "OICI"},
	{SID: sidAdministrators, Rights: "FA", Inherit: "OICI"},
}

// dataDirSDDL renders dataDirACL as the SDDL string of a security
// descriptor that sets only the DACL ("D:"), protected ("P") and marked
// auto-inherited ("AI") so children take it on.
func dataDirSDDL() string {
	var b strings.Builder
	b.WriteString("D:PAI")
	for _, a := range dataDirACL {
		b.WriteString("(A;" + a.Inherit + ";" + a.Rights + ";;;" + a.SID + ")")
	}
	return b.String()
}
