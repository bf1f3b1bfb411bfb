# Hyperscan: regex compatibility checker, route-table matcher, RBAC matcher rendering and the
# `meshaccel regex` commands. libre2-dev supplies the RE2 program size Envoy limits.
APT_PACKAGES  += libhyperscan-dev libre2-dev
TEST_TARGETS  += test-hyperscan
BENCH_TARGETS += bench-hyperscan

.PHONY: test-hyperscan bench-hyperscan

test-hyperscan: deps ## Hyperscan checker, matcher, differential and fuzz-seed tests, `meshaccel regex`.
	$(GO) test -count=1 ./hyperscan/...
	$(GO) test -count=1 -run 'Regex' ./internal/cli/

bench-hyperscan: deps ## Route tables of 10-5,000 regexes: Hyperscan vs Go regexp; writes benchmarks/hyperscan/results.
	$(GO) run ./benchmarks/hyperscan/cmd/hsbench -cache $(CACHE)/hyperscan -out benchmarks/hyperscan/results
