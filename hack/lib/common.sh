# Shared settings and helpers for hack/local-*.sh. Source it; do not run it.
# shellcheck shell=bash disable=SC2034

REPO=${REPO:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
BIN_DIR=${BIN_DIR:-$REPO/bin}
LOCAL_DIR=${LOCAL_DIR:-$REPO/.local}
# Make LOCAL_DIR absolute: it is written into kubeconfigs and .local/env.
mkdir -p "$LOCAL_DIR"
LOCAL_DIR=$(cd "$LOCAL_DIR" && pwd)

CERT_DIR=$LOCAL_DIR/certs
DATA_DIR=$LOCAL_DIR/data
LOG_DIR=$LOCAL_DIR/logs
PID_DIR=$LOCAL_DIR/pids
ENV_FILE=$LOCAL_DIR/env
KUBECONFIG_FILE=$LOCAL_DIR/kubeconfig
SECRETFED_KUBECONFIG_FILE=$LOCAL_DIR/secretfed.kubeconfig
SECRETFED_DATA_DIR=$LOCAL_DIR/secretfed
MANIFEST_DIR=$LOCAL_DIR/manifests

HOST_CONTEXT=secretfed-host
SECRETFED_USER=secretfed-apiserver
SECRETFED_NAMESPACE=secretfed-system
SECRETFED_SERVICE=secretfed-apiserver
SECRETFED_APISERVICE=v1alpha1.secretfed.io

KUBECTL=$BIN_DIR/kubectl
SECRETFED_BIN=${SECRETFED_BIN:-$BIN_DIR/secretfed-apiserver}

# Ports and sizes. local-up.sh takes them from the environment (or these defaults) and records them in
# .local/env; the other scripts read them back from there (load_recorded_env), so a running bed is
# always addressed with the ports it was started with.
set_defaults() {
	MEMBERS=${MEMBERS:-2}
	BASE_PORT=${BASE_PORT:-26443}
	ETCD_CLIENT_PORT=${ETCD_CLIENT_PORT:-23790}
	ETCD_PEER_PORT=${ETCD_PEER_PORT:-23800}
	SECRETFED_PORT=${SECRETFED_PORT:-28443}
	SECRETFED_ETCD_CLIENT_PORT=${SECRETFED_ETCD_CLIENT_PORT:-23890}
	SECRETFED_ETCD_PEER_PORT=${SECRETFED_ETCD_PEER_PORT:-23891}
	READY_TIMEOUT=${READY_TIMEOUT:-90}
	SECRETFED_READY_TIMEOUT=${SECRETFED_READY_TIMEOUT:-60}
	STOP_TIMEOUT=${STOP_TIMEOUT:-20}
	[[ $MEMBERS =~ ^[0-9]+$ ]] || die "MEMBERS must be a number, got '$MEMBERS'"
}

# Reads ports and sizes from the .local/env a previous local-up wrote (environment does not override them).
load_recorded_env() {
	[[ -f $ENV_FILE ]] || return 1
	local v
	v=$(
		# shellcheck disable=SC1090
		source "$ENV_FILE"
		printf '%s %s %s %s %s %s %s\n' "$MEMBERS" "$BASE_PORT" "$ETCD_CLIENT_PORT" "$ETCD_PEER_PORT" \
			"$SECRETFED_PORT" "$SECRETFED_ETCD_CLIENT_PORT" "$SECRETFED_ETCD_PEER_PORT"
	)
	read -r MEMBERS BASE_PORT ETCD_CLIENT_PORT ETCD_PEER_PORT SECRETFED_PORT \
		SECRETFED_ETCD_CLIENT_PORT SECRETFED_ETCD_PEER_PORT <<<"$v"
}

host_port() { echo "$BASE_PORT"; }
member_port() { echo $((BASE_PORT + $1)); }
# cluster names: host, member1, member2, ...
cluster_names() {
	local i
	echo host
	for ((i = 1; i <= MEMBERS; i++)); do echo "member$i"; done
}
cluster_port() {
	if [[ $1 == host ]]; then host_port; else member_port "${1#member}"; fi
}
cluster_context() {
	if [[ $1 == host ]]; then echo "$HOST_CONTEXT"; else echo "$1"; fi
}

# ---- output -------------------------------------------------------------------------------------------------------

STEP_PREFIX=${STEP_PREFIX:-local-up}
STEP=0
STEPS=0
step() {
	STEP=$((STEP + 1))
	echo "[$STEP_PREFIX $STEP/$STEPS] $*"
}
info() { echo "[$STEP_PREFIX] $*"; }
warn() { echo "[$STEP_PREFIX] WARNING: $*" >&2; }
die() {
	echo "[$STEP_PREFIX] ERROR: $*" >&2
	exit 1
}
rel() { echo "${1#"$REPO"/}"; }

# ---- processes ----------------------------------------------------------------------------------------------------

pid_file() { echo "$PID_DIR/$1.pid"; }
log_file() { echo "$LOG_DIR/$1.log"; }

# pid_of NAME: prints the recorded pid if that process is alive and still runs the recorded binary.
pid_of() {
	local f pid bin
	f=$(pid_file "$1")
	[[ -f $f ]] || return 1
	read -r pid bin <"$f" || return 1
	[[ $pid =~ ^[0-9]+$ ]] || return 1
	kill -0 "$pid" 2>/dev/null || return 1
	# A killed process stays a zombie (state Z, no readable exe) until init reaps it: it is not running.
	[[ "$(sed 's/.*) //' "/proc/$pid/stat" 2>/dev/null | cut -c1)" != Z ]] || return 1
	# Guard against pid reuse: the process must still be the binary we started.
	if [[ -n $bin && -r /proc/$pid/exe ]]; then
		[[ "$(readlink "/proc/$pid/exe" 2>/dev/null)" == "$bin"* ]] || return 1
	fi
	echo "$pid"
}
is_running() { pid_of "$1" >/dev/null; }

# start_proc NAME BINARY ARGS...: starts BINARY detached (own session), output appended to .local/logs/NAME.log,
# pid (and binary path) recorded in .local/pids/NAME.pid.
start_proc() {
	local name=$1 bin=$2
	shift 2
	local log pidf
	log=$(log_file "$name")
	pidf=$(pid_file "$name")
	mkdir -p "$LOG_DIR" "$PID_DIR"
	rm -f "$pidf"
	{
		echo "==== $(date -u +%FT%TZ) local-up starting $name"
		printf '==== %q' "$bin"
		printf ' %q' "$@"
		echo
	} >>"$log"
	# bash writes its own pid, then execs the binary under that same pid.
	# shellcheck disable=SC2016 # expanded by the inner bash
	setsid bash -c 'echo "$$ $1" > "$0.tmp" && mv "$0.tmp" "$0" && shift && exec "$@"' \
		"$pidf" "$(readlink -f "$bin")" "$bin" "$@" >>"$log" 2>&1 </dev/null &
	local deadline=$((SECONDS + 5)) pid rbin
	while [[ ! -s $pidf ]]; do
		((SECONDS < deadline)) || die "$name did not record its pid in $(rel "$pidf")"
		sleep 0.05
	done
	# Wait until bash has exec'd the binary (pid_of checks /proc/PID/exe), or the process is gone.
	read -r pid rbin <"$pidf"
	while kill -0 "$pid" 2>/dev/null && [[ "$(readlink "/proc/$pid/exe" 2>/dev/null)" != "$rbin"* ]]; do
		((SECONDS < deadline)) || break
		sleep 0.02
	done
}

# last_run_log NAME: the lines of NAME's log written since its latest start (logs are appended across restarts).
last_run_log() {
	local log
	log=$(log_file "$1")
	[[ -f $log ]] || return 0
	awk '/^==== .* local-up starting / { buf = "" } { buf = buf $0 "\n" } END { printf "%s", buf }' "$log"
}

# stop_procs NAME...: SIGTERM to each recorded pid, SIGKILL after STOP_TIMEOUT seconds; removes the pid files.
stop_procs() {
	local name pid
	local -a names=() pids=()
	for name in "$@"; do
		if pid=$(pid_of "$name"); then
			kill -TERM "$pid" 2>/dev/null || true
			names+=("$name")
			pids+=("$pid")
		else
			[[ -f $(pid_file "$name") ]] && info "$name was not running (stale pid file)"
			rm -f "$(pid_file "$name")"
		fi
	done
	local i deadline=$((SECONDS + ${STOP_TIMEOUT:-20})) alive
	while :; do
		alive=0
		for i in "${!pids[@]}"; do
			kill -0 "${pids[$i]}" 2>/dev/null && alive=1
		done
		((alive == 0)) && break
		if ((SECONDS >= deadline)); then
			for i in "${!pids[@]}"; do
				if kill -0 "${pids[$i]}" 2>/dev/null; then
					warn "${names[$i]} (pid ${pids[$i]}) ignored SIGTERM for ${STOP_TIMEOUT:-20}s: SIGKILL"
					kill -KILL "${pids[$i]}" 2>/dev/null || true
				fi
			done
			sleep 0.2
			break
		fi
		sleep 0.1
	done
	for i in "${!names[@]}"; do
		info "stopped ${names[$i]} (pid ${pids[$i]})"
		rm -f "$(pid_file "${names[$i]}")"
	done
}

# port_in_use PORT: true if a live socket holds local port PORT (a listener, or a client connection that got it as
# its ephemeral port: either makes the bind fail), or something answers on it. Closing sockets (TIME-WAIT,
# FIN-WAIT, ...) of a stopped server do not count: they do not block a new listener.
port_in_use() {
	if command -v ss >/dev/null &&
		[[ -n "$(ss -Htan state listening state established state syn-sent "( sport = :$1 )" 2>/dev/null)" ]]; then
		return 0
	fi
	(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# warn_ephemeral PORT...: ports in the kernel's ephemeral range can be taken at random by outgoing connections.
warn_ephemeral() {
	local lo hi p
	read -r lo hi </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || return 0
	for p in "$@"; do
		if ((p >= lo && p <= hi)); then
			warn "port $p is in the ephemeral range $lo-$hi (net.ipv4.ip_local_port_range): an outgoing connection may hold it and make a bind fail; prefer ports below $lo"
		fi
	done
}

rss_mib() {
	local kb
	kb=$(awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null) || return 1
	[[ -n $kb ]] && echo $((kb / 1024))
}

# ---- waiting ------------------------------------------------------------------------------------------------------

# likely_cause NAME: a best guess why a component did not become ready, from its log since its latest start.
likely_cause() {
	local out
	out=$(last_run_log "$1")
	if grep -qE 'panic:|fatal error:' <<<"$out"; then
		echo "the process crashed (see the panic in $(rel "$(log_file "$1")"))"
	elif grep -qiE 'unknown (shorthand )?flag|flag provided but not defined|invalid argument ".*" for' <<<"$out"; then
		echo "the binary does not accept a flag the script passes (version mismatch? rebuild with hack/build-tools.sh or make build; check SECRETFED_ARGS / *_APISERVER_ARGS)"
	elif grep -qE 'address already in use' <<<"$out"; then
		echo "a port is already taken by another process: stop it or choose other ports (BASE_PORT, ETCD_CLIENT_PORT, SECRETFED_PORT, ...)"
	elif grep -qE 'dial tcp 127.0.0.1:[0-9]+: connect: connection refused' <<<"$out" && grep -qiE 'etcd|storage' <<<"$out"; then
		echo "etcd is not reachable: check $(rel "$(log_file etcd)")"
	elif grep -qiE 'no such file or directory' <<<"$out"; then
		echo "a file given on the command line is missing (certificates? hack/local-down.sh --purge, then hack/local-up.sh)"
	elif grep -qiE 'x509: |tls: (failed|bad|unknown)|remote error: tls' <<<"$out"; then
		echo "a TLS/certificate problem (mismatched certs: hack/local-down.sh --purge regenerates them)"
	elif grep -qiE 'is forbidden|cannot (get|list|watch|create|update|patch) resource' <<<"$out"; then
		echo "RBAC: the identity lacks a permission (see artifacts/local/rbac.yaml)"
	else
		echo "unknown; the machine may be overloaded (a build running?): raise READY_TIMEOUT / SECRETFED_READY_TIMEOUT, or read the whole log"
	fi
}

fail_with_log() {
	local name=$1 why=$2 log
	log=$(log_file "$name")
	{
		echo "[$STEP_PREFIX] ERROR: $name $why"
		echo "---- last 30 lines of $(rel "$log") ----"
		last_run_log "$name" | tail -n 30
		echo "----"
		echo "[$STEP_PREFIX] likely cause: $(likely_cause "$name")"
	} >&2
	exit 1
}

# wait_ready NAME TIMEOUT CMD...: polls CMD until it succeeds; fails early if NAME's process dies.
wait_ready() {
	local name=$1 timeout=$2
	shift 2
	local start=$SECONDS deadline=$((SECONDS + timeout))
	while ! "$@" >/dev/null 2>&1; do
		is_running "$name" || fail_with_log "$name" "exited before it became ready"
		((SECONDS < deadline)) || fail_with_log "$name" "not ready after ${timeout}s"
		sleep 0.25
	done
	WAITED=$((SECONDS - start))
}

# apiserver_ready CLUSTER: /readyz of a kube-apiserver, as its admin.
apiserver_ready() {
	local c=$1
	[[ "$(curl -sS --max-time 3 --cacert "$CERT_DIR/ca.crt" --cert "$CERT_DIR/admin-$c.crt" \
		--key "$CERT_DIR/admin-$c.key" "https://127.0.0.1:$(cluster_port "$c")/readyz" 2>/dev/null)" == ok ]]
}

kc() { "$KUBECTL" --kubeconfig "$KUBECONFIG_FILE" "$@"; }
