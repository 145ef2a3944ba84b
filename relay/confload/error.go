package confload

import (
	"fmt"
	"strings"
)

// Error lists every problem of a configuration, one per line, each
// starting with its key path. No problem holds a configured value.
type Error struct {
	Problems []string
}

// Error joins the problems, one a line.
func (e *Error) Error() string {
	return "invalid configuration:\n  " + strings.Join(e.Problems, "\n  ")
}

// Problems collects problems, each with its key path.
type Problems []string

// Add records "key: message".
func (p *Problems) Add(key, format string, args ...any) {
	*p = append(*p, key+": "+fmt.Sprintf(format, args...))
}

// Err returns the problems as an *Error, or nil when there are none.
func (p Problems) Err() error {
	if len(p) == 0 {
		return nil
	}
	return &Error{Problems: p}
}
