package logging

import (
	"fmt"
	"io"

	"github.com/rs/zerolog"
	"golang.org/x/sys/windows/svc/eventlog"
)

// Event IDs written to the Windows event log, as kardianos/service uses them.
const (
	eventIDWarning = 2
	eventIDError   = 3
)

// systemWriter opens the Windows event log under the source name (registered
// by `sei-agent install`).
func systemWriter(name string) (zerolog.LevelWriter, io.Closer, error) {
	el, err := eventlog.Open(name)
	if err != nil {
		return nil, nil, fmt.Errorf("open event log source %s: %w", name, err)
	}
	return &eventLogWriter{log: el}, el, nil
}

// eventLogWriter sends warnings and errors to the event log; everything else
// stays in the file. eventlog.Log is safe for concurrent use.
type eventLogWriter struct {
	log *eventlog.Log
}

// Write drops events of unknown level.
func (w *eventLogWriter) Write(p []byte) (int, error) { return len(p), nil }

// WriteLevel reports warnings and errors.
func (w *eventLogWriter) WriteLevel(level zerolog.Level, p []byte) (int, error) {
	var err error
	switch eventLogKind(level) {
	case eventWarning:
		err = w.log.Warning(eventIDWarning, string(PlainLine(p)))
	case eventError:
		err = w.log.Error(eventIDError, string(PlainLine(p)))
	}
	if err != nil {
		return 0, fmt.Errorf("write event log: %w", err)
	}
	return len(p), nil
}
