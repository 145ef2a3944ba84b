#!/bin/sh
# Creates the sei-agent system user and group before files owned by the
# group are unpacked. Idempotent.
set -e
if ! getent group sei-agent >/dev/null 2>&1; then
    groupadd --system sei-agent
fi
if ! getent passwd sei-agent >/dev/null 2>&1; then
    nologin=/usr/sbin/nologin
    [ -x "$nologin" ] || nologin=/sbin/nologin
    useradd --system --gid sei-agent --home-dir /var/lib/sei-agent \
        --no-create-home --shell "$nologin" sei-agent
fi
exit 0
