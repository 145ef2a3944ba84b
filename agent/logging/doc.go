// Package logging builds the agent's one zerolog.Logger and the writers
// behind it: JSON lines to a size-rotated file under the data (or systemd
// logs) directory, a human console writer when attached to a terminal,
// journald priority-prefixed lines on stderr when run by systemd, and the
// Windows event log (warnings and errors only) when run by the Windows
// service manager.
//
// Library code never uses zerolog's global logger: main calls New once and
// passes the result down; the buffer adapts it to Badger's logger itself,
// so every component ends up in the same sinks.
//
// Nothing here formats configuration: secrets are a config type whose
// String, MarshalJSON and MarshalText are "***", and this package never
// prints a raw config value.
package logging
