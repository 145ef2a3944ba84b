package logging

import (
	"bytes"
	"io"
	"strconv"
	"sync"

	"github.com/rs/zerolog"
)

// JournaldWriter writes each event to w as one human-readable line (no
// timestamp: the journal adds its own) prefixed with "<N>", the syslog
// priority of the event's level. systemd's default SyslogLevelPrefix=yes
// strips the prefix and files the line at that priority, so
// `journalctl -p warning -u sei-agent` works. Safe for concurrent use.
type JournaldWriter struct {
	// mu guards w, so lines from concurrent events never interleave.
	mu sync.Mutex
	w  io.Writer
}

// NewJournaldWriter returns a JournaldWriter writing to w (os.Stderr under
// systemd).
func NewJournaldWriter(w io.Writer) *JournaldWriter { return &JournaldWriter{w: w} }

// Write writes an event of unknown level at priority info.
func (j *JournaldWriter) Write(p []byte) (int, error) { return j.WriteLevel(zerolog.NoLevel, p) }

// WriteLevel writes the JSON event p at the priority of level.
func (j *JournaldWriter) WriteLevel(level zerolog.Level, p []byte) (int, error) {
	var b bytes.Buffer
	b.WriteByte('<')
	b.WriteString(strconv.Itoa(SyslogPriority(level)))
	b.WriteByte('>')
	b.Write(PlainLine(p))
	b.WriteByte('\n')
	j.mu.Lock()
	defer j.mu.Unlock()
	if _, err := j.w.Write(b.Bytes()); err != nil {
		return 0, err
	}
	return len(p), nil
}

// SyslogPriority maps a zerolog level to a syslog priority (RFC 5424):
// error 3, warn 4, info 6, debug and trace 7; fatal 2 and panic 0.
// NoLevel (a bare Write) is info.
func SyslogPriority(level zerolog.Level) int {
	switch level {
	case zerolog.PanicLevel:
		return 0
	case zerolog.FatalLevel:
		return 2
	case zerolog.ErrorLevel:
		return 3
	case zerolog.WarnLevel:
		return 4
	case zerolog.DebugLevel, zerolog.TraceLevel:
		return 7
	}
	return 6
}

// PlainLine renders one zerolog JSON event as a single line without colour
// or timestamp ("WRN poll table=incident err=..."), the form used for the
// journal and the Windows event log. Newlines inside values are escaped by
// the JSON encoding, so the result is one line. Input that is not JSON is
// returned trimmed.
func PlainLine(p []byte) []byte {
	var b bytes.Buffer
	cw := zerolog.ConsoleWriter{
		Out:          &b,
		NoColor:      true,
		PartsExclude: []string{zerolog.TimestampFieldName},
	}
	if _, err := cw.Write(p); err != nil {
		return bytes.TrimSpace(p)
	}
	return bytes.TrimSpace(b.Bytes())
}
