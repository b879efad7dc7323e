{{/*
Hand-written helpers of the chart; the other templates are generated from manifests/
(npm run chart:sync).
*/}}

{{/*
Name of every object: the release name when it contains the chart name (so `helm install
cri-migrator` gives the names of manifests/), else RELEASE-cri-migrator; fullnameOverride wins.
*/}}
{{- define "cri-migrator.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* Labels added to every object's metadata (selectors keep app.kubernetes.io/name only). */}}
{{- define "cri-migrator.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/*
The config file: values.config with smoke.namespace set to the release namespace, the one
namespace where the Role allows the smoke pod.
*/}}
{{- define "cri-migrator.config" -}}
{{- $config := deepCopy (.Values.config | default dict) -}}
{{- $smoke := get $config "smoke" | default dict -}}
{{- $_ := set $smoke "namespace" .Release.Namespace -}}
{{- $_ = set $config "smoke" $smoke -}}
{{- toYaml $config -}}
{{- end -}}
