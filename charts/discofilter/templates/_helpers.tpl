{{/* Names ---------------------------------------------------------------------------------- */}}
{{- define "discofilter.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "discofilter.fullname" -}}
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

{{- define "discofilter.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "discofilter.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "discofilter.tlsSecretName" -}}
{{- if and (eq .Values.mode "standalone") (eq .Values.tls.source "secret") -}}
{{- required "tls.existingSecret is required when tls.source=secret" .Values.tls.existingSecret -}}
{{- else -}}
{{- printf "%s-tls" (include "discofilter.fullname" .) -}}
{{- end -}}
{{- end -}}

{{- define "discofilter.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/* Namespace of the objects of a mode: sidecar objects live beside istiod. */}}
{{- define "discofilter.namespace" -}}
{{- if eq .Values.mode "sidecar" -}}
{{- .Values.istio.namespace -}}
{{- else -}}
{{- .Release.Namespace -}}
{{- end -}}
{{- end -}}

{{/* Labels ------------------------------------------------------------------------------- */}}
{{- define "discofilter.selectorLabels" -}}
app.kubernetes.io/name: {{ include "discofilter.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "discofilter.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "discofilter.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/component: {{ .Values.mode }}
{{- end -}}

{{/* The listen address: explicit, or by mode. */}}
{{- define "discofilter.listen" -}}
{{- if .Values.config.server.listen -}}
{{- .Values.config.server.listen -}}
{{- else if eq .Values.mode "sidecar" -}}
{{- printf "127.0.0.1:%d" (int .Values.sidecar.port) -}}
{{- else -}}
0.0.0.0:8443
{{- end -}}
{{- end -}}

{{- define "discofilter.listenPort" -}}
{{- include "discofilter.listen" . | splitList ":" | last -}}
{{- end -}}

{{- define "discofilter.adminPort" -}}
{{- .Values.admin.listen | splitList ":" | last -}}
{{- end -}}

{{- define "discofilter.adminGrpcPort" -}}
{{- .Values.admin.grpcListen | splitList ":" | last -}}
{{- end -}}

{{/* Shared watches on? "true" or "false". config.sharedWatches.enabled: null (or absent, as
     `--set config.sharedWatches.enabled=null` leaves it) = by mode: on in standalone (several
     istiods share one proxy), off in sidecar (one istiod: nothing to share); a bool wins. */}}
{{- define "discofilter.sharedWatches" -}}
{{- $enabled := (.Values.config.sharedWatches | default dict).enabled -}}
{{- if kindIs "invalid" $enabled -}}
{{- eq .Values.mode "standalone" -}}
{{- else -}}
{{- $enabled -}}
{{- end -}}
{{- end -}}

{{/* The config file: values.config with the mode-dependent settings filled in. */}}
{{- define "discofilter.configFile" -}}
{{- $cfg := deepCopy .Values.config -}}
{{- $shared := get $cfg "sharedWatches" | default dict -}}
{{- $_ := set $shared "enabled" (eq (include "discofilter.sharedWatches" .) "true") -}}
{{- $_ := set $cfg "sharedWatches" $shared -}}
{{- $server := get $cfg "server" -}}
{{- $_ := set $server "listen" (include "discofilter.listen" .) -}}
{{- if not $server.tlsCertFile -}}
{{- $_ := set $server "tlsCertFile" "/etc/discofilter/tls/tls.crt" -}}
{{- $_ := set $server "tlsKeyFile" "/etc/discofilter/tls/tls.key" -}}
{{- end -}}
{{- toYaml $cfg -}}
{{- end -}}

{{/* A checksum of the settings `serve` reads only at start (docs/configuration.md "Restart
     only": server, upstream, exemptResources, sharedWatches), as rendered. On the pod template
     it rolls the pods when one of them changes; everything else in config.yaml is reloaded
     live, so a selector change must not restart anything. */}}
{{- define "discofilter.restartChecksum" -}}
{{- $cfg := include "discofilter.configFile" . | fromYaml -}}
{{- pick $cfg "server" "upstream" "exemptResources" "sharedWatches" | toYaml | sha256sum -}}
{{- end -}}

{{/* The proxy container, shared by the standalone Deployment and the istiod sidecar patch. */}}
{{- define "discofilter.container" -}}
name: discofilter
image: {{ include "discofilter.image" . | quote }}
imagePullPolicy: {{ .Values.image.pullPolicy }}
args:
  - serve
  - --config
  - /etc/discofilter/config/config.yaml
  - --admin-listen
  - {{ .Values.admin.listen | quote }}
  - --admin-grpc-listen
  - {{ .Values.admin.grpcListen | quote }}
ports:
  {{- if eq .Values.mode "standalone" }}
  - name: https
    containerPort: {{ include "discofilter.listenPort" . }}
    protocol: TCP
  {{- end }}
  {{- /* In sidecar mode the proxy listens on loopback only: no port to declare. */}}
  - name: http-admin
    containerPort: {{ include "discofilter.adminPort" . }}
    protocol: TCP
  - name: grpc-admin
    containerPort: {{ include "discofilter.adminGrpcPort" . }}
    protocol: TCP
env:
  # Events' reportingInstance; in sidecar mode the safety list keeps istiod's namespace.
  - name: POD_NAME
    valueFrom: {fieldRef: {fieldPath: metadata.name}}
  {{- if eq .Values.mode "sidecar" }}
  - name: DISCOFILTER_ISTIOD_NAMESPACE
    valueFrom: {fieldRef: {fieldPath: metadata.namespace}}
  {{- end }}
  {{- with .Values.extraEnv }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
startupProbe:
  httpGet:
    path: /healthz
    port: http-admin
  periodSeconds: 1
  failureThreshold: 30
livenessProbe:
  httpGet:
    path: /healthz
    port: http-admin
  periodSeconds: 10
  timeoutSeconds: 3
readinessProbe:
  httpGet:
    path: /readyz
    port: http-admin
  periodSeconds: 5
  timeoutSeconds: 3
resources:
  {{- toYaml .Values.resources | nindent 2 }}
securityContext:
  runAsNonRoot: true
  runAsUser: 65532
  runAsGroup: 65532
  readOnlyRootFilesystem: true
  allowPrivilegeEscalation: false
  capabilities:
    drop: [ALL]
  seccompProfile:
    type: RuntimeDefault
volumeMounts:
  - name: discofilter-config
    mountPath: /etc/discofilter/config
    readOnly: true
  - name: discofilter-tls
    mountPath: /etc/discofilter/tls
    readOnly: true
  - name: discofilter-tmp
    mountPath: /tmp
{{- end -}}

{{- define "discofilter.volumes" -}}
- name: discofilter-config
  configMap:
    name: {{ include "discofilter.fullname" . }}-config
- name: discofilter-tls
  secret:
    secretName: {{ include "discofilter.tlsSecretName" . }}
- name: discofilter-tmp
  emptyDir:
    medium: Memory
    sizeLimit: 64Mi
{{- end -}}

{{/* A self-signed CA + serving certificate, reused from the live Secret when it exists so an
     upgrade does not rotate the CA under istiod's kubeconfig. Returns a dict as YAML. */}}
{{- define "discofilter.generatedTls" -}}
{{- $name := include "discofilter.tlsSecretName" . -}}
{{- $ns := include "discofilter.namespace" . -}}
{{- $existing := lookup "v1" "Secret" $ns $name -}}
{{- if and $existing $existing.data (hasKey $existing.data "ca.crt") -}}
crt: {{ index $existing.data "tls.crt" }}
key: {{ index $existing.data "tls.key" }}
ca: {{ index $existing.data "ca.crt" }}
{{- else -}}
{{- $fullname := include "discofilter.fullname" . -}}
{{- $ca := genCA (printf "%s-ca" $fullname) (int .Values.tls.validityDays) -}}
{{- $ips := list "127.0.0.1" -}}
{{- $dns := list "localhost" -}}
{{- if eq .Values.mode "standalone" -}}
{{- $dns = concat $dns (list $fullname (printf "%s.%s" $fullname $ns) (printf "%s.%s.svc" $fullname $ns) (printf "%s.%s.svc.cluster.local" $fullname $ns)) .Values.tls.extraDnsNames -}}
{{- end -}}
{{- $cert := genSignedCert $fullname $ips $dns (int .Values.tls.validityDays) $ca -}}
crt: {{ $cert.Cert | b64enc }}
key: {{ $cert.Key | b64enc }}
ca: {{ $ca.Cert | b64enc }}
{{- end -}}
{{- end -}}

{{/* The kubeconfig istiod reads from the istio-kubeconfig Secret. `server` is the argument. */}}
{{- define "discofilter.istioKubeconfig" -}}
apiVersion: v1
kind: Config
clusters:
  - name: discofilter
    cluster:
      server: {{ .server }}
      certificate-authority-data: {{ .ca }}
users:
  - name: istiod
    user:
      # istiod's own projected service-account token: discofilter forwards it, so the API
      # server authorizes istiod itself, never the proxy.
      tokenFile: /var/run/secrets/kubernetes.io/serviceaccount/token
contexts:
  - name: discofilter
    context:
      cluster: discofilter
      user: istiod
current-context: discofilter
{{- end -}}
