{{/* The release's full name, shared by every object of the chart. */}}
{{- define "kubeless-fastapi.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "kubeless-fastapi.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end -}}

{{- define "kubeless-fastapi.labels" -}}
{{ include "kubeless-fastapi.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "kubeless-fastapi.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "kubeless-fastapi.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* The rules the operator needs; the same for a ClusterRole and for each Role. */}}
{{- define "kubeless-fastapi.rules" -}}
# Watch Functions; the operator never edits a Function's spec or metadata.
- apiGroups: [kubeless.io]
  resources: [functions]
  verbs: [get, list, watch]
# Report what happened in each Function's status.
- apiGroups: [kubeless.io]
  resources: [functions/status]
  verbs: [patch]
# The children, applied server-side (a patch that creates). All objects of these
# kinds are watched, not only the operator's: a name taken by someone else's object
# must be seen, and never applied over. A ConfigMap or Service of a Function that
# a hand edit left beyond repair by apply is deleted and made anew.
- apiGroups: [""]
  resources: [configmaps, services]
  verbs: [get, list, watch, create, patch, delete]
- apiGroups: [apps]
  resources: [deployments]
  verbs: [get, list, watch, create, patch]
# Autoscalers also go away when a Function drops spec.horizontalPodAutoscaler.
- apiGroups: [autoscaling]
  resources: [horizontalpodautoscalers]
  verbs: [get, list, watch, create, patch, delete]
# Events on Functions: invalid source, deployed, ready, conflict.
- apiGroups: [""]
  resources: [events]
  verbs: [create]
{{- end -}}

{{/* Fails the render when two of the operator's listeners share a port: the
     schema checks each port alone, and the operator could not start. */}}
{{- define "kubeless-fastapi.checkPorts" -}}
{{- $ports := dict "health.port" .Values.health.port "metrics.port" .Values.metrics.port -}}
{{- if .Values.webhook.enabled -}}
{{- $_ := set $ports "webhook.port" .Values.webhook.port -}}
{{- end -}}
{{- $seen := dict -}}
{{- range $key := keys $ports | sortAlpha -}}
{{- $port := toString (get $ports $key) -}}
{{- if hasKey $seen $port -}}
{{- fail (printf "%s and %s are both %s; the operator listens on each separately, so give them different ports." (get $seen $port) $key $port) -}}
{{- end -}}
{{- $_ := set $seen $port $key -}}
{{- end -}}
{{- end -}}
