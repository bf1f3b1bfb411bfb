# eBPF TCP/IP bypass: BPF programs and bindings, loader, node agent (always attached, or per node
# from the operator's node list; NFD cgroup v2 feature file), integration tests (root,
# cgroup v2; they skip with the reason elsewhere) and the sidecar-chain benchmark.
# clang/llvm/libbpf-dev rebuild the committed BPF objects (generate-bypass); iptables and
# iproute2 build the Istio-style pod network namespaces the integration tests run in; helm (from
# the operator's tool installer) renders the DaemonSet template.
APT_PACKAGES  += clang llvm libbpf-dev iptables iproute2
TEST_TARGETS  += test-bypass
BENCH_TARGETS += bench-bypass

.PHONY: test-bypass bench-bypass generate-bypass

generate-bypass: deps ## Bypass: rebuild the BPF objects and Go bindings from bypass/bpf/*.c.
	cd bypass && $(GO) generate ./...

test-bypass: deps ## Bypass: unit tests, kernel integration tests, agent and chart template.
	@hack/install-operator-tools.sh helm
	$(GO) test -count=1 -p 1 ./bypass/... ./cmd/meshaccel-bypass/...

BYPASS_BENCH := $(GO) test ./benchmarks/bypass -run '^$$' -bench BenchmarkSidecarChain -benchtime 2s -count 3

bench-bypass: deps ## Bypass: sidecar chain on loopback, TCP vs bypass; writes benchmarks/bypass/results and its RESULTS.md section.
	@mkdir -p benchmarks/bypass/results
	$(BYPASS_BENCH) | tee benchmarks/bypass/results/bench.txt
	$(GO) run ./benchmarks/bypass/cmd/bypassreport -in benchmarks/bypass/results/bench.txt \
		-results benchmarks/RESULTS.md -plot benchmarks/bypass/results/chain.png -command "$(BYPASS_BENCH)"
