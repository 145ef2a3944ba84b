#!/usr/bin/env bash
# release.sh builds every release artifact of VERSION into dist/:
#
#   scripts/release.sh VERSION        build dist/ (e.g. scripts/release.sh 0.1.0)
#   scripts/release.sh --check [VERSION]
#                                     build (VERSION defaults to 0.0.0-check),
#                                     then run every package test:
#                                     scripts/package-test.sh all
#
# Artifacts (VERSION stamped into every binary: `sei-agent version`):
#   sei-agent_V_linux_{amd64,arm64}, sei-agent_V_windows_amd64.exe
#   sei-relay_V_linux_{amd64,arm64}
#   sei-agent_V_{amd64,arm64}.deb, sei-agent-V-1.{x86_64,aarch64}.rpm  (nfpm, packaging/tools/go.mod)
#   sei-agent_V_x64.msi                                  (wixl, Debian's msitools)
#   sei-relay_V_linux_{amd64,arm64}.image.tar            (docker/podman load; packaging/tools/relayimage)
#   <binary>.cdx.json: CycloneDX SBOM of each binary     (cyclonedx-gomod, packaging/tools/go.mod)
#   SHA256SUMS
#
# Debian packages it needs (wixl) are apt-get installed when missing; Go
# tools are pinned in packaging/tools/go.mod and run with `go tool -modfile`.
# SOURCE_DATE_EPOCH (default: the last commit's time) fixes file times.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
# shellcheck source=scripts/pkg-lib.sh
. scripts/pkg-lib.sh

check=0
if [ "${1:-}" = "--check" ]; then
	check=1
	shift
	version=${1:-0.0.0-check}
else
	if [ $# -ne 1 ]; then
		echo "usage: scripts/release.sh VERSION | scripts/release.sh --check [VERSION]" >&2
		exit 2
	fi
	version=$1
fi
check_version "$version" || exit 2

dist=$repo/dist
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || echo 0)}
export CGO_ENABLED=0

build_binaries() {
	rm -rf "$dist"
	mkdir -p "$dist"
	local ldflags="-s -w -X main.version=$version" t os arch ext
	for t in agent:linux:amd64 agent:linux:arm64 agent:windows:amd64 relay:linux:amd64 relay:linux:arm64; do
		IFS=: read -r prog os arch <<<"$t"
		ext=""
		[ "$os" = windows ] && ext=.exe
		GOOS=$os GOARCH=$arch go build -trimpath -buildvcs=false -ldflags "$ldflags" \
			-o "$dist/sei-${prog}_${version}_${os}_${arch}${ext}" "./$prog"
	done
}

build_linux_packages() {
	local arch
	mkdir -p "$dist/.stage"
	# The deb's changelog (Debian policy; native package, so changelog.gz).
	{
		printf 'sei-agent (%s) stable; urgency=medium\n\n  * Release %s.\n\n' "$version" "$version"
		printf ' -- SEI <sei-support@example.com>  %s\n' "$(date -u -R -d "@$SOURCE_DATE_EPOCH")"
	} | gzip -n -9 >"$dist/.stage/changelog.gz"
	for arch in amd64 arm64; do
		cp "$dist/sei-agent_${version}_linux_${arch}" "$dist/.stage/sei-agent"
		for fmt in deb rpm; do
			VERSION=$version GOARCH=$arch go_tool nfpm package -f packaging/nfpm.yaml -p "$fmt" -t "$dist/" >/dev/null
		done
	done
	rm -rf "$dist/.stage"
}

# build_msi: MSI versions are numeric, so the MSI's is MAJOR.MINOR.PATCH.
# wixl 0.101 takes paths relative to the current folder only, and lacks the
# Component attributes Permanent and NeverOverwrite: msibuild sets them on
# the config component (16 + 128, beside 256 = 64-bit), so an upgrade never
# replaces the admin's agent.yaml and an uninstall leaves it.
build_msi() {
	need_debs wixl msitools
	local msi_version=${version%%-*} msi="$dist/sei-agent_${version}_x64.msi"
	wixl -a x64 -D Version="$msi_version" -D FullVersion="$version" \
		-D AgentExe="dist/sei-agent_${version}_windows_amd64.exe" \
		-D Config=packaging/windows/agent.yaml \
		-D ExampleConfig=configs/agent.example.yaml \
		-o "$msi" packaging/windows/sei-agent.wxs
	msibuild "$msi" -q "UPDATE \`Component\` SET \`Attributes\` = 400 WHERE \`Component\` = 'Config'"
}

build_images() {
	local arch cacerts=/etc/ssl/certs/ca-certificates.crt
	need_debs ca-certificates
	for arch in amd64 arm64; do
		(cd packaging/tools && go run ./cmd/relayimage \
			-binary "$dist/sei-relay_${version}_linux_${arch}" -arch "$arch" \
			-config "$repo/packaging/relay/relay.yaml" -cacerts "$cacerts" -version "$version" \
			-out "$dist/sei-relay_${version}_linux_${arch}.image.tar")
	done
}

# build_sboms writes a CycloneDX SBOM per binary from the module list the
# Go linker embedded in it (cyclonedx-gomod bin: exactly what that
# GOOS/GOARCH build contains, the Go standard library with its version too).
build_sboms() {
	local f base
	for f in "$dist"/sei-agent_*_linux_* "$dist"/sei-agent_*_windows_*.exe "$dist"/sei-relay_*_linux_*; do
		case "$f" in *.tar | *.json) continue ;; esac
		base=$(basename "$f" .exe)
		go_tool cyclonedx-gomod bin -json -std -noserial -notimestamp -version "v$version" \
			-output "$dist/$base.cdx.json" "$f" 2>"$dist/.sbom.log" || {
			cat "$dist/.sbom.log" >&2
			return 1
		}
	done
	rm -f "$dist/.sbom.log"
}

write_sums() {
	(cd "$dist" && find . -maxdepth 1 -type f ! -name SHA256SUMS -printf '%P\n' | LC_ALL=C sort | xargs sha256sum >SHA256SUMS)
}

[ "${SEI_REUSE_BINARIES:-}" = 1 ] || timed "build 5 binaries" build_binaries
[ "${SEI_REUSE_BINARIES:-}" = 1 ] || timed "build deb and rpm (nfpm)" build_linux_packages
[ "${SEI_REUSE_BINARIES:-}" = 1 ] || timed "build MSI (wixl)" build_msi
timed "build relay images" build_images
timed "build SBOMs (cyclonedx-gomod)" build_sboms
write_sums
echo "release.sh: $version in dist/:" >&2
(cd "$dist" && ls -l --time-style=+ | awk 'NR>1 {printf "  %10d  %s\n", $5, $NF}') >&2
print_timings

if [ "$check" = 1 ]; then
	exec scripts/package-test.sh all
fi
