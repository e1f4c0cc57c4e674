{{/* Names, labels and the environment shared by the chart's templates. */}}

{{- define "aiportal.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* Object names: <fullname>-<component> (50 + 13 characters fit a DNS label). */}}
{{- define "aiportal.hub" -}}{{ include "aiportal.fullname" . }}-hub{{- end -}}
{{- define "aiportal.proxy" -}}{{ include "aiportal.fullname" . }}-proxy{{- end -}}
{{- define "aiportal.proxyApi" -}}{{ include "aiportal.fullname" . }}-proxy-api{{- end -}}
{{- define "aiportal.proxyPublic" -}}{{ include "aiportal.fullname" . }}-proxy-public{{- end -}}
{{- define "aiportal.proxyToken" -}}{{ include "aiportal.fullname" . }}-proxy-token{{- end -}}
{{- define "aiportal.config" -}}{{ include "aiportal.fullname" . }}-config{{- end -}}
{{- define "aiportal.s3Secret" -}}
{{- .Values.storage.existingSecret | default (printf "%s-s3" (include "aiportal.fullname" .)) -}}
{{- end -}}

{{/*
The variables Kubernetes injects into pods for a Service of the same namespace:
<NAME>_SERVICE_HOST / <NAME>_SERVICE_PORT. The cluster may have no DNS, so pods reach
the hub and the proxy API at these cluster IPs ($(VAR) expansion in env and args).
*/}}
{{- define "aiportal.serviceVar" -}}{{ . | upper | replace "-" "_" }}_SERVICE{{- end -}}

{{- define "aiportal.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{- define "aiportal.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/* Selector labels of one component: call with (list $ "hub"). */}}
{{- define "aiportal.selector" -}}
app.kubernetes.io/name: {{ (index . 0).Chart.Name }}
app.kubernetes.io/instance: {{ (index . 0).Release.Name }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end -}}

{{- define "aiportal.componentLabels" -}}
{{ include "aiportal.labels" (index . 0) }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end -}}

{{- define "aiportal.pullSecrets" -}}
{{- with .Values.image.pullSecrets }}
imagePullSecrets:
{{- range . }}
  - name: {{ . }}
{{- end }}
{{- end }}
{{- end -}}

{{/* Non-root pods: the image's user (uid 1000) owns the data volume through fsGroup. */}}
{{- define "aiportal.podSecurity" -}}
securityContext:
  runAsNonRoot: true
  runAsUser: 1000
  runAsGroup: 1000
  fsGroup: 1000
  seccompProfile:
    type: RuntimeDefault
{{- end -}}

{{- define "aiportal.containerSecurity" -}}
securityContext:
  allowPrivilegeEscalation: false
  capabilities:
    drop: [ALL]
{{- end -}}
