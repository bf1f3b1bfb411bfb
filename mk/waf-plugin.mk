# WAF proxy-wasm plugin: plugin.wasm (wasip1), its wazero host for tests and measurements, the
# Istio OCI image, and the OWASP CRS regression run through the compiled module.
TEST_TARGETS  += test-waf-plugin
BENCH_TARGETS += bench-waf-plugin

WAF_MODULE         := wasm-waf
WASM_CACHE         := $(CACHE)/wasm
WASM_PLUGIN        := $(WASM_CACHE)/plugin.wasm
WASM_PLUGIN_CORAZA := $(WASM_CACHE)/plugin-coraza.wasm
WASM_IMAGE_DIR     := $(CACHE)/wasm-image
WASM_GO_SOURCES    := $(shell find $(WAF_MODULE) -name '*.go' -not -name '*_test.go' 2>/dev/null) \
	$(WAF_MODULE)/go.mod $(WAF_MODULE)/go.sum
# A CPU profile of the engine's native benchmarks (make wasm-pgo): the Go compiler inlines the
# calls it finds hot, and every call costs Envoy's interpreter. Go picks it up from the main
# package (-pgo=auto).
WASM_PGO           := $(WAF_MODULE)/plugin/default.pgo
# The wasip1 build must not inherit native-only tags from the Makefile's GOFLAGS.
WASM_GO            := cd $(WAF_MODULE) && GOFLAGS= GOOS=wasip1 GOARCH=wasm $(GO)

.PHONY: wasm-plugin wasm-pgo wasm-plugin-coraza wasm-image test-waf-plugin test-waf-plugin-coraza bench-waf-plugin bench-waf-floors

wasm-plugin: $(WASM_PLUGIN) ## Build the WAF plugin (meshaccel engine, embedded CRS) into .cache/wasm/plugin.wasm.

$(WASM_PLUGIN): $(WASM_GO_SOURCES) $(WASM_PGO)
	@mkdir -p $(WASM_CACHE)
	cd $(WAF_MODULE)/plugin && GOFLAGS= $(GO) generate ./
	$(WASM_GO) build -buildmode=c-shared -trimpath -pgo=auto -o $@ ./plugin

wasm-pgo: ## Refresh the plugin's profile (wasm-waf/plugin/default.pgo) from the engine's native benchmarks.
	@mkdir -p $(CACHE)
	cd $(WAF_MODULE) && $(GO) test -run '^$$' -bench 'Load/meshaccel-artifact|Request/.*/meshaccel' -benchtime 2s \
		-o $(CACHE)/waf-bench.test -cpuprofile $(CURDIR)/$(WASM_PGO) ./bench/
	@rm -f $(CACHE)/waf-bench.test

wasm-plugin-coraza: $(WASM_PLUGIN_CORAZA) ## Build the same plugin around Coraza v3 + CRS (comparison only).

$(WASM_PLUGIN_CORAZA): $(WASM_GO_SOURCES)
	@mkdir -p $(WASM_CACHE)
	$(WASM_GO) build -buildmode=c-shared -trimpath -pgo=off -tags coraza,no_fs_access -o $@ ./plugin

test-waf-plugin: $(WASM_PLUGIN) ## WAF plugin: behaviour tests natively and as .wasm in wazero, imports, CRS through the .wasm, image.
	cd $(WAF_MODULE) && MESHACCEL_WAF_PLUGIN_WASM=$(WASM_PLUGIN) $(GO) test -count=1 -timeout 20m \
		./plugin/ ./wasmhost/... ./image/ ./cmd/...

test-waf-plugin-coraza: $(WASM_PLUGIN_CORAZA) ## The same plugin tests and CRS run with Coraza v3 linked in (comparison).
	cd $(WAF_MODULE) && MESHACCEL_WAF_PLUGIN_WASM=$(WASM_PLUGIN_CORAZA) $(GO) test -count=1 -timeout 30m \
		-tags coraza,no_fs_access ./plugin/ ./wasmhost/crsftw/

# WASM_IMAGE_PUSH=registry/repository:tag also pushes it.
wasm-image: $(WASM_PLUGIN) ## Package plugin.wasm as the Istio OCI image in .cache/wasm-image/ and print its digest.
	cd $(WAF_MODULE) && $(GO) run ./cmd/wasm-image --wasm $(WASM_PLUGIN) \
		--oci-layout $(WASM_IMAGE_DIR)/layout --tarball $(WASM_IMAGE_DIR)/waf-plugin.tar \
		$(if $(WASM_IMAGE_PUSH),--push $(WASM_IMAGE_PUSH))

# Coraza takes about a second per request interpreted: 100 timed requests per kind keep the run
# under an hour on a 2-core machine.
bench-waf-plugin: $(WASM_PLUGIN) $(WASM_PLUGIN_CORAZA) ## WAF plugin in wazero vs Coraza: latency, configure, memory over 100k requests, call depth; writes benchmarks/waf-wasm/.
	cd $(WAF_MODULE) && $(GO) run ./cmd/waf-wasm-bench -wasm $(WASM_PLUGIN) -coraza $(WASM_PLUGIN_CORAZA) -timed 1000 -coraza-timed 100 \
		-json $(CURDIR)/benchmarks/waf-wasm/results.json | tee $(CURDIR)/benchmarks/waf-wasm/results.md
	$(GO) run ./benchmarks/waf-wasm/plot -in benchmarks/waf-wasm/results.json -out benchmarks/waf-wasm

# The floor under the shell: a plugin with the same SDK that only reads the request (no engine).
WASM_SDK_FLOOR := $(WASM_CACHE)/sdkfloor.wasm

$(WASM_SDK_FLOOR): $(WAF_MODULE)/bench/sdkfloor/main.go $(WAF_MODULE)/go.mod
	@mkdir -p $(WASM_CACHE)
	$(WASM_GO) build -buildmode=c-shared -trimpath -o $@ ./bench/sdkfloor

bench-waf-floors: $(WASM_PLUGIN) $(WASM_SDK_FLOOR) ## What a request costs the interpreter before the CRS: the SDK alone, the shell, parsing plus one pass, CRS 942100 alone (benchmarks/waf-wasm/floors/).
	@echo "== 0-sdk: wasm-waf/bench/sdkfloor, no engine"; \
	(cd $(WAF_MODULE) && $(GO) run ./cmd/waf-wasm-bench -wasm $(WASM_SDK_FLOOR) -crs=false -requests 1000 -timed 500) \
		| grep -E '^\| (plugin|meshaccel, one rule) \| (runtime|interpreter)' || exit 1
	@for f in $(CURDIR)/benchmarks/waf-wasm/floors/*.conf; do \
		echo "== $$(basename $$f)"; \
		(cd $(WAF_MODULE) && $(GO) run ./cmd/waf-wasm-bench -wasm $(WASM_PLUGIN) -crs=false -shell-rules $$f \
			-requests 1000 -timed 500) | grep -E '^\| (plugin|meshaccel, one rule) \| (runtime|interpreter)' || exit 1; \
	done
