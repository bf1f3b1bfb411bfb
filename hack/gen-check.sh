#!/usr/bin/env bash
# Fails when generated files are stale: regenerates them in a temporary copy of the working tree and
# diffs the results against the checkout, so nothing in the checkout is touched.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "${root}"
tmp="$(mktemp -d)"
trap 'rm -rf "${tmp}"' EXIT

# Tracked and new (not ignored) files: what a commit of the current tree would hold.
git ls-files -z --cached --others --exclude-standard | xargs -0 -I{} sh -c 'test -e "{}" && printf "%s\0" "{}"' | tar -C "${root}" --null -T - -cf - | tar -C "${tmp}" -xf -

hack/generate-operator.sh "${tmp}" >/dev/null

generated=(
  api/v1alpha1/zz_generated.deepcopy.go
  deploy/crds
  deploy/rbac
  deploy/helm/meshaccel/crds
  deploy/helm/meshaccel/files
)
status=0
for path in "${generated[@]}"; do
  if ! diff -ru --exclude=kustomization.yaml "${root}/${path}" "${tmp}/${path}"; then
    status=1
  fi
done
if [ "${status}" -ne 0 ]; then
  echo "gen-check: generated files are stale; run 'make manifests' and commit the result" >&2
  exit 1
fi
echo "gen-check: generated files are up to date"
