//go:build !windows

package logging

import (
	"io"

	"github.com/rs/zerolog"
)

// systemWriter returns the service manager's log sink. Outside Windows there
// is none beyond journald, which Options.Journald selects.
func systemWriter(name string) (zerolog.LevelWriter, io.Closer, error) {
	return nil, nil, nil
}
