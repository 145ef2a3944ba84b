package buffer

// FreeDisk returns the bytes available on dir's filesystem, measured as the
// buffer's free-disk guard measures them (for preflight checks and status).
func FreeDisk(dir string) (uint64, error) { return diskFree(dir) }
