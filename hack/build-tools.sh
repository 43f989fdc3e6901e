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
	kube-apiserver) echo "cold: ~9 min" ;;
	kubectl) echo "cold: ~3 min, ~1.5 min after kube-apiserver" ;;
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

# build TOOL: builds into a temp file and renames it, so an interrupted build leaves no broken binary.
build() {
	local tool=$1 pkg ver log out start rc
	pkg=$(pkg_of "$tool")
	ver=$(version_of "$tool")
	log=$LOG_DIR/build-$tool.log
	out=$BIN_DIR/.$tool.tmp.$$
	start=$(date +%s)
	{
		echo "# $(date -u +%FT%TZ) go build $pkg@$ver ($(go env GOVERSION))"
		set +e
		# shellcheck disable=SC2086 # TOOLS_GOFLAGS is a list of flags
		(cd "$TOOLS_MOD" && GOWORK=off CGO_ENABLED=0 go build -trimpath ${TOOLS_GOFLAGS:-} \
			-ldflags "$(ldflags_of "$tool")" -o "$out" "$pkg")
		rc=$?
		set -e
		echo "# exit $rc after $(($(date +%s) - start)) s"
	} >"$log" 2>&1
	if [[ ${rc:-1} -ne 0 ]] || ! grep -q '^# exit 0 ' "$log"; then
		rm -f "$out"
		return 1
	fi
	mv -f "$out" "$BIN_DIR/$tool"
	echo "$pkg@$ver" >"$STAMP_DIR/$tool"
	echo "$(($(date +%s) - start))" >"$LOG_DIR/build-$tool.seconds"
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

	local n=${#tools[@]} i=0 failed=0 bg_pid="" bg_idx=""
	local -a todo=()
	for t in "${tools[@]}"; do
		i=$((i + 1))
		if needs_build "$t"; then
			todo+=("$i:$t")
		else
			echo "[tools $i/$n] $t is up to date ($(cat "$STAMP_DIR/$t"))"
		fi
	done

	# kube-apiserver is by far the longest build: start it first, in the background, and build the
	# others meanwhile (they share most of the build cache with it).
	local entry idx
	for entry in "${todo[@]}"; do
		idx=${entry%%:*} t=${entry#*:}
		if [[ $t == kube-apiserver ]]; then
			echo "[tools $idx/$n] building kube-apiserver ($(cold_estimate "$t")) log: ${LOG_DIR#"$REPO"/}/build-$t.log"
			build "$t" &
			bg_pid=$!
			bg_idx=$idx
		fi
	done
	for entry in "${todo[@]}"; do
		idx=${entry%%:*} t=${entry#*:}
		[[ $t == kube-apiserver ]] && continue
		echo "[tools $idx/$n] building $t ($(cold_estimate "$t")) log: ${LOG_DIR#"$REPO"/}/build-$t.log"
		if build "$t"; then
			echo "[tools $idx/$n] $t built in $(cat "$LOG_DIR/build-$t.seconds") s -> ${BIN_DIR#"$REPO"/}/$t"
		else
			explain_failure "$t" "$LOG_DIR/build-$t.log"
			failed=1
		fi
	done
	if [[ -n $bg_pid ]]; then
		echo "[tools $bg_idx/$n] waiting for kube-apiserver (log: ${LOG_DIR#"$REPO"/}/build-kube-apiserver.log)"
		if wait "$bg_pid"; then
			echo "[tools $bg_idx/$n] kube-apiserver built in $(cat "$LOG_DIR/build-kube-apiserver.seconds") s -> ${BIN_DIR#"$REPO"/}/kube-apiserver"
		else
			explain_failure kube-apiserver "$LOG_DIR/build-kube-apiserver.log"
			failed=1
		fi
	fi
	if [[ $failed -ne 0 ]]; then
		exit 1
	fi
	echo "[tools] done: $(for t in "${tools[@]}"; do printf '%s ' "$t"; done)in ${BIN_DIR#"$REPO"/}/"
}

main "$@"
