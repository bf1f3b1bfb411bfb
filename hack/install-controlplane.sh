#!/usr/bin/env bash
# Builds the local control plane used by the operator tests and `make demo`: kube-apiserver from the
# k8s.io/kubernetes Go module and etcd from the etcd server module. Both come from the Go module proxy
# (there is no setup-envtest download here). Binaries are cached under .cache/bin and reused when their
# --version matches, so only the first run on a machine pays the build (about 10 minutes on 2 cores).
set -euo pipefail

KUBE_VERSION="${KUBE_VERSION:-v1.36.3}"
ETCD_VERSION="${ETCD_VERSION:-v3.6.5}"
root="$(cd "$(dirname "$0")/.." && pwd)"
# The throwaway build modules live under the repository, whose go.work must not claim them, and the
# repository's build tags do not apply to them.
export GOWORK=off GOFLAGS=
bin="${root}/.cache/bin"
work="${root}/.cache/controlplane-build"
mkdir -p "${bin}" "${work}"
# Two make runs at once would build into the same temporary files: take turns.
exec 9>"${work}/.lock"
flock 9

start=$(date +%s)
step() { printf '[controlplane %4ss] %s\n' "$(( $(date +%s) - start ))" "$*"; }

# Prints a dot every 15 s while a long build runs, so the terminal never looks stuck.
with_progress() {
  "$@" &
  local pid=$!
  while kill -0 "${pid}" 2>/dev/null; do
    sleep 15
    kill -0 "${pid}" 2>/dev/null && step "  ... still building ($*)"
  done
  wait "${pid}"
}

staging_minor="v0.${KUBE_VERSION#v1.}"

build_kube_apiserver() {
  if [ -x "${bin}/kube-apiserver" ] && "${bin}/kube-apiserver" --version 2>/dev/null | grep -qx "Kubernetes ${KUBE_VERSION}"; then
    step "kube-apiserver ${KUBE_VERSION} cached"
    return
  fi
  step "building kube-apiserver ${KUBE_VERSION} from the Go module proxy (first run only: ~10 min on 2 cores)"
  local dir="${work}/kube-apiserver"
  mkdir -p "${dir}"
  local upstream_mod
  upstream_mod="$(cd "${dir}" && GOFLAGS=-mod=mod go mod download -json "k8s.io/kubernetes@${KUBE_VERSION}" | sed -n 's/.*"GoMod": "\(.*\)",/\1/p')"
  {
    echo "module meshaccel.local/kube-apiserver-build"
    grep -E '^go [0-9]' "${upstream_mod}"
    grep -E '^godebug ' "${upstream_mod}" || true
    echo "require k8s.io/kubernetes ${KUBE_VERSION}"
    echo "replace ("
    # Every staging module that kubernetes replaces with ./staging/... is pinned to its released tag.
    sed -n 's#^[[:space:]]*\(k8s\.io/[^ ]*\) => \./staging/.*#\t\1 => \1 '"${staging_minor}"'#p' "${upstream_mod}"
    echo ")"
  } > "${dir}/go.mod"
  cat > "${dir}/tools.go" <<'GO'
//go:build tools

package tools

import _ "k8s.io/kubernetes/cmd/kube-apiserver"
GO
  (cd "${dir}" && with_progress go build -mod=mod -trimpath \
    -ldflags "-s -w -X k8s.io/component-base/version.gitVersion=${KUBE_VERSION}" \
    -o "${bin}/kube-apiserver.tmp" k8s.io/kubernetes/cmd/kube-apiserver)
  mv "${bin}/kube-apiserver.tmp" "${bin}/kube-apiserver"
  step "kube-apiserver $("${bin}/kube-apiserver" --version)"
}

build_etcd() {
  if [ -x "${bin}/etcd" ] && "${bin}/etcd" --version 2>/dev/null | grep -q "etcd Version: ${ETCD_VERSION#v}"; then
    step "etcd ${ETCD_VERSION} cached"
    return
  fi
  step "building etcd ${ETCD_VERSION} from the Go module proxy (first run only: ~2 min)"
  local dir="${work}/etcd"
  mkdir -p "${dir}"
  cat > "${dir}/go.mod" <<GOMOD
module meshaccel.local/etcd-build

go 1.24

require go.etcd.io/etcd/server/v3 ${ETCD_VERSION}
GOMOD
  cat > "${dir}/tools.go" <<'GO'
//go:build tools

package tools

import _ "go.etcd.io/etcd/server/v3"
GO
  (cd "${dir}" && with_progress go build -mod=mod -trimpath -ldflags "-s -w" -o "${bin}/etcd.tmp" go.etcd.io/etcd/server/v3)
  mv "${bin}/etcd.tmp" "${bin}/etcd"
  step "$("${bin}/etcd" --version | head -1)"
}

build_etcd
build_kube_apiserver
step "control plane ready in ${bin}"
