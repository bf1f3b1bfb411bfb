# meshaccel — every command installs what it needs itself (Debian packages, Go tools, the local
# control plane), idempotently, cached under .cache/.
SHELL := /usr/bin/env bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

GO       ?= go
CACHE    := $(CURDIR)/.cache
BIN      := $(CACHE)/bin
export PATH := $(BIN):$(PATH)
# Hyperscan bindings target the libhyperscan 5.4 that Debian ships.
export GOFLAGS := -tags=hyperscan_v54

# Each area adds its own Debian packages and targets in mk/<area>.mk.
APT_PACKAGES  := pkg-config
TEST_TARGETS  :=
BENCH_TARGETS :=
# The offline demo until an area (the operator) sets a live one.
DEMO_TARGET   := demo-offline
include $(sort $(wildcard mk/*.mk))

.PHONY: help deps build test demo bench lint testdata gen-check fuzz

help: ## Show the targets.
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | sort | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

deps: ## Install the Debian packages the build needs (only the missing ones).
	@hack/apt-install.sh $(sort $(APT_PACKAGES))

build: deps ## Build every command into .cache/bin.
	$(GO) build -o $(BIN)/ ./cmd/...

test: deps $(TEST_TARGETS) ## Run every test (what CI runs).

demo: deps $(DEMO_TARGET) ## The main job: show meshaccel deciding and rendering acceleration.

bench: deps $(BENCH_TARGETS) ## Run the benchmarks and print the tables recorded in benchmarks/RESULTS.md.

lint: ## gofmt and go vet over both modules.
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet ./...
	cd wasm-waf && $(GO) vet ./...

testdata: ## Rewrite golden files from the current translator.
	$(GO) test ./internal/cli/ -run Golden -update

fuzz: ## Run every fuzz target of both modules for FUZZTIME each (default 30s); FUZZ=regexp picks some.
	@FUZZTIME=$(or $(FUZZTIME),30s) hack/fuzz.sh '$(or $(FUZZ),.)'

gen-check: ## Fail when generated files (CRDs, RBAC, deepcopy, bindings) are stale.
	@hack/gen-check.sh
