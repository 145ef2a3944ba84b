#!/bin/sh
# Stops and disables the service on removal (not on upgrade).
# deb passes "remove"/"upgrade"; rpm passes the number of versions left (0 = erase).
set -e
case "$1" in
    remove|0)
        if [ -d /run/systemd/system ]; then
            systemctl disable --now sei-agent >/dev/null 2>&1 || true
        fi
        ;;
esac
exit 0
