{{/* Chart name, truncated to the 63 characters a label value allows. */}}
{{- define "sluice.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Full name of the release's objects: the release name, prefixed unless it contains the chart name. */}}
{{- define "sluice.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "sluice.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "sluice.selectorLabels" -}}
app.kubernetes.io/name: {{ include "sluice.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "sluice.labels" -}}
helm.sh/chart: {{ include "sluice.chart" . }}
{{ include "sluice.selectorLabels" . }}
app.kubernetes.io/component: load-balancer
{{- if .Chart.AppVersion }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "sluice.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "sluice.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* The namespace of the target Service, where the Role must live. */}}
{{- define "sluice.discoveryNamespace" -}}
{{- default .Release.Namespace .Values.discovery.namespace -}}
{{- end -}}

{{- define "sluice.image" -}}
{{- if not .Values.image.repository -}}
{{- fail "image.repository is required: push the image built from the project's Dockerfile to your registry and set image.repository (no public image is published)" -}}
{{- end -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion (toString .Values.image.tag)) -}}
{{- end -}}
{{- end -}}

{{/* Where the proxy's TLS Secret (and client CA) and the upstream TLS files are mounted. */}}
{{- define "sluice.tlsDir" -}}/etc/sluice/tls{{- end -}}
{{- define "sluice.upstreamTlsDir" -}}/etc/sluice/upstream-tls{{- end -}}

{{/* The proxy port's name on the container, the Service and in the NetworkPolicy. */}}
{{- define "sluice.proxyPortName" -}}
{{- if (.Values.tls | default dict).enabled -}}https{{- else -}}http{{- end -}}
{{- end -}}

{{/* service.appProtocol, refused when it names a cleartext protocol for a TLS-only port. */}}
{{- define "sluice.appProtocol" -}}
{{- $appProtocol := .Values.service.appProtocol | default "" -}}
{{- if and (.Values.tls | default dict).enabled (has $appProtocol (list "kubernetes.io/h2c" "http" "kubernetes.io/http")) -}}
{{- fail (printf "service.appProtocol %s means cleartext, but tls.enabled makes the proxy port TLS only; leave it empty or name a TLS protocol (https)" $appProtocol) -}}
{{- end -}}
{{- $appProtocol -}}
{{- end -}}

{{/* config.yaml's tls block (empty without tls.enabled); fails with a sentence when the Secret is missing. */}}
{{- define "sluice.tlsConfig" -}}
{{- $tls := .Values.tls | default dict -}}
{{- if $tls.enabled -}}
{{- if not $tls.secretName -}}
{{- fail (printf "tls.enabled needs tls.secretName: the name of a kubernetes.io/tls Secret (keys tls.crt and tls.key) in namespace %s, such as one cert-manager writes" .Release.Namespace) -}}
{{- end -}}
{{- $dir := include "sluice.tlsDir" . -}}
{{- $config := dict "cert" (printf "%s/tls.crt" $dir) "key" (printf "%s/tls.key" $dir) "minVersion" ($tls.minVersion | default "TLSv1.2") -}}
{{- if ($tls.clientCA | default dict).enabled -}}
{{- $_ := set $config "clientCA" (printf "%s/ca.crt" $dir) -}}
{{- end -}}
{{- toYaml $config -}}
{{- end -}}
{{- end -}}

{{/* The projected volume with the proxy's certificate, key and client CA (empty without tls.enabled). */}}
{{- define "sluice.tlsVolume" -}}
{{- $tls := .Values.tls | default dict -}}
{{- if $tls.enabled -}}
{{- $clientCA := $tls.clientCA | default dict -}}
- name: tls
  projected:
    sources:
      - secret:
          name: {{ $tls.secretName }}
          items:
            - key: tls.crt
              path: tls.crt
            - key: tls.key
              path: tls.key
      {{- if $clientCA.enabled }}
      - secret:
          name: {{ $clientCA.secretName | default $tls.secretName }}
          items:
            - key: {{ $clientCA.key | default "ca.crt" }}
              path: ca.crt
      {{- end }}
{{- end -}}
{{- end -}}

{{/* config.upstream.tls file paths for what upstreamTls mounts (empty when it mounts nothing). */}}
{{- define "sluice.upstreamTlsConfig" -}}
{{- $up := .Values.upstreamTls | default dict -}}
{{- $ca := $up.ca | default dict -}}
{{- if and $ca.configMap $ca.secret -}}
{{- fail "upstreamTls.ca: set configMap or secret, not both" -}}
{{- end -}}
{{- $user := (((.Values.config | default dict).upstream | default dict).tls | default dict) -}}
{{- $dir := include "sluice.upstreamTlsDir" . -}}
{{- $files := dict -}}
{{- if or $ca.configMap $ca.secret -}}
{{- if $user.ca -}}
{{- fail "config.upstream.tls.ca and upstreamTls.ca both set the backends' CA bundle; keep one" -}}
{{- end -}}
{{- $_ := set $files "ca" (printf "%s/ca.crt" $dir) -}}
{{- end -}}
{{- if $up.clientCertSecret -}}
{{- if or $user.cert $user.key -}}
{{- fail "config.upstream.tls.cert/key and upstreamTls.clientCertSecret both set the client certificate; keep one" -}}
{{- end -}}
{{- $_ := set $files "cert" (printf "%s/tls.crt" $dir) -}}
{{- $_ := set $files "key" (printf "%s/tls.key" $dir) -}}
{{- end -}}
{{- if $files -}}
{{- toYaml $files -}}
{{- end -}}
{{- end -}}

{{/* The projected volume with upstreamTls' CA bundle and client certificate (empty when none is set). */}}
{{- define "sluice.upstreamTlsVolume" -}}
{{- $up := .Values.upstreamTls | default dict -}}
{{- $ca := $up.ca | default dict -}}
{{- if or $ca.configMap $ca.secret $up.clientCertSecret -}}
- name: upstream-tls
  projected:
    sources:
      {{- if $ca.configMap }}
      - configMap:
          name: {{ $ca.configMap }}
          items:
            - key: {{ $ca.key | default "ca.crt" }}
              path: ca.crt
      {{- else if $ca.secret }}
      - secret:
          name: {{ $ca.secret }}
          items:
            - key: {{ $ca.key | default "ca.crt" }}
              path: ca.crt
      {{- end }}
      {{- if $up.clientCertSecret }}
      - secret:
          name: {{ $up.clientCertSecret }}
          items:
            - key: tls.crt
              path: tls.crt
            - key: tls.key
              path: tls.key
      {{- end }}
{{- end -}}
{{- end -}}

{{/* The settings sluice applies only on restart: a change to them rolls the pods. */}}
{{- define "sluice.restartConfig" -}}
{{- $k := dict "service" .Values.discovery.service "namespace" (include "sluice.discoveryNamespace" .) "api" .Values.discovery.api -}}
{{- if ne (toString .Values.discovery.port) "" -}}
{{- $_ := set $k "port" .Values.discovery.port -}}
{{- end -}}
{{- if .Values.discovery.watchdog -}}
{{- $_ := set $k "watchdog" .Values.discovery.watchdog -}}
{{- end -}}
{{- if .Values.discovery.ipFamily -}}
{{- $_ := set $k "ipFamily" .Values.discovery.ipFamily -}}
{{- end -}}
{{- $restart := dict "listen" (printf ":%d" (int .Values.containerPorts.proxy)) "admin" (dict "listen" (printf ":%d" (int .Values.containerPorts.admin))) -}}
{{- if .Values.discovery.enabled -}}
{{- $_ := set $restart "discovery" (dict "kubernetes" $k) -}}
{{- end -}}
{{- with include "sluice.tlsConfig" . -}}
{{- $_ := set $restart "tls" (fromYaml .) -}}
{{- end -}}
{{- toYaml $restart -}}
{{- end -}}

{{/*
The generated config.yaml: .Values.config with listen, admin.listen, discovery, tls and the
upstreamTls file paths added.
Checks here what the schema cannot say in a helpful sentence.
*/}}
{{- define "sluice.config" -}}
{{- $user := .Values.config | default dict -}}
{{- $instead := dict "listen" "containerPorts.*" "admin" "containerPorts.*" "discovery" "discovery.*" "tls" "tls.*" -}}
{{- range $key := list "listen" "admin" "discovery" "tls" -}}
{{- if hasKey $user $key -}}
{{- fail (printf "config.%s is generated by the chart; set %s instead" $key (get $instead $key)) -}}
{{- end -}}
{{- end -}}
{{- if and .Values.discovery.enabled (not .Values.discovery.service) -}}
{{- fail "discovery.service is required: set it to the name of the Service whose pods are the backends (or set discovery.enabled=false and list config.backends)" -}}
{{- end -}}
{{- if and (not .Values.discovery.enabled) (not $user.backends) -}}
{{- fail "no backends: set discovery.service (with discovery.enabled=true) or list config.backends" -}}
{{- end -}}
{{- if eq (int .Values.containerPorts.proxy) (int .Values.containerPorts.admin) -}}
{{- fail "containerPorts.proxy and containerPorts.admin must differ" -}}
{{- end -}}
{{- $generated := include "sluice.restartConfig" . | fromYaml -}}
{{- with include "sluice.upstreamTlsConfig" . -}}
{{- $_ := set $generated "upstream" (dict "tls" (fromYaml .)) -}}
{{- end -}}
{{- toYaml (mustMergeOverwrite (deepCopy $user) $generated) -}}
{{- end -}}

{{/* Milliseconds in a sluice duration string ("5s", "1m30s", "500ms"). */}}
{{- define "sluice.durationMs" -}}
{{- $units := dict "ms" 1.0 "s" 1000.0 "m" 60000.0 "h" 3600000.0 -}}
{{- $total := 0.0 -}}
{{- range $part := regexFindAll "[0-9]+(\\.[0-9]+)?(ms|s|m|h)" (toString .) -1 -}}
{{- $number := regexFind "^[0-9]+(\\.[0-9]+)?" $part -}}
{{- $unit := trimPrefix $number $part -}}
{{- $total = addf $total (mulf (float64 $number) (get $units $unit)) -}}
{{- end -}}
{{- $total -}}
{{- end -}}

{{/* terminationGracePeriodSeconds: given, or shutdown.delay + drainTimeout + 10s. */}}
{{- define "sluice.terminationGracePeriodSeconds" -}}
{{- $shutdown := (.Values.config | default dict).shutdown | default dict -}}
{{- $delayMs := include "sluice.durationMs" (default "0s" $shutdown.delay) | float64 -}}
{{- $drainMs := include "sluice.durationMs" (default "30s" $shutdown.drainTimeout) | float64 -}}
{{- $neededSeconds := divf (addf $delayMs $drainMs) 1000.0 | ceil | int -}}
{{- if kindIs "invalid" .Values.terminationGracePeriodSeconds -}}
{{- add $neededSeconds 10 -}}
{{- else if le (int .Values.terminationGracePeriodSeconds) $neededSeconds -}}
{{- fail (printf "terminationGracePeriodSeconds (%d) must be larger than config.shutdown.delay + config.shutdown.drainTimeout (%ds), or in-flight requests are killed" (int .Values.terminationGracePeriodSeconds) $neededSeconds) -}}
{{- else -}}
{{- int .Values.terminationGracePeriodSeconds -}}
{{- end -}}
{{- end -}}

{{/* A probe from values: drop the chart-only `enabled` key. */}}
{{- define "sluice.probe" -}}
{{- toYaml (omit . "enabled") -}}
{{- end -}}
