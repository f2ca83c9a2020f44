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

{{/* The operator's client-certificate Secret: mtls.existingSecret, else <fullname>-tls (made by the chart or cert-manager). */}}
{{- define "tinyflow-operator.tlsSecretName" -}}
{{- default (printf "%s-tls" (include "tinyflow-operator.fullname" .)) .Values.mtls.existingSecret }}
{{- end }}

{{/* Whether the chart makes the CA and the client certificate itself (genCA), as "true" or "". */}}
{{- define "tinyflow-operator.generatesTLS" -}}
{{- if and .Values.mtls.enabled (not .Values.certManager.enabled) (not .Values.mtls.existingSecret) }}true{{- end }}
{{- end }}

{{/*
The CA and the operator's client certificate when the chart makes them, as JSON:
{caCrt, caKey, caSha256, renderCA, tlsCrt, tlsKey, notAfter}. Computed once per
render and cached in .Values (every template sees the same certificate).

- The CA comes from the Secret mtls.ca.secretName in the release namespace when
  it exists (never regenerated), else from genCA. renderCA is false when that
  Secret exists but belongs to no release or another release (a CA you created
  yourself): the chart then uses it without managing it.
- The client certificate is the existing Secret's while it was signed by this CA
  (annotation tinyflow.dev/ca-sha256) and expires more than
  mtls.renewBeforeDays from now (annotation tinyflow.dev/not-after); else a new
  one signed with genSignedCert.
Under `helm template` there is no cluster: lookup finds nothing and both are new.
*/}}
{{- define "tinyflow-operator.generatedTLS" -}}
{{- if not (hasKey .Values "tinyflowGeneratedTLS") }}
{{- $namespace := .Release.Namespace }}
{{- $caName := .Values.mtls.ca.secretName }}
{{- $ca := dict }}
{{- $renderCA := true }}
{{- $existingCA := lookup "v1" "Secret" $namespace $caName }}
{{- if $existingCA }}
{{- $data := $existingCA.data | default dict }}
{{- if not (and (hasKey $data "ca.crt") (hasKey $data "ca.key")) }}
{{- fail (printf "mtls: the Secret %s/%s exists but lacks the keys ca.crt and ca.key; delete it to let the chart create a CA, or put your CA's certificate and key there" $namespace $caName) }}
{{- end }}
{{- $ca = buildCustomCert (index $data "ca.crt") (index $data "ca.key") }}
{{- $owner := index ($existingCA.metadata.annotations | default dict) "meta.helm.sh/release-name" | default "" }}
{{- $renderCA = eq $owner .Release.Name }}
{{- else }}
{{- $ca = genCA .Values.mtls.ca.commonName (int .Values.mtls.ca.validityDays) }}
{{- end }}
{{- $caSha := sha256sum $ca.Cert }}
{{- $layout := "2006-01-02T15:04:05Z07:00" }}
{{- $renewBy := now | dateModify (printf "+%dh" (mul 24 (int .Values.mtls.renewBeforeDays))) | unixEpoch | int64 }}
{{- $crt := "" }}
{{- $key := "" }}
{{- $notAfter := "" }}
{{- $existing := lookup "v1" "Secret" $namespace (include "tinyflow-operator.tlsSecretName" .) }}
{{- if $existing }}
{{- $annotations := $existing.metadata.annotations | default dict }}
{{- $data := $existing.data | default dict }}
{{- $existingNotAfter := index $annotations "tinyflow.dev/not-after" | default "" }}
{{- if and (eq (index $annotations "tinyflow.dev/ca-sha256" | default "") $caSha) $existingNotAfter (hasKey $data "tls.crt") (hasKey $data "tls.key") (gt (toDate $layout $existingNotAfter | unixEpoch | int64) $renewBy) }}
{{- $crt = index $data "tls.crt" | b64dec }}
{{- $key = index $data "tls.key" | b64dec }}
{{- $notAfter = $existingNotAfter }}
{{- end }}
{{- end }}
{{- if not $crt }}
{{- $days := int .Values.mtls.validityDays }}
{{- /* operator.tinyflow.dev: the name module hosts require of control calls (--operator-name). */}}
{{- $signed := genSignedCert (include "tinyflow-operator.fullname" .) (list) (list "operator.tinyflow.dev") $days $ca }}
{{- $crt = $signed.Cert }}
{{- $key = $signed.Key }}
{{- $notAfter = dateInZone $layout (now | dateModify (printf "+%dh" (mul 24 $days))) "UTC" }}
{{- end }}
{{- $_ := set .Values "tinyflowGeneratedTLS" (dict "caCrt" $ca.Cert "caKey" $ca.Key "caSha256" $caSha "renderCA" $renderCA "tlsCrt" $crt "tlsKey" $key "notAfter" $notAfter) }}
{{- end }}
{{- index .Values "tinyflowGeneratedTLS" | toJson }}
{{- end }}
