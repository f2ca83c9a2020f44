{{/* Chart name. */}}
{{- define "tinyflow-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name, the prefix of every resource name: release "tinyflow" gives "tinyflow-operator". */}}
{{- define "tinyflow-operator.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains .Release.Name $name }}
{{- $name | trunc 63 | trimSuffix "-" }}
{{- else if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "tinyflow-operator.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "tinyflow-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "tinyflow-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "tinyflow-operator.labels" -}}
helm.sh/chart: {{ include "tinyflow-operator.chart" . }}
{{ include "tinyflow-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: operator
app.kubernetes.io/part-of: tinyflow
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "tinyflow-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "tinyflow-operator.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "tinyflow-operator.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{- define "tinyflow-operator.leaseNamespace" -}}
{{- default .Release.Namespace .Values.leaderElection.namespace }}
{{- end }}

{{/*
The RBAC rules the operator's code uses: exactly `OperatorPermissions.rules`
(Sources/Operator/OperatorPermissions.swift), printed by
`tinyflow operator --print-rbac`. scripts/test_charts.py fails when they differ.
*/}}
{{- define "tinyflow-operator.rules" -}}
- apiGroups: ["tinyflow.dev"]
  resources: ["tinynodes", "tinymodules", "tinyflows", "tinysignals"]
  verbs: ["get", "list", "watch", "create", "update", "patch", "delete"]
- apiGroups: ["tinyflow.dev"]
  resources: ["tinynodes/status", "tinymodules/status", "tinyflows/status", "tinysignals/status"]
  verbs: ["get", "update", "patch"]
- apiGroups: ["tinyflow.dev"]
  resources: ["tinynodes/finalizers", "tinyflows/finalizers"]
  verbs: ["update"]
{{ include "tinyflow-operator.leaseRules" . }}
- apiGroups: ["events.k8s.io"]
  resources: ["events"]
  verbs: ["create", "patch"]
{{- end }}

{{/* The Lease rule alone: what the lease namespace needs when it is not watched. */}}
{{- define "tinyflow-operator.leaseRules" -}}
- apiGroups: ["coordination.k8s.io"]
  resources: ["leases"]
  verbs: ["get", "create", "update"]
{{- end }}

{{/* Restricted container security context, the same for every container. */}}
{{- define "tinyflow-operator.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
{{- with .Values.runAsUser }}
runAsUser: {{ . }}
{{- end }}
{{- with .Values.runAsGroup }}
runAsGroup: {{ . }}
{{- end }}
capabilities:
  drop: ["ALL"]
seccompProfile:
  type: RuntimeDefault
{{- end }}
