{{/* Prometheus scraping: annotations for annotation-based scrape configs, and the settings the ServiceMonitor and PodMonitor share. */}}
{{- define "sluice.scrapeAnnotations" -}}
{{- if (.Values.metrics | default dict).scrapeAnnotations -}}
prometheus.io/scrape: "true"
prometheus.io/port: {{ .Values.containerPorts.admin | quote }}
prometheus.io/path: /metrics
{{- end -}}
{{- end -}}

{{/* One scrape endpoint of a ServiceMonitor or PodMonitor; the argument is the monitor's values. */}}
{{- define "sluice.scrapeEndpoint" -}}
path: /metrics
{{- with .interval }}
interval: {{ . }}
{{- end }}
{{- with .scrapeTimeout }}
scrapeTimeout: {{ . }}
{{- end }}
{{- with .relabelings }}
relabelings:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .metricRelabelings }}
metricRelabelings:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}
