#!/usr/bin/env bash
# Stops the local test bed: exactly the processes whose pids hack/local-up.sh recorded in .local/pids/
# (SIGTERM, then SIGKILL after STOP_TIMEOUT seconds, default 20). Order: secretfed, kube-apiservers, etcd.
#
# Usage: hack/local-down.sh [--purge]
#   default:  removes the pid files; keeps certs, etcd data, secretfed data, kubeconfig and logs
#             (the next hack/local-up.sh reuses them: same certs, same objects).
#   --purge:  also deletes $LOCAL_DIR (default .local/) entirely.
set -euo pipefail

# shellcheck disable=SC2034 # read by lib/common.sh
STEP_PREFIX=local-down
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

PURGE=0
for arg in "$@"; do
	case $arg in
	--purge) PURGE=1 ;;
	-h | --help)
		sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'
		exit 0
		;;
	*) die "unknown argument '$arg' (try --help)" ;;
	esac
done

T0=$SECONDS
names=()
if [[ -d $PID_DIR ]]; then
	for f in "$PID_DIR"/*.pid; do
		[[ -e $f ]] || continue
		n=$(basename "$f" .pid)
		names+=("$n")
	done
fi

if [[ ${#names[@]} -eq 0 ]]; then
	info "nothing recorded in $(rel "$PID_DIR"): not running"
else
	# secretfed first (it talks to the host), then all kube-apiservers together, etcd last.
	first=() middle=() last=()
	for n in "${names[@]}"; do
		case $n in
		etcd) last+=("$n") ;;
		host | member*) middle+=("$n") ;;
		*) first+=("$n") ;;
		esac
	done
	[[ ${#first[@]} -gt 0 ]] && stop_procs "${first[@]}"
	[[ ${#middle[@]} -gt 0 ]] && stop_procs "${middle[@]}"
	[[ ${#last[@]} -gt 0 ]] && stop_procs "${last[@]}"
	info "stopped in $((SECONDS - T0))s"
fi

if [[ $PURGE == 1 ]]; then
	# Refuse to purge while anything recorded still runs (it would lose its data under its feet).
	for f in "$PID_DIR"/*.pid; do
		[[ -e $f ]] && die "$(basename "$f" .pid) still has a pid file; not purging"
	done
	case $LOCAL_DIR in
	/ | "$HOME" | "$REPO") die "refusing to delete LOCAL_DIR=$LOCAL_DIR" ;;
	esac
	rm -rf "$LOCAL_DIR"
	info "purged $LOCAL_DIR"
else
	info "kept certs, data and logs in $(rel "$LOCAL_DIR") (--purge deletes them)"
fi
