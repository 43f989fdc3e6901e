# secretfed — see README.md. `make run` brings the whole system up;
# `make test` runs every test. Both install what they need.
SHELL := /usr/bin/env bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

BIN        := $(CURDIR)/bin
GO         ?= go
VERSION    ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS    := -X github.com/secretfed/secretfed/pkg/version.Version=$(VERSION)
GOFLAGS_BUILD := -trimpath -ldflags '$(LDFLAGS)'
PROVIDER   ?= local
E2E_TIMEOUT ?= 40m
# `make run PROVIDER=kind` / `make down PROVIDER=kind`: clusters secretfed-run-*, apart from e2e-kind's secretfed-*.
KIND_RUN_ENV := E2E_KIND_PREFIX=secretfed-run E2E_KIND_DIR=$(CURDIR)/_output/kind-run

export PATH := $(BIN):$(PATH)
# One set of build settings for every go command make runs (vet, tests, binaries) and the tools in
# bin/ (hack/build-tools.sh uses the same): the build cache then compiles each dependency once. With
# cgo on for tests and off for binaries, a cold `make test` compiled k8s.io/apiserver and everything
# under it twice.
export CGO_ENABLED := 0
export GOFLAGS := $(strip $(GOFLAGS) -trimpath)

.PHONY: help
help: ## Show the targets.
	@awk 'BEGIN{FS=":.*## "} /^[a-zA-Z0-9_-]+:.*## /{printf "  %-16s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: build
build: ## Build secretfed-apiserver, kubectl-secretfed and the test KMS plugin into bin/.
	@echo "[build] go build ./cmd/apiserver ./cmd/kubectl-secretfed ./hack/kms-test-plugin -> bin/"
	@mkdir -p $(BIN)
	CGO_ENABLED=0 $(GO) build $(GOFLAGS_BUILD) -o $(BIN)/secretfed-apiserver ./cmd/apiserver
	CGO_ENABLED=0 $(GO) build $(GOFLAGS_BUILD) -o $(BIN)/kubectl-secretfed ./cmd/kubectl-secretfed
	CGO_ENABLED=0 $(GO) build -trimpath -o $(BIN)/kms-test-plugin ./hack/kms-test-plugin

.PHONY: tools
tools: ## Build the pinned kube-apiserver, kubectl, etcd and kind into bin/ (once; cold ~12 min).
	hack/build-tools.sh

.PHONY: codegen
codegen: ## Regenerate deepcopy, conversion, defaults, OpenAPI, clientset, listers, informers.
	hack/update-codegen.sh

.PHONY: verify
verify: ## Check generated code, formatting and go vet.
	hack/verify-codegen.sh
	@out=$$(gofmt -l cmd pkg test hack); if [[ -n "$$out" ]]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

.PHONY: test-unit
test-unit: ## Unit tests (fakes only) and the fuzz seed corpora.
	$(GO) test ./pkg/... ./cmd/... ./test/e2e/framework/...

.PHONY: test-integration
test-integration: ## The real server in-process on an embedded etcd.
	$(GO) test ./test/integration/...

.PHONY: e2e
e2e: build tools ## End-to-end specs on real clusters (PROVIDER=local by default).
	@mkdir -p _output
	E2E_PROVIDER=$${E2E_PROVIDER:-$(PROVIDER)} $(GO) test ./test/e2e/... -timeout $(E2E_TIMEOUT) -count=1 $(E2E_ARGS)

.PHONY: test
test: verify test-unit test-integration e2e ## Every test: verify, unit, integration and e2e on the local bed.

.PHONY: fuzz
fuzz: ## Run each fuzz target for FUZZTIME (default 30s).
	hack/fuzz.sh $${FUZZTIME:-30s}

.PHONY: kind-node-image
kind-node-image: ## Build the kind node image secretfed/kind-node:v1.37.2 offline (cold ~1 h on 2 cores; skipped when its inputs are unchanged).
	hack/kind/build-node-image.sh

.PHONY: e2e-kind
e2e-kind: kind-node-image tools build ## End-to-end specs on three kind clusters (needs a Docker engine). Not part of `make test`.
	@mkdir -p _output
	E2E_PROVIDER=kind $(GO) test ./test/e2e/... -timeout $(E2E_TIMEOUT) -count=1 -v $(E2E_ARGS)

.PHONY: run
run: tools build ## Bring up host + members + secretfed, join members, propagate an example (PROVIDER=kind: on kind clusters).
ifeq ($(PROVIDER),kind)
	$(MAKE) kind-node-image
	$(KIND_RUN_ENV) PROVIDER=kind hack/run.sh
else
	hack/run.sh
endif

.PHONY: down
down: ## Stop everything `make run` started (PROVIDER=kind: delete its kind clusters).
ifeq ($(PROVIDER),kind)
	$(KIND_RUN_ENV) $(GO) run ./hack/kind/bed down
else
	hack/local-down.sh
endif

.PHONY: bench
bench: tools build ## Benchmarks on a local bed with 3 members -> bench/REPORT.md (BENCH_SCALE=0.1 for a quick run; BENCH_ARGS=-h). Not part of `make test`.
	cd bench && $(GO) run -mod=mod . $(BENCH_ARGS)

.PHONY: clean
clean: ## Remove build output (keeps bin/ tools).
	rm -rf _output $(BIN)/secretfed-apiserver $(BIN)/kubectl-secretfed $(BIN)/kms-test-plugin
