package logging

import "github.com/rs/zerolog"

// eventKind is what the Windows event log receives for a level.
type eventKind int

const (
	eventNone eventKind = iota
	eventWarning
	eventError
)

// eventLogKind selects the event-log entry type for level: the event log
// holds only what an administrator must act on, warnings and errors.
func eventLogKind(level zerolog.Level) eventKind {
	switch level {
	case zerolog.WarnLevel:
		return eventWarning
	case zerolog.ErrorLevel, zerolog.FatalLevel, zerolog.PanicLevel:
		return eventError
	}
	return eventNone
}
