#!/usr/bin/env bash
# Regenerates every generated file: deepcopy, conversion, defaults, OpenAPI,
# and the clientset, listers, informers and apply configurations under
# pkg/generated. Never edit those files by hand; run this instead.
set -o errexit
set -o nounset
set -o pipefail

SCRIPT_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
cd "${SCRIPT_ROOT}"
THIS_PKG="github.com/secretfed/secretfed"
# The code-generator version is the one pinned by the tool directive in go.mod.
# `go list -m` does not download: on a cold machine fetch the module first.
if [[ -z "${CODEGEN_PKG:-}" ]]; then
    go mod download k8s.io/code-generator
    CODEGEN_PKG="$(go list -m -f '{{.Dir}}' k8s.io/code-generator)"
fi
if [[ ! -f "${CODEGEN_PKG}/kube_codegen.sh" ]]; then
    echo "update-codegen: k8s.io/code-generator not found (CODEGEN_PKG=${CODEGEN_PKG}); is the Go module proxy reachable?" >&2
    exit 1
fi
# Generators are installed into a private GOBIN so nothing leaks onto PATH.
export GOBIN="${SCRIPT_ROOT}/_output/codegen-bin"
mkdir -p "${GOBIN}"

source "${CODEGEN_PKG}/kube_codegen.sh"

kube::codegen::gen_helpers \
    --boilerplate "${SCRIPT_ROOT}/hack/boilerplate.go.txt" \
    "${SCRIPT_ROOT}/pkg/apis"

# gen_openapi fails outside the kubernetes tree without a report file of the
# known API-rule violations.
report_args=(--report-filename "${SCRIPT_ROOT}/hack/api-rules/violation_exceptions.list")
if [[ "${UPDATE_API_KNOWN_VIOLATIONS:-}" == "true" ]]; then
    report_args+=(--update-report)
fi
kube::codegen::gen_openapi \
    --output-dir "${SCRIPT_ROOT}/pkg/generated/openapi" \
    --output-pkg "${THIS_PKG}/pkg/generated/openapi" \
    --output-model-name-file "zz_generated.model_name.go" \
    "${report_args[@]}" \
    --boilerplate "${SCRIPT_ROOT}/hack/boilerplate.go.txt" \
    "${SCRIPT_ROOT}/pkg/apis"

kube::codegen::gen_client \
    --with-watch \
    --with-applyconfig \
    --applyconfig-openapi-schema <(go run "${THIS_PKG}/hack/models-schema") \
    --output-dir "${SCRIPT_ROOT}/pkg/generated" \
    --output-pkg "${THIS_PKG}/pkg/generated" \
    --boilerplate "${SCRIPT_ROOT}/hack/boilerplate.go.txt" \
    "${SCRIPT_ROOT}/pkg/apis"
