#!/usr/bin/env bash
# Builds the secretfed-apiserver container image from a static binary.
#
#   hack/build-image.sh                 # go build bin/secretfed-apiserver, then docker build -t $IMAGE .
#   IMAGE=registry.example/secretfed-apiserver:v0.1.0 hack/build-image.sh
#   SKIP_BUILD=1 hack/build-image.sh    # reuse bin/secretfed-apiserver (must be static)
#
# The Dockerfile is FROM scratch around bin/secretfed-apiserver because no
# builder image can be pulled on the project's machines; the binary is built
# here exactly as `make build` builds it (same flags, CGO_ENABLED=0), so the
# image and a local run execute the same program.
#
# Environment: IMAGE (default secretfed-apiserver:dev), VERSION (default
# `git describe`), GO (default go), DOCKER (default docker), SKIP_BUILD.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"

IMAGE=${IMAGE:-secretfed-apiserver:dev}
GO=${GO:-go}
DOCKER=${DOCKER:-docker}
VERSION=${VERSION:-$(git describe --tags --always --dirty 2>/dev/null || echo dev)}
BIN=bin/secretfed-apiserver

log() { echo "[build-image] $*"; }
die() {
	echo "[build-image] ERROR: $*" >&2
	exit 1
}

command -v "$DOCKER" >/dev/null || die "$DOCKER not found on PATH (a container engine is needed to build the image)"

if [[ ${SKIP_BUILD:-0} != 1 ]]; then
	log "CGO_ENABLED=0 go build ./cmd/apiserver -> $BIN (version $VERSION)"
	t0=$SECONDS
	mkdir -p bin
	CGO_ENABLED=0 "$GO" build -trimpath \
		-ldflags "-s -w -X github.com/secretfed/secretfed/pkg/version.Version=$VERSION" \
		-o "$BIN" ./cmd/apiserver
	log "go build took $((SECONDS - t0))s"
fi
[[ -x $BIN ]] || die "$BIN is missing: run without SKIP_BUILD=1 or 'make build'"
# FROM scratch has no libc: a cgo build would fail at exec with a confusing "no such file".
if "$GO" version -m "$BIN" 2>/dev/null | grep -q 'CGO_ENABLED=1'; then
	die "$BIN was built with cgo; rebuild with CGO_ENABLED=0 (drop SKIP_BUILD=1)"
fi

log "$DOCKER build -t $IMAGE ."
t0=$SECONDS
"$DOCKER" build -t "$IMAGE" --label "org.opencontainers.image.version=$VERSION" \
	--label "org.opencontainers.image.source=https://github.com/secretfed/secretfed" .
log "docker build took $((SECONDS - t0))s; image $IMAGE: $("$DOCKER" image inspect -f '{{.Size}}' "$IMAGE" | awk '{printf "%.1f MiB", $1/1048576}')"
