#!/bin/sh
# Reloads systemd. The buffer (/var/lib/sei-agent) and the logs are kept,
# except on `apt purge`, which removes them: unsent data would be lost, so
# purging is an explicit admin decision. The user is kept (files may still
# be owned by it).
set -e
if [ -d /run/systemd/system ]; then
    systemctl daemon-reload >/dev/null 2>&1 || true
fi
if [ "$1" = "purge" ]; then
    rm -rf /var/lib/sei-agent /var/log/sei-agent
fi
exit 0
