package buffer

import (
	"fmt"
	"strings"

	"github.com/rs/zerolog"
)

// badgerLogger routes Badger's log into zerolog: errors and warnings keep
// their level, Badger's info and debug chatter (table opens, compactions) go
// to debug.
type badgerLogger struct {
	log zerolog.Logger
}

func (l badgerLogger) Errorf(f string, v ...any)   { emit(l.log.Error(), f, v) }
func (l badgerLogger) Warningf(f string, v ...any) { emit(l.log.Warn(), f, v) }
func (l badgerLogger) Infof(f string, v ...any)    { emit(l.log.Debug(), f, v) }
func (l badgerLogger) Debugf(f string, v ...any)   { emit(l.log.Debug(), f, v) }

func emit(e *zerolog.Event, f string, v []any) {
	if !e.Enabled() {
		return
	}
	e.Str("component", "badger").Msg(strings.TrimSpace(fmt.Sprintf(f, v...)))
}
