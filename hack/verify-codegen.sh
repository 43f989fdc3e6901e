#!/usr/bin/env bash
# Fails when a generated file differs from what hack/update-codegen.sh produces.
set -o errexit
set -o nounset
set -o pipefail

SCRIPT_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
TMP="$(mktemp -d -t verify-codegen.XXXXXX)"
trap 'rm -rf "${TMP}"' EXIT

# Work on a copy so a stale tree is reported, not silently fixed.
mkdir -p "${TMP}/src"
(cd "${SCRIPT_ROOT}" && git ls-files -co --exclude-standard -z | xargs -0 cp --parents -t "${TMP}/src")
cp -a "${SCRIPT_ROOT}/_output/codegen-bin" "${TMP}/src/_output/" 2>/dev/null || true
"${TMP}/src/hack/update-codegen.sh"

ret=0
for d in pkg hack/api-rules; do
    diff -Naupr "${SCRIPT_ROOT}/${d}" "${TMP}/src/${d}" || ret=$?
done
if [[ $ret -eq 0 ]]; then
    echo "generated code is up to date"
else
    echo "generated code is out of date: run hack/update-codegen.sh and commit the result" >&2
fi
exit $ret
