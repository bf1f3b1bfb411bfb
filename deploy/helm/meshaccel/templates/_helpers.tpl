{{/* Name of the operator's objects. */}}
{{- define "meshaccel.operatorName" -}}
{{- printf "%s-operator" .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "meshaccel.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "meshaccel.operatorName" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "meshaccel.selectorLabels" -}}
app.kubernetes.io/name: meshaccel
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end -}}

{{- define "meshaccel.labels" -}}
{{ include "meshaccel.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | default .Chart.Version | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end -}}

{{/*
The rules of one generated RBAC object (files/rbac.yaml, a copy of deploy/rbac/role.yaml generated from
the operator's +kubebuilder:rbac markers), so the chart grants exactly what the code declares.
*/}}
{{- define "meshaccel.generatedRules" -}}
{{- $kind := .kind -}}
{{- $rules := list -}}
{{- range (.root.Files.Get "files/rbac.yaml" | splitList "\n---") -}}
{{- $doc := fromYaml . -}}
{{- if and $doc (eq (get $doc "kind") $kind) -}}
{{- $rules = get $doc "rules" -}}
{{- end -}}
{{- end -}}
{{- if not $rules -}}
{{- fail (printf "files/rbac.yaml has no %s: run make manifests" $kind) -}}
{{- end -}}
{{- toYaml $rules -}}
{{- end -}}
