package logging

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/sei-edge/servicenow-edge/relay/logsetup"
)

// The log file is rotated at maxSizeMB, keeping maxBackups rotated files.
const (
	maxSizeMB  = 20
	maxBackups = 5
)

// Options configure New. The zero value is not usable: set Name, and File
// or DataDir.
type Options struct {
	// Level is log.level: trace, debug, info, warn or error; "" means info.
	Level string
	// File is log.file. "" means $LOGS_DIRECTORY/<Name>.log when systemd
	// set LOGS_DIRECTORY (LogsDirectory= in the unit), else
	// <DataDir>/log/<Name>.log. A relative File is taken as is: resolve it
	// against the config file's directory before calling New.
	File string
	// DataDir is agent.data_dir, used for the default File.
	DataDir string
	// Console, when non-nil, also receives every event in zerolog's human
	// console format. Set it to os.Stderr when logsetup.Terminal(os.Stderr).
	Console io.Writer
	// Service is true when the service manager runs the process. On
	// Windows it adds the event log (warnings and errors) under Name as
	// the event source.
	Service bool
	// Journald adds stderr lines with "<N>" syslog priority prefixes,
	// which journald turns into the entry's priority. Set it when
	// UnderJournald().
	Journald bool
	// Name is the service's name (main passes service.DefaultName): the
	// Windows event-log source, which installing the service registers
	// under that name, and the default file's name. Required.
	Name string

	// stderr replaces os.Stderr for the journald lines (tests).
	stderr io.Writer
	// getenv replaces os.Getenv (tests).
	getenv func(string) string
}

// New builds the logger described by opts. The returned Closer flushes and
// closes the file (and the event log); it is idempotent. main calls New once
// and passes the logger down; New never touches zerolog's globals.
func New(opts Options) (zerolog.Logger, io.Closer, error) {
	nop := zerolog.Nop()
	level, err := logsetup.ParseLevel(opts.Level)
	if err != nil {
		return nop, nil, fmt.Errorf("log.level: %w", err)
	}
	opts = withDefaults(opts)
	path, err := FilePath(opts)
	if err != nil {
		return nop, nil, err
	}
	file, err := OpenRotatingFile(path, maxSizeMB<<20, maxBackups)
	if err != nil {
		return nop, nil, err
	}
	closers := &closers{list: []io.Closer{file}}
	writers := []io.Writer{file}
	if opts.Console != nil {
		writers = append(writers, zerolog.ConsoleWriter{Out: opts.Console, TimeFormat: time.RFC3339})
	}
	if opts.Journald {
		writers = append(writers, NewJournaldWriter(opts.stderr))
	}
	if opts.Service {
		w, c, err := systemWriter(opts.Name)
		if err != nil {
			closers.Close()
			return nop, nil, err
		}
		if w != nil {
			writers = append(writers, w)
			closers.list = append(closers.list, c)
		}
	}
	l := zerolog.New(zerolog.MultiLevelWriter(writers...)).Level(level).With().Timestamp().Logger()
	return l, closers, nil
}

// withDefaults fills the zero fields of opts.
func withDefaults(opts Options) Options {
	if opts.stderr == nil {
		opts.stderr = os.Stderr
	}
	if opts.getenv == nil {
		opts.getenv = os.Getenv
	}
	return opts
}

// FilePath returns the log file New writes for opts (see Options.File).
func FilePath(opts Options) (string, error) {
	opts = withDefaults(opts)
	if opts.Name == "" {
		return "", errors.New("choose log file: no service name given")
	}
	if opts.File != "" {
		return opts.File, nil
	}
	// systemd may list several directories separated by ':'; the unit
	// declares one.
	if dir, _, _ := strings.Cut(opts.getenv("LOGS_DIRECTORY"), ":"); dir != "" {
		return filepath.Join(dir, opts.Name+".log"), nil
	}
	if opts.DataDir == "" {
		return "", errors.New("choose log file: set log.file or agent.data_dir")
	}
	return filepath.Join(opts.DataDir, "log", opts.Name+".log"), nil
}

// closers closes a list once.
type closers struct {
	once sync.Once
	err  error
	list []io.Closer
}

// Close closes every element, in reverse order, the first time it is called.
func (c *closers) Close() error {
	c.once.Do(func() {
		var errs []error
		for i := len(c.list) - 1; i >= 0; i-- {
			errs = append(errs, c.list[i].Close())
		}
		c.err = errors.Join(errs...)
	})
	return c.err
}
