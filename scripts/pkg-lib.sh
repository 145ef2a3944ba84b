# pkg-lib.sh: helpers release.sh and package-test.sh share (sourced, not run).

# need_debs PKG... installs the Debian packages that are missing (apt-get
# update first, once per run), so the scripts run on a fresh machine.
need_debs() {
	local missing=() p
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	echo "${0##*/}: apt-get install ${missing[*]}" >&2
	if [ -z "${_apt_updated:-}" ]; then
		apt-get update -qq >&2
		_apt_updated=1
	fi
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
}

# timed NAME CMD... runs CMD and records how long it took in $timings.
timings=()
timed() {
	local name=$1 start end
	shift
	start=$(date +%s)
	"$@"
	end=$(date +%s)
	timings+=("$(printf '%-34s %4d s' "$name" $((end - start)))")
	echo "${0##*/}: $name took $((end - start)) s" >&2
}

print_timings() {
	printf '%s\n' "${timings[@]}" >&2
}

# check_version VERSION fails unless VERSION is MAJOR.MINOR.PATCH with an
# optional -PRERELEASE (what the deb, rpm, MSI and image tag all accept).
check_version() {
	if ! printf '%s' "$1" | grep -Eq '^[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z]+(\.[0-9A-Za-z]+)*)?$'; then
		echo "${0##*/}: version \"$1\": want MAJOR.MINOR.PATCH or MAJOR.MINOR.PATCH-PRERELEASE, e.g. 0.1.0 or 0.2.0-rc1" >&2
		return 1
	fi
}

# go_tool TOOL ARGS... runs a Go tool pinned in packaging/tools/go.mod, built for
# this machine whatever GOOS and GOARCH say (they are the tool's input:
# nfpm's package arch, cyclonedx-gomod's target platform).
go_tool() {
	local tool=$1 bin
	shift
	bin=$(cd "$repo" && env -u GOOS -u GOARCH go tool -modfile="$repo/packaging/tools/go.mod" -n "$tool")
	"$bin" "$@"
}
