package logging

import (
	"bytes"
	"fmt"
	"io"
	"strings"

	"github.com/rs/zerolog"
)

// Printf adapts a zerolog.Logger to the Printf-style logger interfaces of
// the libraries the agent and relay embed: it satisfies badger.Logger
// (Errorf, Warningf, Infof, Debugf) and nats-server's server.Logger
// (Noticef, Warnf, Fatalf, Errorf, Debugf, Tracef) without importing them.
// Fatalf logs at error level and never exits: the owner of the component
// decides what a fatal library error means.
type Printf struct {
	l zerolog.Logger
}

// NewPrintf returns a Printf logging to l. Add a field naming the library
// first (l.With().Str("component", "badger").Logger()), and raise l's level
// for chatty libraries (Badger logs every compaction at info).
func NewPrintf(l zerolog.Logger) *Printf { return &Printf{l: l} }

// Tracef logs at trace level.
func (p *Printf) Tracef(format string, args ...any) { p.log(zerolog.TraceLevel, format, args) }

// Debugf logs at debug level.
func (p *Printf) Debugf(format string, args ...any) { p.log(zerolog.DebugLevel, format, args) }

// Infof logs at info level.
func (p *Printf) Infof(format string, args ...any) { p.log(zerolog.InfoLevel, format, args) }

// Noticef logs at info level.
func (p *Printf) Noticef(format string, args ...any) { p.log(zerolog.InfoLevel, format, args) }

// Warningf logs at warn level.
func (p *Printf) Warningf(format string, args ...any) { p.log(zerolog.WarnLevel, format, args) }

// Warnf logs at warn level.
func (p *Printf) Warnf(format string, args ...any) { p.log(zerolog.WarnLevel, format, args) }

// Errorf logs at error level.
func (p *Printf) Errorf(format string, args ...any) { p.log(zerolog.ErrorLevel, format, args) }

// Fatalf logs at error level; it does not exit.
func (p *Printf) Fatalf(format string, args ...any) { p.log(zerolog.ErrorLevel, format, args) }

// log writes one event; libraries end messages with newlines, events do not.
func (p *Printf) log(level zerolog.Level, format string, args []any) {
	e := p.l.WithLevel(level)
	if e == nil {
		return
	}
	e.Msg(strings.TrimRight(fmt.Sprintf(format, args...), "\r\n"))
}

// Writer returns an io.Writer for log.New (or any library that logs lines to
// a writer): each Write becomes one event at level, its message the written
// text without the trailing newline. Use log.New(w, "", 0): the event has
// its own timestamp. Safe for concurrent use, as l is.
func Writer(l zerolog.Logger, level zerolog.Level) io.Writer {
	return levelWriter{l: l, level: level}
}

// levelWriter is the io.Writer returned by Writer.
type levelWriter struct {
	l     zerolog.Logger
	level zerolog.Level
}

// Write logs p as one event.
func (w levelWriter) Write(p []byte) (int, error) {
	if e := w.l.WithLevel(w.level); e != nil {
		e.Msg(string(bytes.TrimRight(p, "\r\n")))
	}
	return len(p), nil
}
