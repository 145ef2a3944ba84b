#!/usr/bin/env bash
# test.sh runs every test of the repository, as CI does: vet, then
# `go test ./...` with PostgreSQL started for the store tests, then (under
# CI=true, or with BENCH=1) the small benchmark run and a 30 s idle run,
# which only check that scripts/bench.sh and scripts/bench-idle.sh still
# work: they assert no figure.
#
# Under CI=true it then builds the release (scripts/release.sh 0.0.0-ci)
# and installs and tests every artifact (scripts/package-test.sh): a
# Debian root by debootstrap, an upgrade, rpm, MSI, the relay image, Wine.
# SEI_SKIP_PACKAGE_TESTS=1 skips that part.
#
# PostgreSQL 15 (Debian's package) is started with scripts/ci-postgres.sh
# when it is installed; without it the PostgreSQL tests skip with a message,
# except under CI=true, where they fail.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -z "${SEI_TEST_POSTGRES_URL:-}" ]; then
	if command -v pg_ctlcluster >/dev/null 2>&1 && url=$(scripts/ci-postgres.sh); then
		case "$url" in
		postgres://*) ;;
		*)
			echo "test.sh: scripts/ci-postgres.sh printed something other than a postgres:// URL:" >&2
			printf '%s\n' "$url" >&2
			exit 1
			;;
		esac
		export SEI_TEST_POSTGRES_URL="$url"
	else
		echo "test.sh: PostgreSQL not available; its tests will skip (and fail under CI=true)" >&2
	fi
fi

echo "test.sh: go vet ./..." >&2
go vet ./...
# The agent runs as a Windows service too, and the relay has Windows code
# (the registry lock): both must compile there.
echo "test.sh: GOOS=windows go vet ./agent/... ./buffer/... ./relay/..." >&2
GOOS=windows go vet ./agent/... ./buffer/... ./relay/...
echo "test.sh: go test ./..." >&2
go test -count=1 -timeout 20m "$@" ./...
if [ "${CI:-}" = true ] || [ "${BENCH:-}" = 1 ]; then
	echo "test.sh: scripts/bench.sh small" >&2
	scripts/bench.sh small
	echo "test.sh: WINDOW=30 scripts/bench-idle.sh" >&2
	WINDOW=30 RECORDS=2000 scripts/bench-idle.sh
fi
if [ "${CI:-}" = true ] && [ "${SEI_SKIP_PACKAGE_TESTS:-}" != 1 ]; then
	echo "test.sh: scripts/release.sh --check 0.0.0-ci (build and install every package)" >&2
	scripts/release.sh --check 0.0.0-ci
fi
