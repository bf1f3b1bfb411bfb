# WAF engine: SecLang parser and rule compiler, ruleset artifact, evaluation engine, the OWASP CRS
# regression run (go-ftw against the engine on loopback), the differential test against Coraza,
# evasion tests, fuzz seeds and `meshaccel waf`.
TEST_TARGETS  += test-waf-engine
BENCH_TARGETS += bench-waf-engine

WAF_ENGINE_PACKAGES := ./seclang/... ./ruleset/... ./regexprog/... ./transform/... ./lazydfa/... ./engine/... ./crs/... ./internal/... ./bench/...

.PHONY: test-waf-engine bench-waf-engine

test-waf-engine: ## WAF engine: parser, compiler, engine, CRS regression (>= 95 %), differential vs Coraza, fuzz seeds.
	cd wasm-waf && $(GO) test -count=1 $(WAF_ENGINE_PACKAGES)
	$(GO) test -count=1 -run 'Waf' ./internal/cli/

bench-waf-engine: ## WAF engine vs Coraza v3, full CRS at PL1: load time and per-request cost.
	cd wasm-waf && $(GO) test -run '^$$' -bench . -benchmem -count 1 -timeout 30m ./bench/
