package main

import (
	"fmt"
	"io"
	"os"

	"github.com/rs/zerolog"

	"github.com/sei-edge/servicenow-edge/relay/config"
	"github.com/sei-edge/servicenow-edge/relay/logsetup"
)

// newLogger builds the relay's one logger: JSON to log.file when set,
// else to stderr, human-readable when stderr is a terminal. The returned
// closer closes the log file.
func newLogger(cfg config.Log, stderr io.Writer) (zerolog.Logger, io.Closer, error) {
	level, err := logsetup.ParseLevel(cfg.Level)
	if err != nil {
		return zerolog.Nop(), nil, fmt.Errorf("log.level: %w", err)
	}
	var out io.Writer = stderr
	var closer io.Closer = io.NopCloser(nil)
	if cfg.File != "" {
		f, err := os.OpenFile(cfg.File, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
		if err != nil {
			return zerolog.Nop(), nil, fmt.Errorf("open log.file: %w", err)
		}
		out, closer = f, f
	} else if f, ok := stderr.(*os.File); ok && logsetup.Terminal(f) {
		out = zerolog.ConsoleWriter{Out: f}
	}
	return zerolog.New(out).Level(level).With().Timestamp().Logger(), closer, nil
}
