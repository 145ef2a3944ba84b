#!/bin/sh
# Reloads systemd and, on an upgrade, restarts a running agent. A first
# install does not start the service: the configuration must be filled in.
set -e
if [ -d /run/systemd/system ]; then
    systemctl daemon-reload >/dev/null 2>&1 || true
    if systemctl is-active --quiet sei-agent; then
        systemctl restart sei-agent || true
    else
        echo "sei-agent: edit /etc/sei-agent/agent.yaml, check it with"
        echo "  sei-agent validate -c /etc/sei-agent/agent.yaml"
        echo "then start it with: systemctl enable --now sei-agent"
    fi
fi
exit 0
