package badgerstore

import (
	"fmt"
	"strings"

	"github.com/rs/zerolog"
)

// badgerLogger sends Badger's log lines into the relay's logger. Badger's
// Info lines (compactions, value log rotation) go out at debug level: they
// are routine and frequent.
type badgerLogger struct{ log zerolog.Logger }

func (l badgerLogger) Errorf(f string, a ...any)   { l.log.Error().Msg(line(f, a)) }
func (l badgerLogger) Warningf(f string, a ...any) { l.log.Warn().Msg(line(f, a)) }
func (l badgerLogger) Infof(f string, a ...any)    { l.log.Debug().Msg(line(f, a)) }
func (l badgerLogger) Debugf(f string, a ...any)   { l.log.Trace().Msg(line(f, a)) }

func line(f string, a []any) string { return strings.TrimSpace(fmt.Sprintf(f, a...)) }
