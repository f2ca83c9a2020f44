{{/* The module name, required. */}}
{{- define "tinyflow-module.module" -}}
{{- required "module is required: the module's name, e.g. --set module=common" .Values.module }}
{{- end }}

{{/* Prefix of every resource name: tinyflow-<module>. */}}
{{- define "tinyflow-module.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 54 | trimSuffix "-" }}
{{- else }}
{{- printf "tinyflow-%s" (include "tinyflow-module.module" .) | trunc 54 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{- define "tinyflow-module.selectorLabels" -}}
app.kubernetes.io/name: tinyflow-module
app.kubernetes.io/instance: {{ .Release.Name }}
tinyflow.dev/module: {{ include "tinyflow-module.module" . }}
{{- end }}

{{- define "tinyflow-module.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "tinyflow-module.selectorLabels" . }}
app.kubernetes.io/version: {{ include "tinyflow-module.version" . | quote }}
app.kubernetes.io/component: module-host
app.kubernetes.io/part-of: tinyflow
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "tinyflow-module.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "tinyflow-module.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "tinyflow-module.image" -}}
{{- $repository := required "image.repository is required: the module-host image, e.g. --set image.repository=ghcr.io/tinyflow/tinyflow-module-host" .Values.image.repository }}
{{- if .Values.image.digest }}
{{- printf "%s@%s" $repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" $repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* spec.version: explicit, else the image tag, else the chart's appVersion. */}}
{{- define "tinyflow-module.version" -}}
{{- .Values.version | default .Values.image.tag | default .Chart.AppVersion }}
{{- end }}

{{/* The in-cluster address of the module's gRPC Service. */}}
{{- define "tinyflow-module.address" -}}
{{- printf "%s.%s.svc:%d" (include "tinyflow-module.fullname" .) .Release.Namespace (int .Values.grpc.port) }}
{{- end }}

{{- define "tinyflow-module.containerSecurityContext" -}}
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
