#!/usr/bin/env bash
# `make run`: the whole system on this machine — a host and $MEMBERS member
# kube-apiservers, secretfed behind the host's aggregation layer, every member
# joined with `kubectl secretfed join`, the examples applied and propagated —
# then a short "try this". `make down` stops it. Tools and binaries are built
# by make before this script runs.
#
# PROVIDER=kind (`make run PROVIDER=kind`): the same on three kind clusters
# (hack/kind/bed: the e2e suite's kind provider, secretfed installed from
# artifacts/deploy, members joined at in-network endpoints); steps 2-5 are the
# same. `make down PROVIDER=kind` deletes the clusters.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"
export PATH=$REPO/bin:$PATH
LOCAL_DIR=${LOCAL_DIR:-$REPO/.local}
PROVIDER=${PROVIDER:-local}
STEPS=5
STOP="make down"
[[ $PROVIDER == kind ]] && STOP="make down PROVIDER=kind"
step() { echo "[run $1/$STEPS] $2"; }
fail() {
	echo "[run] ERROR: $1" >&2
	[[ -n ${2:-} ]] && echo "[run] likely cause: $2" >&2
	if [[ $PROVIDER == kind ]]; then
		echo "[run] logs: ${E2E_KIND_DIR:-$REPO/_output/kind-run}/logs/ and kubectl -n secretfed-system logs secretfed-apiserver-0; remove with: $STOP" >&2
	else
		echo "[run] logs: $LOCAL_DIR/logs/ (secretfed.log, host.log, member*.log); stop with: $STOP" >&2
	fi
	exit 1
}

if [[ $PROVIDER == kind ]]; then
	step 1 "creating the host and member kind clusters, installing secretfed from artifacts/deploy (go run ./hack/kind/bed up)"
	env_file=$(go run ./hack/kind/bed up) || fail "the kind bed did not come up" "see the [kind] lines above"
	LOGS_HINT="${env_file%/env}/logs/ and: kubectl -n secretfed-system logs secretfed-apiserver-0"
else
	step 1 "starting host, members and secretfed (hack/local-up.sh)"
	LOCAL_DIR=$LOCAL_DIR hack/local-up.sh || fail "the local bed did not come up" "see the message above; a port in use or a failed build"
	env_file=$LOCAL_DIR/env
	LOGS_HINT="$LOCAL_DIR/logs/"
fi
# shellcheck disable=SC1090
source "$env_file"
K=(kubectl --kubeconfig "$KUBECONFIG")

step 2 "joining members with kubectl secretfed join"
i=0
for m in $MEMBER_CONTEXTS; do
	i=$((i + 1))
	labels="env=prod,region=eu"
	((i % 2 == 0)) && labels="env=dev,region=us"
	if "${K[@]}" --context "$HOST_CONTEXT" get federatedcluster "$m" >/dev/null 2>&1; then
		echo "    $m already joined"
		continue
	fi
	kubectl secretfed join "$m" --kubeconfig "$KUBECONFIG" --host-context "$HOST_CONTEXT" --cluster-context "$m" --labels "$labels" ||
		fail "joining $m failed" "the message above names the failing step"
done

step 3 "waiting for the members to become Ready (health probe every 10s)"
deadline=$((SECONDS + 60))
for m in $MEMBER_CONTEXTS; do
	until [[ $("${K[@]}" --context "$HOST_CONTEXT" get fcl "$m" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null) == True ]]; do
		((SECONDS < deadline)) || fail "$m is not Ready after 60s: $("${K[@]}" --context "$HOST_CONTEXT" get fcl "$m" -o jsonpath='{.status.conditions}')" "secretfed cannot reach the member; see secretfed.log"
		sleep 1
	done
done

step 4 "applying artifacts/examples/"
"${K[@]}" --context "$HOST_CONTEXT" apply -f artifacts/examples/ >/dev/null || fail "kubectl apply -f artifacts/examples/ failed"

step 5 "waiting for payments/db-creds to reach every member"
deadline=$((SECONDS + 60))
for m in $MEMBER_CONTEXTS; do
	until "${K[@]}" --context "$m" get secret db-creds -n payments >/dev/null 2>&1; do
		((SECONDS < deadline)) || fail "db-creds did not reach $m within 60s: $("${K[@]}" --context "$HOST_CONTEXT" get fsec db-creds -n payments -o jsonpath='{.status}')" "see secretfed.log"
		sleep 1
	done
done

cat <<EOF

secretfed is up: host + $(wc -w <<<"$MEMBER_CONTEXTS") members, joined, db-creds propagated.

Try this (paste into your shell):

  export KUBECONFIG=$KUBECONFIG PATH=$REPO/bin:\$PATH
  kubectl get federatedclusters                          # members and their health
  kubectl get fsec -n payments                           # NAME TYPE CLUSTERS PROPAGATED AGE
  kubectl --context member1 get secret db-creds -n payments -o jsonpath='{.data.password}' | base64 -d; echo
  kubectl --context member2 get secret db-creds -n payments -o jsonpath='{.data.password}' | base64 -d; echo   # overridden
  kubectl patch fsec db-creds -n payments --type merge -p '{"spec":{"template":{"stringData":{"password":"rotated"}}}}'
  kubectl --context member1 get secret db-creds -n payments -o jsonpath='{.data.password}' | base64 -d; echo   # rotated
  kubectl label fcl member2 env=prod --overwrite        # registry-creds follows the label
  kubectl secretfed status
  kubectl delete fsec db-creds -n payments               # removed from every member

Logs: $LOGS_HINT   Stop: $STOP
EOF
