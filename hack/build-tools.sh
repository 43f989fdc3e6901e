#!/usr/bin/env bash
# Builds the test-bed tools into $REPO/bin from the pinned module hack/tools:
#   kube-apiserver, kubectl (k8s.io/kubernetes v1.37.2), etcd (go.etcd.io/etcd/server/v3 v3.7.0),
#   kind (sigs.k8s.io/kind v0.33.0).
# Each tool is built only when bin/<tool> is missing or bin/.stamps/<tool> does not name the pinned version.
#
# Usage: hack/build-tools.sh [TOOL...]        (default: all four)
# Env:   BIN_DIR (default $REPO/bin), FORCE=1 (rebuild even when the stamp matches),
#        TOOLS_GOFLAGS (extra go build flags, e.g. "-p=1" when memory is short).
# Logs:  _output/logs/build-<tool>.log
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TOOLS_MOD=$REPO/hack/tools
BIN_DIR=${BIN_DIR:-$REPO/bin}
LOG_DIR=$REPO/_output/logs
STAMP_DIR=$BIN_DIR/.stamps

# Versions come from hack/tools/go.mod (the single place to bump them); the stamps compare against them.
mod_version() {
	local v
	v=$(awk -v m="$1" '$1 == m && $2 ~ /^v/ {print $2; exit}' "$TOOLS_MOD/go.mod")
	[[ -n $v ]] || {
		echo "[tools] $1 is not required in hack/tools/go.mod" >&2
		exit 1
	}
	echo "$v"
}
K8S_VERSION=$(mod_version k8s.io/kubernetes)      # v1.37.2
K8S_MAJOR=$(echo "$K8S_VERSION" | cut -d. -f1 | tr -d v)
K8S_MINOR=$(echo "$K8S_VERSION" | cut -d. -f2)
ETCD_VERSION=$(mod_version go.etcd.io/etcd/server/v3) # v3.7.0
KIND_VERSION=$(mod_version sigs.k8s.io/kind)          # v0.33.0

ALL_TOOLS=(kube-apiserver kubectl etcd kind)

pkg_of() {
	case $1 in
	kube-apiserver) echo k8s.io/kubernetes/cmd/kube-apiserver ;;
	kubectl) echo k8s.io/kubernetes/cmd/kubectl ;;
	etcd) echo go.etcd.io/etcd/server/v3 ;;
	kind) echo sigs.k8s.io/kind ;;
	*) return 1 ;;
	esac
}
version_of() {
	case $1 in
	kube-apiserver | kubectl) echo "$K8S_VERSION" ;;
	etcd) echo "$ETCD_VERSION" ;;
	kind) echo "$KIND_VERSION" ;;
	esac
}
cold_estimate() {
	case $1 in
	kube-apiserver | kubectl) echo "cold: ~6-10 min for both" ;;
	etcd) echo "cold: ~1 min" ;;
	kind) echo "cold: ~20 s" ;;
	esac
}

ldflags_of() {
	local flags="-s -w"
	case $1 in
	kube-apiserver | kubectl)
		local build_date key val
		build_date=$(date -u +%Y-%m-%dT%H:%M:%SZ)
		for kv in "gitVersion=$K8S_VERSION" "gitMajor=$K8S_MAJOR" "gitMinor=$K8S_MINOR" \
			"gitTreeState=clean" "buildDate=$build_date"; do
			key=${kv%%=*} val=${kv#*=}
			flags+=" -X k8s.io/component-base/version.$key=$val -X k8s.io/client-go/pkg/version.$key=$val"
		done
		;;
	esac
	echo "$flags"
}

# Prints the tail of a failed build log and a best guess at the cause.
explain_failure() {
	local tool=$1 log=$2
	echo "---- last 25 lines of $log ----" >&2
	tail -n 25 "$log" >&2 || true
	echo "----" >&2
	local cause="unknown: read the log above"
	if grep -qiE 'signal: killed|out of memory|cannot allocate memory' "$log"; then
		cause="the compiler was killed (out of memory?): kube-apiserver peaks ~3 GB; retry with TOOLS_GOFLAGS=-p=1 or stop other builds"
	elif grep -qi 'no space left on device' "$log"; then
		cause="disk full: free space in \$(go env GOCACHE) / \$(go env GOMODCACHE) or /tmp"
	elif grep -qiE 'missing go.sum entry|updates to go.mod needed|go: inconsistent vendoring' "$log"; then
		cause="hack/tools/go.mod and go.sum disagree: run (cd hack/tools && go mod tidy) and commit both"
	elif grep -qiE 'dial tcp|i/o timeout|proxyconnect|TLS handshake timeout|connection refused|no such host' "$log"; then
		cause="the Go module proxy is unreachable (GOPROXY=$(go env GOPROXY)): check the network, or warm the cache with (cd hack/tools && go mod download)"
	elif grep -qiE 'requires go >=|toolchain not available|go.mod requires go' "$log"; then
		cause="the Go toolchain is older than the module requires (have $(go env GOVERSION))"
	elif grep -qiE 'is a program, not an importable package|cannot find module providing package' "$log"; then
		cause="package path wrong for the pinned module version: check pkg_of() in $0 against hack/tools/go.mod"
	fi
	echo "[tools] FAILED to build $tool: likely cause: $cause" >&2
}

# build TOOL...: one `go build` of the tools' packages (they share ldflags: kube-apiserver and kubectl
# go together, so the packages they share are compiled once) into a temp dir, then renamed into
# bin/, so an interrupted build leaves no broken binary. Log: build-<first tool>.log.
build() {
	local first=$1 log tmp start rc t
	local -a pkgs=()
	for t in "$@"; do pkgs+=("$(pkg_of "$t")"); done
	log=$LOG_DIR/build-$first.log
	tmp=$BIN_DIR/.build.tmp.$first.$$
	start=$(date +%s)
	rm -rf "$tmp" && mkdir -p "$tmp"
	{
		echo "# $(date -u +%FT%TZ) go build ${pkgs[*]} ($(go env GOVERSION))"
		set +e
		# shellcheck disable=SC2086 # TOOLS_GOFLAGS is a list of flags
		# One package: -o names the file. Several: -o names a directory, and go build names each
		# binary after the last element of its package path (cmd/kube-apiserver, cmd/kubectl).
		local o=$tmp/$first
		[[ $# -gt 1 ]] && o=$tmp/
		(cd "$TOOLS_MOD" && GOWORK=off CGO_ENABLED=0 go build -trimpath ${TOOLS_GOFLAGS:-} \
			-ldflags "$(ldflags_of "$first")" -o "$o" "${pkgs[@]}")
		rc=$?
		set -e
		echo "# exit $rc after $(($(date +%s) - start)) s"
	} >"$log" 2>&1
	if [[ ${rc:-1} -ne 0 ]] || ! grep -q '^# exit 0 ' "$log"; then
		rm -rf "$tmp"
		return 1
	fi
	for t in "$@"; do
		local built=$tmp/$t
		[[ $# -gt 1 ]] && built=$tmp/$(basename "$(pkg_of "$t")")
		mv -f "$built" "$BIN_DIR/$t" || {
			echo "# $built is missing after the build" >>"$log"
			rm -rf "$tmp"
			return 1
		}
		echo "$(pkg_of "$t")@$(version_of "$t")" >"$STAMP_DIR/$t"
		echo "$(($(date +%s) - start))" >"$LOG_DIR/build-$t.seconds"
	done
	rm -rf "$tmp"
}

needs_build() {
	local tool=$1
	[[ ${FORCE:-0} == 1 ]] && return 0
	[[ -x $BIN_DIR/$tool ]] || return 0
	[[ "$(cat "$STAMP_DIR/$tool" 2>/dev/null)" == "$(pkg_of "$tool")@$(version_of "$tool")" ]] || return 0
	return 1
}

main() {
	local tools=("$@")
	[[ ${#tools[@]} -gt 0 ]] || tools=("${ALL_TOOLS[@]}")
	local t
	for t in "${tools[@]}"; do
		pkg_of "$t" >/dev/null || {
			echo "[tools] unknown tool '$t' (known: ${ALL_TOOLS[*]})" >&2
			exit 2
		}
	done
	command -v go >/dev/null || {
		echo "[tools] go is not on PATH" >&2
		exit 1
	}
	mkdir -p "$BIN_DIR" "$STAMP_DIR" "$LOG_DIR"
	# One build per bin/ at a time: a second run (`make test` while .ci/run prebuilds the tools in the
	# background, or two terminals) waits for the first, then finds the tools up to date.
	exec 9>"$BIN_DIR/.build.lock"
	if ! flock -n 9; then
		echo "[tools] another hack/build-tools.sh is building into ${BIN_DIR#"$REPO"/}/ (logs: ${LOG_DIR#"$REPO"/}/build-*.log); waiting for it"
		flock 9
	fi

	local n=${#tools[@]} i=0 failed=0 bg_pid=""
	local -a todo=()
	for t in "${tools[@]}"; do
		i=$((i + 1))
		if needs_build "$t"; then
			todo+=("$i:$t")
		else
			echo "[tools $i/$n] $t is up to date ($(cat "$STAMP_DIR/$t"))"
		fi
	done

	# kube-apiserver and kubectl are by far the longest builds and share most of their packages: build
	# them in one go build, in the background, and the others meanwhile.
	local -a k8s=() k8s_idx=()
	for entry in "${todo[@]}"; do
		idx=${entry%%:*} t=${entry#*:}
		if [[ $t == kube-apiserver || $t == kubectl ]]; then
			k8s+=("$t")
			k8s_idx+=("$idx")
		fi
	done
	if ((${#k8s[@]})); then
		echo "[tools ${k8s_idx[*]}/$n] building ${k8s[*]} in one go build ($(cold_estimate kube-apiserver)) log: ${LOG_DIR#"$REPO"/}/build-${k8s[0]}.log"
		build "${k8s[@]}" &
		bg_pid=$!
	fi
	for entry in "${todo[@]}"; do
		idx=${entry%%:*} t=${entry#*:}
		[[ $t == kube-apiserver || $t == kubectl ]] && continue
		echo "[tools $idx/$n] building $t ($(cold_estimate "$t")) log: ${LOG_DIR#"$REPO"/}/build-$t.log"
		if build "$t"; then
			echo "[tools $idx/$n] $t built in $(cat "$LOG_DIR/build-$t.seconds") s -> ${BIN_DIR#"$REPO"/}/$t"
		else
			explain_failure "$t" "$LOG_DIR/build-$t.log"
			failed=1
		fi
	done
	if [[ -n $bg_pid ]]; then
		echo "[tools ${k8s_idx[*]}/$n] waiting for ${k8s[*]} (log: ${LOG_DIR#"$REPO"/}/build-${k8s[0]}.log)"
		if wait "$bg_pid"; then
			echo "[tools ${k8s_idx[*]}/$n] ${k8s[*]} built in $(cat "$LOG_DIR/build-${k8s[0]}.seconds") s -> ${BIN_DIR#"$REPO"/}/"
		else
			explain_failure "${k8s[*]}" "$LOG_DIR/build-${k8s[0]}.log"
			failed=1
		fi
	fi
	if [[ $failed -ne 0 ]]; then
		exit 1
	fi
	echo "[tools] done: $(for t in "${tools[@]}"; do printf '%s ' "$t"; done)in ${BIN_DIR#"$REPO"/}/"
}

main "$@"
