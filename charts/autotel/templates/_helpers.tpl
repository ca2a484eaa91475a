{{/*
Object names are fixed rather than derived from the release name: the CRD and
the webhook configurations are cluster-wide, so one autotel per cluster is the
only meaningful install, and the operator's defaults and the autotel CLI
expect these names.
*/}}
{{- define "autotel.operator.name" -}}autotel-operator{{- end }}
{{- define "autotel.webhook.service" -}}autotel-webhook{{- end }}
{{- define "autotel.webhook.secret" -}}autotel-webhook-cert{{- end }}
{{- define "autotel.webhook.certificate" -}}autotel-webhook{{- end }}
{{- define "autotel.webhook.issuer" -}}autotel-selfsigned{{- end }}
{{- define "autotel.webhook.mutating" -}}autotel-mutating-webhook-configuration{{- end }}
{{- define "autotel.webhook.validating" -}}autotel-validating-webhook-configuration{{- end }}
{{- define "autotel.collector.name" -}}autotel-collector{{- end }}
{{- define "autotel.certDir" -}}/var/run/autotel/webhook-certs{{- end }}

{{- define "autotel.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/part-of: autotel
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "autotel.operator.selectorLabels" -}}
app.kubernetes.io/name: autotel-operator
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "autotel.operator.labels" -}}
{{ include "autotel.labels" . }}
{{ include "autotel.operator.selectorLabels" . }}
app.kubernetes.io/component: operator
{{- end }}

{{- define "autotel.collector.selectorLabels" -}}
app.kubernetes.io/name: autotel-collector
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "autotel.collector.labels" -}}
{{ include "autotel.labels" . }}
{{ include "autotel.collector.selectorLabels" . }}
app.kubernetes.io/component: collector
{{- end }}

{{/* repository:tag, or repository@digest when a digest is given. */}}
{{- define "autotel.image" -}}
{{- if .image.digest -}}
{{ .image.repository }}@{{ .image.digest }}
{{- else -}}
{{ .image.repository }}:{{ .image.tag | default .appVersion }}
{{- end -}}
{{- end }}

{{/*
"true" when the collector is installed, else "". An unset collector.enabled
follows `mode`, because every values file written for the upstream collector
chart sets mode (that chart refuses to render without it).
*/}}
{{- define "autotel.collector.enabled" -}}
{{- $e := .Values.collector.enabled -}}
{{- if kindIs "bool" $e -}}
{{- if $e }}true{{ end -}}
{{- else if kindIs "invalid" $e -}}
{{- if .Values.mode }}true{{ end -}}
{{- else -}}
{{- fail (printf "collector.enabled must be true, false or unset, not %v" $e) -}}
{{- end -}}
{{- end }}

{{- define "autotel.collector.mode" -}}
{{- $mode := .Values.mode | default "daemonset" -}}
{{- if not (has $mode (list "daemonset" "deployment")) -}}
{{- fail (printf "mode %q is not supported: use daemonset or deployment" $mode) -}}
{{- end -}}
{{- $mode -}}
{{- end }}
