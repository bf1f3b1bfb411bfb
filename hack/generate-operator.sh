#!/usr/bin/env bash
# Generates the operator's derived files from Go markers and keeps the Helm chart's copies in step:
#   api/v1alpha1/zz_generated.deepcopy.go    deepcopy functions        (controller-gen object)
#   deploy/crds/                             the AccelerationPolicy CRD (controller-gen crd)
#   deploy/rbac/role.yaml                    least-privilege RBAC      (controller-gen rbac, operator/rbac.go)
#   deploy/helm/meshaccel/crds, files/       copies the chart packages (Helm reads only its own directory)
# Usage: hack/generate-operator.sh [repository root, default: this checkout]
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
root="${1:-${here}}"
controller_gen="${CONTROLLER_GEN:-${here}/.cache/bin/controller-gen}"
cd "${root}"
# Markers are read from source; build tags for cgo-only packages do not matter here.
export GOFLAGS=
"${controller_gen}" object paths=./api/... crd:crdVersions=v1 paths=./api/... output:crd:artifacts:config=deploy/crds
"${controller_gen}" rbac:roleName=meshaccel-operator paths=./operator/... output:rbac:artifacts:config=deploy/rbac
cp deploy/crds/meshaccel.io_accelerationpolicies.yaml deploy/helm/meshaccel/crds/
cp deploy/rbac/role.yaml deploy/helm/meshaccel/files/rbac.yaml
cp deploy/nfd/nodefeaturerules.yaml deploy/helm/meshaccel/files/nodefeaturerules.yaml
