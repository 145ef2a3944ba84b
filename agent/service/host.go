package service

// hostOps are the changes Install makes to a systemd host besides writing
// the unit. Tests replace host with a recording fake.
type hostOps interface {
	// EnsureUser creates the system user (and its group) name with home
	// home when it does not exist; it is idempotent.
	EnsureUser(name, home string) error
	// PrepareDir creates dir (mode 0700) owned by user, or gives an
	// existing one to user.
	PrepareDir(dir, user string) error
	// CheckReadable returns an error when user probably cannot read file.
	CheckReadable(file, user string) error
}

// host is the hostOps Install uses.
var host hostOps = osHost{}
