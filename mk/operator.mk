# Operator: the controller-runtime adapter over extensions.Translate, its CRD/RBAC generation, the Helm
# chart and kustomize manifests, tests against a real kube-apiserver + etcd, the scale benchmark and
# the live demo.
# The operator binary links the Hyperscan compatibility checker (cgo).
APT_PACKAGES  += libhyperscan-dev libre2-dev
TEST_TARGETS  += test-operator
BENCH_TARGETS += bench-operator
DEMO_TARGET   := demo-live

OPERATOR_PKGS := ./operator/... ./cmd/meshaccel-operator/...

.PHONY: test-operator bench-operator demo-live manifests operator-tools controlplane

controlplane: ## Build (once) the local kube-apiserver and etcd the operator tests and demo run.
	@hack/install-controlplane.sh

operator-tools: ## Build (once) controller-gen, helm and kustomize into .cache/bin.
	@hack/install-operator-tools.sh

manifests: operator-tools ## Regenerate deepcopy, the CRD, RBAC and the chart's copies from Go markers.
	hack/generate-operator.sh

test-operator: deps controlplane operator-tools ## Operator tests against a real API server, chart and manifest checks, gen-check.
	@hack/gen-check.sh
	KUBEBUILDER_ASSETS=$(BIN) $(GO) test -count=1 -p 1 $(OPERATOR_PKGS)

bench-operator: deps controlplane ## 1,000 nodes, 10,000 pods, 2,000 workloads against a real API server (a few minutes).
	KUBEBUILDER_ASSETS=$(BIN) $(GO) test -count=1 -run '^$$' -bench OperatorAtScale -benchtime 1x -timeout 60m ./benchmarks/operator/

demo-live: deps controlplane ## The operator on a local control plane: example cluster, policies, a node losing a capability.
	@$(GO) run ./cmd/meshaccel-operator demo
