#!/usr/bin/env bash
# Prints each recorded component of the local bed: pid, alive, RSS, endpoint, log. Exit 0 if all alive.
set -euo pipefail
# shellcheck disable=SC2034 # read by lib/common.sh
STEP_PREFIX=local-status
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
set_defaults
load_recorded_env || { echo "no $(rel "$ENV_FILE"): the bed was never brought up here"; exit 3; }

endpoint() {
	case $1 in
	etcd) echo "http://127.0.0.1:$ETCD_CLIENT_PORT" ;;
	secretfed) echo "https://127.0.0.1:$SECRETFED_PORT" ;;
	host | member*) echo "https://127.0.0.1:$(cluster_port "$1")" ;;
	esac
}
rc=0 total=0
printf '%-10s %-8s %-6s %8s  %-26s %s\n' COMPONENT PID STATE RSS_MIB ENDPOINT LOG
for n in etcd $(cluster_names) secretfed; do
	if pid=$(pid_of "$n"); then
		rss=$(rss_mib "$pid" || echo ?)
		[[ $rss =~ ^[0-9]+$ ]] && total=$((total + rss))
		printf '%-10s %-8s %-6s %8s  %-26s %s\n' "$n" "$pid" up "$rss" "$(endpoint "$n")" "$(rel "$(log_file "$n")")"
	else
		[[ $n == secretfed && ! -f $(pid_file secretfed) ]] && continue
		printf '%-10s %-8s %-6s %8s  %-26s %s\n' "$n" - down - "$(endpoint "$n")" "$(rel "$(log_file "$n")")"
		rc=1
	fi
done
echo "total RSS: ${total} MiB"
exit $rc
