#!/usr/bin/env bash
# Installs the operator's build tools into .cache/bin from the Go module proxy, each pinned and reused
# while its reported version matches: controller-gen (CRDs, RBAC, deepcopy), helm and kustomize (the
# chart and manifest tests). Usage: hack/install-operator-tools.sh [controller-gen|helm|kustomize]...
set -euo pipefail

CONTROLLER_GEN_VERSION="${CONTROLLER_GEN_VERSION:-v0.23.0}"
HELM_VERSION="${HELM_VERSION:-v3.19.0}"
KUSTOMIZE_VERSION="${KUSTOMIZE_VERSION:-v5.7.1}"
# The Kubernetes version helm assumes for `helm template` and lint (its release builds set it the same way).
HELM_KUBE_MINOR="${HELM_KUBE_MINOR:-34}"

root="$(cd "$(dirname "$0")/.." && pwd)"
bin="${root}/.cache/bin"
mkdir -p "${bin}"
start=$(date +%s)
step() { printf '[operator-tools %4ss] %s\n' "$(( $(date +%s) - start ))" "$*"; }

# go install outside the repository's module, with none of the repository's build flags.
install() {
  (cd "${bin}" && GOFLAGS= GOWORK=off GOBIN="${bin}" go install "$@")
}

controller_gen() {
  if "${bin}/controller-gen" --version 2>/dev/null | grep -qx "Version: ${CONTROLLER_GEN_VERSION}"; then
    return
  fi
  step "building controller-gen ${CONTROLLER_GEN_VERSION}"
  install "sigs.k8s.io/controller-tools/cmd/controller-gen@${CONTROLLER_GEN_VERSION}"
}

helm() {
  if [ "$("${bin}/helm" version --template '{{.Version}}' 2>/dev/null)" = "${HELM_VERSION}" ]; then
    return
  fi
  step "building helm ${HELM_VERSION} (first run only: about 2 minutes)"
  install -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=${HELM_VERSION} \
    -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=${HELM_KUBE_MINOR} \
    -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=${HELM_KUBE_MINOR}" \
    "helm.sh/helm/v3/cmd/helm@${HELM_VERSION}"
}

kustomize() {
  if [ "$("${bin}/kustomize" version 2>/dev/null)" = "${KUSTOMIZE_VERSION}" ]; then
    return
  fi
  step "building kustomize ${KUSTOMIZE_VERSION}"
  install "sigs.k8s.io/kustomize/kustomize/v5@${KUSTOMIZE_VERSION}"
}

tools=("$@")
[ ${#tools[@]} -gt 0 ] || tools=(controller-gen helm kustomize)
for tool in "${tools[@]}"; do
  case "${tool}" in
    controller-gen) controller_gen ;;
    helm) helm ;;
    kustomize) kustomize ;;
    *) echo "unknown tool ${tool}" >&2; exit 2 ;;
  esac
done
