#!/usr/bin/env bash
# Runs every Go fuzz target of the module for FUZZTIME each (`make fuzz FUZZTIME=1m`).
#
# Usage: hack/fuzz.sh [FUZZTIME]        FUZZTIME: a go test -fuzztime value, default 30s (e.g. 2m, 10000x)
# Env:   FUZZ_PKGS="./pkg/... ./cmd/..." where to look for targets
#        FUZZ_ARGS=""                   extra go test flags (e.g. -parallel=1)
#
# Targets are found, not listed here: every package under FUZZ_PKGS whose test files declare a
# `func Fuzz...` is asked for its targets with `go test -list '^Fuzz'`, so a new target is picked up
# without editing this script. (Only those packages are asked: -list still runs a package's TestMain,
# and the e2e suite's brings up a test bed.) Each target runs on its own (`go test -fuzz` takes one
# target of one package). A failing input is saved by go test under the package's
# testdata/fuzz/<Target>/; commit it with the fix and it becomes a seed that `go test ./pkg/...` runs.
# Exits 1 if any target failed, after running all of them.
set -o errexit
set -o nounset
set -o pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
cd "$REPO"

FUZZTIME=${1:-${FUZZTIME:-30s}}
GO=${GO:-go}
read -r -a PKG_PATTERNS <<<"${FUZZ_PKGS:-./pkg/... ./cmd/...}"
read -r -a EXTRA <<<"${FUZZ_ARGS:-}"

say() { echo "[fuzz] $*"; }

# Packages (as import paths) with at least one Fuzz function in a _test.go file.
mapfile -t pkgs < <(
	"$GO" list -f '{{.ImportPath}} {{.Dir}}{{range .TestGoFiles}} {{.}}{{end}}{{range .XTestGoFiles}} {{.}}{{end}}' "${PKG_PATTERNS[@]}" |
		while read -r path dir files; do
			[[ -n $files ]] || continue
			for f in $files; do
				if grep -q '^func Fuzz[A-Z0-9_]' "$dir/$f"; then
					echo "$path"
					break
				fi
			done
		done
)

targets=()
for p in "${pkgs[@]}"; do
	out=$("$GO" test -list '^Fuzz' "$p") || {
		echo "$out" >&2
		say "listing the targets of $p failed"
		exit 1
	}
	while read -r name; do
		[[ $name == Fuzz* ]] && targets+=("$p $name")
	done <<<"$out"
done

n=${#targets[@]}
if ((n == 0)); then
	say "no fuzz targets found under ${PKG_PATTERNS[*]}"
	exit 1
fi
say "$n targets, $FUZZTIME each"

failed=()
i=0
for t in "${targets[@]}"; do
	i=$((i + 1))
	read -r p name <<<"$t"
	echo "[fuzz $i/$n] $p $name"
	if ! "$GO" test -run '^$' -fuzz "^${name}\$" -fuzztime "$FUZZTIME" "${EXTRA[@]}" "$p"; then
		failed+=("$p $name")
	fi
done

if ((${#failed[@]} > 0)); then
	say "FAILED (${#failed[@]}/$n); the inputs are under each package's testdata/fuzz/<Target>/:"
	printf '  %s\n' "${failed[@]}"
	exit 1
fi
say "all $n targets passed"
