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

{{/*
Where the host's TLS certificate comes from, in this order: "secret" (tls.secretName,
yours), "cert-manager" (certManager.enabled: a Certificate), "chart" (signed by the
chart with the operator chart's CA); "" when tls.enabled is false.
*/}}
{{- define "tinyflow-module.tlsSource" -}}
{{- if .Values.tls.enabled }}
{{- if .Values.tls.secretName }}secret{{ else if .Values.certManager.enabled }}cert-manager{{ else }}chart{{ end }}
{{- end }}
{{- end }}

{{/* The Secret mounted at /etc/tinyflow/tls: tls.secretName, else <fullname>-tls. */}}
{{- define "tinyflow-module.tlsSecretName" -}}
{{- default (printf "%s-tls" (include "tinyflow-module.fullname" .)) .Values.tls.secretName }}
{{- end }}

{{/* The names the host's certificate carries: its Services (hostnames are not verified: pods are dialled by IP). */}}
{{- define "tinyflow-module.dnsNames" -}}
{{- $fullname := include "tinyflow-module.fullname" . }}
{{- $ns := .Release.Namespace }}
{{- list $fullname (printf "%s.%s" $fullname $ns) (printf "%s.%s.svc" $fullname $ns) (printf "%s-headless.%s.svc" $fullname $ns) | toJson }}
{{- end }}

{{/*
The host's certificate when the chart signs it (tlsSource "chart"), as JSON
{caCrt, tlsCrt, tlsKey, caSha256, notAfter, throwaway}; computed once per render
and cached in .Values.

The CA is the operator chart's: the Secret tls.ca.secretName (keys ca.crt, ca.key)
in tls.ca.namespace, read with lookup. Talking to a cluster (the kube-system
Namespace is found) without that Secret fails with what to do. Under `helm
template` there is no cluster: a throwaway CA (genCA) signs a throwaway
certificate, so the templates render and can be tested.
The certificate is the existing Secret's while it was signed by that CA
(annotation tinyflow.dev/ca-sha256) and expires more than tls.renewBeforeDays
from now (annotation tinyflow.dev/not-after); else a new one (genSignedCert).
*/}}
{{- define "tinyflow-module.generatedTLS" -}}
{{- if not (hasKey .Values "tinyflowGeneratedTLS") }}
{{- $caNamespace := .Values.tls.ca.namespace }}
{{- $caName := .Values.tls.ca.secretName }}
{{- $ca := dict }}
{{- $throwaway := false }}
{{- $caSecret := lookup "v1" "Secret" $caNamespace $caName }}
{{- if $caSecret }}
{{- $data := $caSecret.data | default dict }}
{{- if not (and (hasKey $data "ca.crt") (hasKey $data "ca.key")) }}
{{- fail (printf "tls: the CA Secret %s/%s lacks the keys ca.crt and ca.key (is it the tinyflow-operator chart's CA?). Set tls.ca.namespace/tls.ca.secretName to the operator chart's CA, or tls.secretName to a Secret of your own, or certManager.enabled=true" $caNamespace $caName) }}
{{- end }}
{{- $ca = buildCustomCert (index $data "ca.crt") (index $data "ca.key") }}
{{- else if lookup "v1" "Namespace" "" "kube-system" }}
{{- fail (printf "tls: the CA Secret %s/%s of the tinyflow-operator chart was not found. Install the operator chart first (helm install tinyflow charts/tinyflow-operator -n %s), or point tls.ca.namespace/tls.ca.secretName at its CA, or set tls.secretName to a Secret of your own, or certManager.enabled=true" $caNamespace $caName $caNamespace) }}
{{- else }}
{{- $ca = genCA "tinyflow-template-ca" 1 }}
{{- $throwaway = true }}
{{- end }}
{{- $caSha := sha256sum $ca.Cert }}
{{- $layout := "2006-01-02T15:04:05Z07:00" }}
{{- $renewBy := now | dateModify (printf "+%dh" (mul 24 (int .Values.tls.renewBeforeDays))) | unixEpoch | int64 }}
{{- $crt := "" }}
{{- $key := "" }}
{{- $notAfter := "" }}
{{- $existing := lookup "v1" "Secret" .Release.Namespace (include "tinyflow-module.tlsSecretName" .) }}
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
{{- $fullname := include "tinyflow-module.fullname" . }}
{{- $days := int .Values.tls.validityDays }}
{{- $signed := genSignedCert (printf "%s.%s.svc" $fullname .Release.Namespace) (list) (include "tinyflow-module.dnsNames" . | fromJsonArray) $days $ca }}
{{- $crt = $signed.Cert }}
{{- $key = $signed.Key }}
{{- $notAfter = dateInZone $layout (now | dateModify (printf "+%dh" (mul 24 $days))) "UTC" }}
{{- end }}
{{- $_ := set .Values "tinyflowGeneratedTLS" (dict "caCrt" $ca.Cert "caSha256" $caSha "tlsCrt" $crt "tlsKey" $key "notAfter" $notAfter "throwaway" $throwaway) }}
{{- end }}
{{- index .Values "tinyflowGeneratedTLS" | toJson }}
{{- end }}
