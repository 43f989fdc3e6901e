#!/usr/bin/env bash
# Brings up the local multi-cluster test bed as plain processes (no containers):
#   one etcd (127.0.0.1:$ETCD_CLIENT_PORT) shared by all clusters under --etcd-prefix=/host, /member1, ...
#   the host kube-apiserver (aggregation layer on) at 127.0.0.1:$BASE_PORT
#   $MEMBERS member kube-apiservers at 127.0.0.1:$BASE_PORT+1, +2, ...
#   the secretfed aggregated API server at 127.0.0.1:$SECRETFED_PORT, registered as APIService v1alpha1.secretfed.io
# State: $LOCAL_DIR (default .local/): certs/ data/ logs/ pids/ kubeconfig env secretfed/ secretfed.kubeconfig
#
# Usage: hack/local-up.sh [--no-secretfed]
# Env:   MEMBERS=2 BASE_PORT=26443 ETCD_CLIENT_PORT=23790 ETCD_PEER_PORT=23800 SECRETFED_PORT=28443
#        SECRETFED_ETCD_CLIENT_PORT=23890 SECRETFED_ETCD_PEER_PORT=23891 LOCAL_DIR=.local READY_TIMEOUT=90
#        SECRETFED_READY_TIMEOUT=60 SECRETFED_V=2 SECRETFED_ARGS="" SECRETFED_BIN=bin/secretfed-apiserver
#        ETCD_ARGS="" KUBE_APISERVER_ARGS="" (all clusters) HOST_APISERVER_ARGS="" MEMBER_APISERVER_ARGS=""
#        KUBE_APISERVER_V=1 SKIP_TOOLS_BUILD=1 (fail instead of running hack/build-tools.sh)
# See docs/testbed.md.
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
source "$REPO/hack/lib/certs.sh"

WITH_SECRETFED=1
for arg in "$@"; do
	case $arg in
	--no-secretfed) WITH_SECRETFED=0 ;;
	-h | --help)
		sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'
		exit 0
		;;
	*) die "unknown argument '$arg' (try --help)" ;;
	esac
done

T0=$SECONDS
set_defaults

bed_components() {
	echo etcd
	cluster_names
}

# ---- already up? -------------------------------------------------------------------------------------------------

BED_UP=0
if [[ -f $ENV_FILE ]] && ls "$PID_DIR"/*.pid >/dev/null 2>&1; then
	recorded_members=$(MEMBERS=; source "$ENV_FILE"; echo "$MEMBERS")
	dead=()
	for c in etcd host $(for ((i = 1; i <= recorded_members; i++)); do echo "member$i"; done); do
		is_running "$c" || dead+=("$c")
	done
	if [[ ${#dead[@]} -eq $((recorded_members + 2)) ]] && ! is_running secretfed; then
		info "removing stale pid files (nothing recorded there is running)"
		rm -f "$PID_DIR"/*.pid
	elif [[ ${#dead[@]} -eq 0 ]]; then
		BED_UP=1
		[[ $recorded_members == "$MEMBERS" ]] ||
			warn "the running bed has MEMBERS=$recorded_members (asked for $MEMBERS); hack/local-down.sh first to change it"
		load_recorded_env
	else
		die "the bed is partly up (not running: ${dead[*]}; logs in $(rel "$LOG_DIR")). Run hack/local-down.sh, then hack/local-up.sh again."
	fi
fi
if [[ $BED_UP == 1 ]]; then
	if [[ $WITH_SECRETFED == 0 ]] || is_running secretfed; then
		info "already up (host $HOST_CONTEXT + $MEMBERS members$([[ $WITH_SECRETFED == 1 ]] && echo ", secretfed")); kubeconfig: $(rel "$KUBECONFIG_FILE"), env: $(rel "$ENV_FILE")"
		exit 0
	fi
	info "bed already up; starting secretfed only"
	exec "$REPO/hack/local-secretfed.sh" start
fi

# ---- preflight ---------------------------------------------------------------------------------------------------

STEPS=$((4 + 2 * (MEMBERS + 1) + 1))
[[ $WITH_SECRETFED == 1 ]] && STEPS=$((STEPS + 1))

if [[ $WITH_SECRETFED == 1 && ! -x $SECRETFED_BIN ]]; then
	die "$(rel "$SECRETFED_BIN") is missing: build it with 'make build' (or use --no-secretfed for the bed only)"
fi
for cmd in curl openssl setsid; do
	command -v "$cmd" >/dev/null || die "$cmd is not installed"
done

ports=("$ETCD_CLIENT_PORT" "$ETCD_PEER_PORT")
for c in $(cluster_names); do ports+=("$(cluster_port "$c")"); done
[[ $WITH_SECRETFED == 1 ]] && ports+=("$SECRETFED_PORT" "$SECRETFED_ETCD_CLIENT_PORT" "$SECRETFED_ETCD_PEER_PORT")
warn_ephemeral "${ports[@]}"
for p in "${ports[@]}"; do
	port_in_use "$p" && die "port 127.0.0.1:$p is already in use (another bed? 'ss -ltnp | grep :$p'); set BASE_PORT / *_PORT to move"
done
if [[ $(printf '%s\n' "${ports[@]}" | sort | uniq -d) ]]; then
	die "port collision among: ${ports[*]}"
fi

# If the bed itself fails to come up, stop what this run started (logs stay) unless KEEP_ON_FAILURE=1.
BED_STARTING=0
cleanup_on_failure() {
	local rc=$?
	if [[ $rc -ne 0 && $BED_STARTING == 1 ]]; then
		if [[ ${KEEP_ON_FAILURE:-0} == 1 ]]; then
			info "KEEP_ON_FAILURE=1: leaving the started processes running; hack/local-down.sh stops them"
		else
			info "stopping what this run started (KEEP_ON_FAILURE=1 keeps it for debugging); logs stay in $(rel "$LOG_DIR")"
			# shellcheck disable=SC2046
			stop_procs $(cluster_names) etcd >/dev/null 2>&1 || true
		fi
	fi
	exit "$rc"
}
trap cleanup_on_failure EXIT

# ---- 1. tools ----------------------------------------------------------------------------------------------------

step "checking tools in $(rel "$BIN_DIR") (kube-apiserver, kubectl, etcd)"
if [[ ${SKIP_TOOLS_BUILD:-0} == 1 ]]; then
	for t in kube-apiserver kubectl etcd; do
		[[ -x $BIN_DIR/$t ]] || die "$(rel "$BIN_DIR")/$t is missing: run hack/build-tools.sh"
	done
else
	if ! "$REPO/hack/build-tools.sh" kube-apiserver kubectl etcd 2>&1 | sed 's/^/    /'; then
		die "hack/build-tools.sh failed (see above)"
	fi
fi

# ---- 2. certificates ---------------------------------------------------------------------------------------------

step "certificates in $(rel "$CERT_DIR")"
mkdir -p "$DATA_DIR" "$LOG_DIR" "$PID_DIR" "$MANIFEST_DIR"
certs::generate "$CERT_DIR" "$MEMBERS" || die "certificate generation failed (openssl)"

# ---- 3. kubeconfig and env ---------------------------------------------------------------------------------------

b64() { base64 -w0 <"$1"; }

write_kubeconfigs() {
	local c ctx tmp
	tmp=$(mktemp "$LOCAL_DIR/.kubeconfig.XXXXXX")
	{
		echo "apiVersion: v1"
		echo "kind: Config"
		echo "preferences: {}"
		echo "current-context: $HOST_CONTEXT"
		echo "clusters:"
		for c in $(cluster_names); do
			ctx=$(cluster_context "$c")
			echo "- name: $ctx"
			echo "  cluster:"
			echo "    server: https://127.0.0.1:$(cluster_port "$c")"
			echo "    certificate-authority-data: $(b64 "$CERT_DIR/ca.crt")"
		done
		echo "users:"
		for c in $(cluster_names); do
			ctx=$(cluster_context "$c")
			echo "- name: $ctx-admin"
			echo "  user:"
			echo "    client-certificate-data: $(b64 "$CERT_DIR/admin-$c.crt")"
			echo "    client-key-data: $(b64 "$CERT_DIR/admin-$c.key")"
		done
		echo "contexts:"
		for c in $(cluster_names); do
			ctx=$(cluster_context "$c")
			echo "- name: $ctx"
			echo "  context:"
			echo "    cluster: $ctx"
			echo "    user: $ctx-admin"
		done
	} >"$tmp"
	chmod 600 "$tmp"
	mv "$tmp" "$KUBECONFIG_FILE"

	# secretfed's own identity in the host (user secretfed-apiserver), for --kubeconfig,
	# --authentication-kubeconfig and --authorization-kubeconfig.
	tmp=$(mktemp "$LOCAL_DIR/.kubeconfig.XXXXXX")
	cat >"$tmp" <<EOF
apiVersion: v1
kind: Config
current-context: $HOST_CONTEXT
clusters:
- name: $HOST_CONTEXT
  cluster:
    server: https://127.0.0.1:$(host_port)
    certificate-authority-data: $(b64 "$CERT_DIR/ca.crt")
users:
- name: $SECRETFED_USER
  user:
    client-certificate-data: $(b64 "$CERT_DIR/secretfed-client.crt")
    client-key-data: $(b64 "$CERT_DIR/secretfed-client.key")
contexts:
- name: $HOST_CONTEXT
  context:
    cluster: $HOST_CONTEXT
    user: $SECRETFED_USER
EOF
	chmod 600 "$tmp"
	mv "$tmp" "$SECRETFED_KUBECONFIG_FILE"
}

# env_line NAME VALUE...: "export NAME=VALUE" lines, single-quoted only when needed, so the file is easy to
# parse outside a shell too.
env_line() {
	while [[ $# -ge 2 ]]; do
		if [[ $2 =~ ^[A-Za-z0-9_./:@,+=-]*$ ]]; then
			printf 'export %s=%s\n' "$1" "$2"
		else
			printf "export %s='%s'\n" "$1" "${2//\'/\'\\\'\'}"
		fi
		shift 2
	done
}

write_env() {
	local c tmp
	tmp=$(mktemp "$LOCAL_DIR/.env.XXXXXX")
	{
		echo "# Written by hack/local-up.sh at $(date -u +%FT%TZ). Source it: . $(rel "$ENV_FILE")"
		env_line \
			LOCAL_DIR "$LOCAL_DIR" \
			KUBECONFIG "$KUBECONFIG_FILE" \
			MEMBERS "$MEMBERS" \
			BASE_PORT "$BASE_PORT" \
			HOST_CONTEXT "$HOST_CONTEXT" \
			HOST_URL "https://127.0.0.1:$(host_port)" \
			HOST_ETCD_PREFIX /host
		for ((i = 1; i <= MEMBERS; i++)); do
			env_line \
				"MEMBER${i}_CONTEXT" "member$i" \
				"MEMBER${i}_URL" "https://127.0.0.1:$(member_port "$i")" \
				"MEMBER${i}_ETCD_PREFIX" "/member$i"
		done
		env_line \
			MEMBER_CONTEXTS "$(cluster_names | grep -v '^host$' | tr '\n' ' ' | sed 's/ $//')" \
			ETCD_CLIENT_PORT "$ETCD_CLIENT_PORT" \
			ETCD_PEER_PORT "$ETCD_PEER_PORT" \
			ETCD_URL "http://127.0.0.1:$ETCD_CLIENT_PORT" \
			SECRETFED_PORT "$SECRETFED_PORT" \
			SECRETFED_URL "https://127.0.0.1:$SECRETFED_PORT" \
			SECRETFED_ETCD_CLIENT_PORT "$SECRETFED_ETCD_CLIENT_PORT" \
			SECRETFED_ETCD_PEER_PORT "$SECRETFED_ETCD_PEER_PORT" \
			SECRETFED_ETCD_URL "http://127.0.0.1:$SECRETFED_ETCD_CLIENT_PORT" \
			SECRETFED_ETCD_PEER_URL "http://127.0.0.1:$SECRETFED_ETCD_PEER_PORT" \
			SECRETFED_DATA_DIR "$SECRETFED_DATA_DIR" \
			SECRETFED_KUBECONFIG "$SECRETFED_KUBECONFIG_FILE" \
			SECRETFED_USER "$SECRETFED_USER" \
			SECRETFED_CERT_FILE "$CERT_DIR/secretfed-serving.crt" \
			SECRETFED_KEY_FILE "$CERT_DIR/secretfed-serving.key" \
			SECRETFED_CA_FILE "$CERT_DIR/ca.crt" \
			CERT_DIR "$CERT_DIR" \
			CA_FILE "$CERT_DIR/ca.crt" \
			FRONT_PROXY_CA_FILE "$CERT_DIR/front-proxy-ca.crt" \
			LOG_DIR "$LOG_DIR" \
			PID_DIR "$PID_DIR" \
			BIN_DIR "$BIN_DIR" \
			KUBECTL "$KUBECTL"
	} >"$tmp"
	mv "$tmp" "$ENV_FILE"
}

step "kubeconfig $(rel "$KUBECONFIG_FILE") (contexts: $(for c in $(cluster_names); do printf '%s ' "$(cluster_context "$c")"; done | sed 's/ $//')) and $(rel "$ENV_FILE")"
write_kubeconfigs
write_env

# ---- 4. etcd -----------------------------------------------------------------------------------------------------

BED_STARTING=1
step "starting etcd on 127.0.0.1:$ETCD_CLIENT_PORT (log: $(rel "$(log_file etcd)"))"
mkdir -p "$DATA_DIR/etcd"
chmod 700 "$DATA_DIR/etcd"
# shellcheck disable=SC2086
start_proc etcd "$BIN_DIR/etcd" \
	--name=secretfed-testbed \
	--data-dir="$DATA_DIR/etcd" \
	--listen-client-urls="http://127.0.0.1:$ETCD_CLIENT_PORT" \
	--advertise-client-urls="http://127.0.0.1:$ETCD_CLIENT_PORT" \
	--listen-peer-urls="http://127.0.0.1:$ETCD_PEER_PORT" \
	--initial-advertise-peer-urls="http://127.0.0.1:$ETCD_PEER_PORT" \
	--initial-cluster="secretfed-testbed=http://127.0.0.1:$ETCD_PEER_PORT" \
	--unsafe-no-fsync \
	--log-level=warn \
	${ETCD_ARGS:-}
etcd_healthy() { curl -sS --max-time 2 "http://127.0.0.1:$ETCD_CLIENT_PORT/health" 2>/dev/null | grep -q '"health":"true"'; }
wait_ready etcd "$READY_TIMEOUT" etcd_healthy
info "etcd ready in ${WAITED}s"

# ---- kube-apiservers ---------------------------------------------------------------------------------------------

start_apiserver() {
	local c=$1 port
	port=$(cluster_port "$c")
	local -a args=(
		--etcd-servers="http://127.0.0.1:$ETCD_CLIENT_PORT"
		--etcd-prefix="/$c"
		--bind-address=127.0.0.1
		--secure-port="$port"
		--advertise-address=127.0.0.1
		--endpoint-reconciler-type=none
		--tls-cert-file="$CERT_DIR/apiserver-$c.crt"
		--tls-private-key-file="$CERT_DIR/apiserver-$c.key"
		--client-ca-file="$CERT_DIR/ca.crt"
		--service-account-issuer="https://127.0.0.1:$port"
		--service-account-key-file="$CERT_DIR/sa-$c.pub"
		--service-account-signing-key-file="$CERT_DIR/sa-$c.key"
		--authorization-mode=RBAC
		--cert-dir="$DATA_DIR/$c"
		--v="${KUBE_APISERVER_V:-1}"
	)
	if [[ $c == host ]]; then
		# The aggregation layer (front proxy) for secretfed.
		args+=(
			--requestheader-client-ca-file="$CERT_DIR/front-proxy-ca.crt"
			--requestheader-allowed-names=front-proxy-client
			--requestheader-username-headers=X-Remote-User
			--requestheader-group-headers=X-Remote-Group
			--requestheader-extra-headers-prefix=X-Remote-Extra-
			--requestheader-uid-headers=X-Remote-Uid
			--proxy-client-cert-file="$CERT_DIR/front-proxy-client.crt"
			--proxy-client-key-file="$CERT_DIR/front-proxy-client.key"
		)
		# shellcheck disable=SC2206
		args+=(${HOST_APISERVER_ARGS:-})
	else
		# shellcheck disable=SC2206
		args+=(${MEMBER_APISERVER_ARGS:-})
	fi
	# shellcheck disable=SC2206
	args+=(${KUBE_APISERVER_ARGS:-})
	mkdir -p "$DATA_DIR/$c"
	start_proc "$c" "$BIN_DIR/kube-apiserver" "${args[@]}"
}

# Start them all, then wait for each: they come up in parallel (CPU-bound for ~10 s on 2 cores).
for c in $(cluster_names); do
	step "starting $c kube-apiserver on 127.0.0.1:$(cluster_port "$c") (log: $(rel "$(log_file "$c")"))"
	start_apiserver "$c"
done
for c in $(cluster_names); do
	step "waiting for $c /readyz (deadline ${READY_TIMEOUT}s)"
	wait_ready "$c" "$READY_TIMEOUT" apiserver_ready "$c"
	info "$c ready (waited ${WAITED}s, $((SECONDS - T0))s since start)"
done

step "checking contexts in $(rel "$KUBECONFIG_FILE")"
for c in $(cluster_names); do
	ctx=$(cluster_context "$c")
	kc --context "$ctx" get --raw /version >/dev/null 2>"$LOG_DIR/kubectl-check.err" ||
		die "kubectl --context $ctx failed: $(cat "$LOG_DIR/kubectl-check.err")"
done

BED_STARTING=0 # from here on the bed is up: a secretfed failure leaves it running

if [[ $WITH_SECRETFED == 1 ]]; then
	step "starting secretfed (hack/local-secretfed.sh start)"
	if ! "$REPO/hack/local-secretfed.sh" start 2>&1 | sed 's/^/    /'; then
		die "secretfed did not come up (the bed itself is up; fix and run hack/local-secretfed.sh start)"
	fi
fi

info "up in $((SECONDS - T0))s. Try:"
info "  export KUBECONFIG=$KUBECONFIG_FILE   # or: . $(rel "$ENV_FILE")"
info "  bin/kubectl --context member1 get ns"
[[ $WITH_SECRETFED == 1 ]] && info "  bin/kubectl --context $HOST_CONTEXT get federatedsecrets -A"
info "stop with hack/local-down.sh (add --purge to delete $(rel "$LOCAL_DIR"))"
