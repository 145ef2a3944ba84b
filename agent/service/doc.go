// Package service installs, controls and runs sei-agent as a system service:
// a systemd unit on Linux (SysV init script where systemd is absent) and a
// Windows service with recovery actions and an event-log source, all through
// kardianos/service.
//
// Install refuses a configuration that does not validate and writes a
// hardened systemd unit of our own (SystemdUnit): a dedicated system user,
// StateDirectory= and LogsDirectory=, Restart=on-failure after 5 s, and
// RestartPreventExitStatus=2 so a bad configuration (exit code 2) is not
// restarted in a loop. On Windows it adds restart-on-failure recovery
// actions that also cover non-crash failures (the service stopping with a
// non-zero exit code). Uninstall stops the service first and keeps the data
// directory unless asked to purge it.
//
// Run is what `sei-agent run` calls: it runs the agent's body with a context
// cancelled when the service manager (or Ctrl-C in a terminal) asks it to
// stop, gives it a bounded time to finish in-flight work, and returns its
// error so main can map it to the exit code the service manager sees.
//
// Linux user: the unit runs as a static system user (default "sei-agent"),
// not DynamicUser=, because the configuration and credential files the
// admin writes must be readable by a stable group. Install creates the user
// with useradd when it does not exist (the deb/rpm packages create it in
// their preinstall script instead).
package service
