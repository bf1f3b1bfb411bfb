# Hyperscan: regex compatibility checker, route-table matcher, RBAC matcher rendering and the
# `meshaccel regex` commands. libre2-dev supplies the RE2 program size Envoy limits.
APT_PACKAGES  += libhyperscan-dev libre2-dev
TEST_TARGETS  += test-hyperscan
BENCH_TARGETS += bench-hyperscan

HYPERSCAN_BENCH_OUT := $(CACHE)/hyperscan-bench.txt

.PHONY: test-hyperscan bench-hyperscan

test-hyperscan: deps ## Hyperscan checker, matcher, differential and fuzz-seed tests, `meshaccel regex`.
	$(GO) test -count=1 ./hyperscan/... ./benchmarks/hyperscan/...
	$(GO) test -count=1 -run 'Regex' ./internal/cli/

# One run times every table size and engine; the 5,000-rule database is compiled once (~16 s)
# and then loaded from $(CACHE)/hyperscan. -p 1: the machine has 2 cores.
bench-hyperscan: deps ## Route tables of 10-5,000 regexes: Hyperscan vs Go regexp; updates benchmarks/RESULTS.md.
	@mkdir -p $(CACHE)
	MESHACCEL_CACHE=$(CACHE) $(GO) test -p 1 -run '^$$' -bench 'BenchmarkRouteTable' -benchtime 2s -count 1 ./benchmarks/hyperscan/ | tee $(HYPERSCAN_BENCH_OUT)
	$(GO) run ./benchmarks/hyperscan/cmd/hsreport -in $(HYPERSCAN_BENCH_OUT) -results benchmarks/RESULTS.md \
		-plot benchmarks/hyperscan/route-matching.png -plot-link hyperscan/route-matching.png -command 'make bench-hyperscan'
