// Package logsetup holds the logging decisions both programs make the same
// way: what log.level accepts, and whether an output is a terminal (the
// case for the human-readable console writer).
package logsetup

import (
	"fmt"
	"os"
	"strings"

	"github.com/mattn/go-isatty"
	"github.com/rs/zerolog"
)

// ParseLevel parses log.level. Unlike zerolog.ParseLevel, "" is info (not
// NoLevel, which would hide info and error events), "warning" is warn, and
// levels that make no sense for a service (fatal, panic, disabled) are
// refused. The error does not start with the key: callers add it.
func ParseLevel(s string) (zerolog.Level, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "info":
		return zerolog.InfoLevel, nil
	case "trace":
		return zerolog.TraceLevel, nil
	case "debug":
		return zerolog.DebugLevel, nil
	case "warn", "warning":
		return zerolog.WarnLevel, nil
	case "error":
		return zerolog.ErrorLevel, nil
	}
	return zerolog.NoLevel, fmt.Errorf("must be one of trace, debug, info, warn, error (got %q)", s)
}

// Terminal reports whether f is a terminal (a Cygwin or MSYS one
// included).
func Terminal(f *os.File) bool {
	return isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd())
}
