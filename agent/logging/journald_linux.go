package logging

import (
	"fmt"
	"os"
	"syscall"
)

// UnderJournald reports whether stderr is connected to the systemd journal:
// systemd sets JOURNAL_STREAM to "<device>:<inode>" of that stream, and the
// check against stderr's own device and inode rules out an inherited
// variable (a shell started from a service).
func UnderJournald() bool {
	return journalStream(os.Getenv("JOURNAL_STREAM"), os.Stderr)
}

// journalStream reports whether f is the stream named by env.
func journalStream(env string, f *os.File) bool {
	if env == "" {
		return false
	}
	st, err := f.Stat()
	if err != nil {
		return false
	}
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return false
	}
	return env == fmt.Sprintf("%d:%d", sys.Dev, sys.Ino)
}
