#!/usr/bin/env bash
# Restarts exactly one component of a running local bed — etcd, host or member<i> — with the command line it was
# last started with, which start_proc (hack/lib/common.sh) recorded in its log as "==== <bin> <args>" right after
# the "==== <time> local-up starting <name>" line. Stops it first if it runs (SIGTERM, SIGKILL after
# STOP_TIMEOUT, default 20 s); when it is already down (a test stopped or killed it) it only starts it. Then waits
# for its /health (etcd) or /readyz (kube-apiservers), deadline READY_TIMEOUT (default 90 s).
# secretfed is not handled here: hack/local-secretfed.sh restart also re-registers its APIService.
#
# Usage: hack/local-restart.sh etcd|host|member<i>
set -euo pipefail

STEP_PREFIX=${STEP_PREFIX:-local-restart}
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

set_defaults
load_recorded_env || die "no $(rel "$ENV_FILE"): bring the bed up first with hack/local-up.sh"

name=${1:-}
case $name in
etcd | host | member[0-9]*) ;;
secretfed*) die "use hack/local-secretfed.sh restart for secretfed (it re-registers the APIService)" ;;
*) die "usage: $0 etcd|host|member<i>" ;;
esac

# The recorded command line of NAME's latest start, %q-quoted as start_proc wrote it.
# (awk reads to the end: exiting early would SIGPIPE last_run_log under pipefail)
recorded=$(last_run_log "$name" | awk 'NR == 2 && /^==== / { sub(/^==== /, ""); line = $0 } END { print line }')
[[ -n $recorded ]] || die "no recorded command line for $name in $(rel "$(log_file "$name")")"
cmd=()
eval "cmd=($recorded)" # start_proc wrote it with printf %q: each word comes back exactly

T0=$SECONDS
if is_running "$name"; then
	stop_procs "$name"
fi
if [[ $name == etcd ]]; then port=$ETCD_CLIENT_PORT; else port=$(cluster_port "$name"); fi
# The old listener is gone once the process is; a live socket on the port is someone else's.
port_in_use "$port" && die "port 127.0.0.1:$port is taken by another process ('ss -ltnp | grep :$port')"

info "starting $name: $(rel "${cmd[0]}") (log: $(rel "$(log_file "$name")"))"
start_proc "$name" "${cmd[@]}"
etcd_healthy() { curl -sS --max-time 2 "http://127.0.0.1:$ETCD_CLIENT_PORT/health" 2>/dev/null | grep -q '"health":"true"'; }
if [[ $name == etcd ]]; then
	wait_ready etcd "$READY_TIMEOUT" etcd_healthy
else
	wait_ready "$name" "$READY_TIMEOUT" apiserver_ready "$name"
fi
info "$name ready (pid $(pid_of "$name")) in $((SECONDS - T0))s"
