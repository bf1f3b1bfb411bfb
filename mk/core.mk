# Core translation: extensions, feature packages, CLI render/explain, golden files.
APT_PACKAGES  += libhyperscan-dev libre2-dev
TEST_TARGETS  += test-core
BENCH_TARGETS += bench-core

CORE_PACKAGES := ./api/... ./extensions ./extensions/capability/... ./extensions/nodefeatures/... \
	./extensions/keyprovider/... ./extensions/plan/... ./extensions/render/... ./cryptomb/... ./qat/... ./dlb/...

.PHONY: test-core bench-core demo-offline

test-core: ## Core: unit, golden, round-trip and fuzz-seed tests.
	$(GO) test $(CORE_PACKAGES)
	$(GO) test ./internal/cli/ -run 'Golden|RoundTrip|Render|Explain|Fuzz'

bench-core: ## Core: Translate on a generated 5,000-node cluster.
	$(GO) test ./extensions -run '^$$' -bench BenchmarkTranslate -benchmem -benchtime 5x

demo-offline: build ## Offline demo: render and explain the example cluster.
	@echo "== meshaccel render -f examples/cluster.yaml"
	@$(BIN)/meshaccel render -f examples/cluster.yaml
	@echo
	@echo "== meshaccel explain -f examples/cluster.yaml"
	@$(BIN)/meshaccel explain -f examples/cluster.yaml
