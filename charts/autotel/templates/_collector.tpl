{{/*
The collector configuration, built the way the upstream opentelemetry-collector
chart builds it so that values written for that chart give the same result:
Helm has already merged the user's `config` over the defaults (maps key by key,
lists replaced, null deletes); then the old metrics `address` is turned into a
reader, presets add their components, and the result is templated.
*/}}
{{- define "autotel.collector.config" -}}
{{- $config := deepCopy (.Values.alternateConfig | default .Values.config) -}}
{{- /*
The upstream chart's defaults have jaeger, zipkin and prometheus receivers,
so there a null for them (as in the seed's values) deletes them. Ours lack
them (so does the autotel collector) and Helm keeps a null that deletes
nothing; drop it here so the result is the same. Any other null reaches the
collector as upstream's would: "use the component's defaults".
*/ -}}
{{- $receivers := $config.receivers | default dict -}}
{{- range $name := list "jaeger" "zipkin" "prometheus" -}}
{{- if and (hasKey $receivers $name) (kindIs "invalid" (get $receivers $name)) -}}
{{- $_ := unset $receivers $name -}}
{{- end -}}
{{- end -}}
{{- $metrics := dig "service" "telemetry" "metrics" dict $config -}}
{{- with $metrics.address -}}
{{- /* Current collectors reject `address`; the upstream chart rewrites it. */ -}}
{{- $hostPort := regexFind "^(.*):([0-9]+)$" . -}}
{{- if not $hostPort -}}
{{- fail (printf "config.service.telemetry.metrics.address %q: want host:port" .) -}}
{{- end -}}
{{- $port := regexReplaceAll "^.*:([0-9]+)$" . "${1}" -}}
{{- $host := regexReplaceAll "^(.*):[0-9]+$" . "${1}" -}}
{{- $_ := unset $metrics "address" -}}
{{- $_ := set $metrics "readers" (list (dict "pull" (dict "exporter" (dict "prometheus" (dict "host" $host "port" (atoi $port)))))) -}}
{{- end -}}
{{- include "autotel.collector.unsupportedPresets" . -}}
{{- if .Values.presets.logsCollection.enabled -}}
{{- $config = include "autotel.collector.applyLogsCollection" (dict "root" . "config" $config) | fromYaml -}}
{{- end -}}
{{- if .Values.presets.kubernetesAttributes.enabled -}}
{{- $config = include "autotel.collector.applyKubernetesAttributes" (dict "root" . "config" $config) | fromYaml -}}
{{- end -}}
{{- if .Values.collector.persistentQueue.enabled -}}
{{- $config = include "autotel.collector.applyPersistentQueue" (dict "root" . "config" $config) | fromYaml -}}
{{- end -}}
{{- if .Values.collector.pushback.enabled -}}
{{- $config = include "autotel.collector.applyPushback" (dict "root" . "config" $config) | fromYaml -}}
{{- end -}}
{{- tpl (toYaml $config) . -}}
{{- end }}

{{/*
Refusals that say when to come back (beyond upstream): the otlp receivers
pipelines use get autotel's `pushback` middleware on each protocol, which adds
Retry-After to HTTP 429/503 and RetryInfo to gRPC Unavailable answers (from
memory_limiter or a full queue). A protocol with `middlewares` of the user's
is left as written.
*/}}
{{- define "autotel.collector.applyPushback" -}}
{{- $config := .config -}}
{{- $used := list -}}
{{- range $_, $pipeline := (dig "service" "pipelines" dict $config) -}}
{{- $used = concat $used (($pipeline | default dict).receivers | default list) -}}
{{- end -}}
{{- $added := false -}}
{{- range $name := $used | uniq | sortAlpha -}}
{{- if eq (regexReplaceAll "/.*$" $name "") "otlp" -}}
{{- $protocols := dig "receivers" $name "protocols" dict $config -}}
{{- range $proto := list "grpc" "http" -}}
{{- $p := get $protocols $proto -}}
{{- if and (kindIs "map" $p) (not (hasKey $p "middlewares")) -}}
{{- $_ := set $p "middlewares" (list (dict "id" "pushback")) -}}
{{- $added = true -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- if $added -}}
{{- $extensions := $config.extensions | default dict -}}
{{- if not (hasKey $extensions "pushback") -}}
{{- $_ := set $extensions "pushback" (dict "retry_after" .root.Values.collector.pushback.retryAfter) -}}
{{- end -}}
{{- $_ := set $config "extensions" $extensions -}}
{{- $service := $config.service | default dict -}}
{{- $_ := set $service "extensions" (append ($service.extensions | default list) "pushback" | uniq) -}}
{{- $_ := set $config "service" $service -}}
{{- end -}}
{{- toYaml $config -}}
{{- end }}

{{/*
Loss-free by default (beyond upstream's chart): every loki, otlp or otlphttp
exporter a pipeline uses gets a sending queue on disk (file_storage on a node
directory that outlives the pod), sized in records, batching inside the
queue, and retries without a deadline. A record is acknowledged to the sender
only once it is in the queue file, so a crash, an OOM kill or a store outage
loses nothing the sender was told was received; a full queue refuses new
records with a retryable error, so senders keep them. What the user wrote
wins key by key: `sending_queue: {enabled: false}` or a `storage` of their
own leaves the exporter alone.
*/}}
{{- define "autotel.collector.applyPersistentQueue" -}}
{{- $q := .root.Values.collector.persistentQueue -}}
{{- $config := .config -}}
{{- $used := list -}}
{{- range $_, $pipeline := (dig "service" "pipelines" dict $config) -}}
{{- $used = concat $used (($pipeline | default dict).exporters | default list) -}}
{{- end -}}
{{- $queued := false -}}
{{- $exporters := $config.exporters | default dict -}}
{{- range $name := $used | uniq | sortAlpha -}}
{{- $type := regexReplaceAll "/.*$" $name "" -}}
{{- if has $type (list "loki" "otlp" "otlphttp") -}}
{{- $exp := get $exporters $name | default dict -}}
{{- $userQueue := $exp.sending_queue | default dict -}}
{{- if and (dig "enabled" true $userQueue) (not $userQueue.storage) -}}
{{- $queue := dict "enabled" true "storage" "file_storage/autotel-queue" "sizer" "items" "queue_size" ($q.queueSize | int64) "num_consumers" ($q.numConsumers | int) "batch" (deepCopy $q.batch) -}}
{{- $_ := set $exp "sending_queue" (mustMergeOverwrite $queue $userQueue) -}}
{{- $_ := set $exp "retry_on_failure" (mustMergeOverwrite (dict "enabled" true "max_elapsed_time" "0s") ($exp.retry_on_failure | default dict)) -}}
{{- $_ := set $exporters $name $exp -}}
{{- $queued = true -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- if $queued -}}
{{- $_ := set $config "exporters" $exporters -}}
{{- $extensions := $config.extensions | default dict -}}
{{- $_ := set $extensions "file_storage/autotel-queue" (dict "directory" "/var/lib/autotel-collector/queue" "timeout" "10s") -}}
{{- $_ := set $config "extensions" $extensions -}}
{{- $service := $config.service | default dict -}}
{{- $_ := set $service "extensions" (append ($service.extensions | default list) "file_storage/autotel-queue" | uniq) -}}
{{- $_ := set $config "service" $service -}}
{{- end -}}
{{- toYaml $config -}}
{{- end }}

{{/*
"true" when the rendered configuration uses the chart's queue directory.
*/}}
{{- define "autotel.collector.usesQueueDir" -}}
{{- $config := include "autotel.collector.config" . | fromYaml -}}
{{- if has "file_storage/autotel-queue" (dig "service" "extensions" list $config) -}}true{{- end -}}
{{- end }}

{{/*
Pipelines that put a batch processor in front of an exporter with the
chart's persistent queue, as "pipeline (processor -> exporter)" strings.
*/}}
{{- define "autotel.collector.batchBeforeQueue" -}}
{{- $config := include "autotel.collector.config" . | fromYaml -}}
{{- $out := list -}}
{{- range $pname, $p := (dig "service" "pipelines" dict $config) -}}
{{- range $proc := ($p.processors | default list) -}}
{{- if eq (regexReplaceAll "/.*$" $proc "") "batch" -}}
{{- range $e := ($p.exporters | default list) -}}
{{- if eq (dig "exporters" $e "sending_queue" "storage" "" $config) "file_storage/autotel-queue" -}}
{{- $out = append $out (printf "%s (%s -> %s)" $pname $proc $e) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- join ", " $out -}}
{{- end }}

{{/*
The container's memory limit (collector.resources.limits.memory) in MiB,
or "" when there is none. Kubernetes quantities: plain bytes, k/M/G/T and
Ki/Mi/Gi/Ti suffixes.
*/}}
{{- define "autotel.collector.memoryLimitMiB" -}}
{{- $q := dig "limits" "memory" "" (.Values.collector.resources | default dict) -}}
{{- if $q -}}
{{- $bytes := 0.0 -}}
{{- if or (kindIs "float64" $q) (kindIs "int64" $q) (kindIs "int" $q) -}}
{{- $bytes = float64 $q -}}
{{- else -}}
{{- $num := regexFind `^[0-9]+(\.[0-9]+)?` $q -}}
{{- $unit := trimPrefix $num $q -}}
{{- $scale := dict "" 1.0 "k" 1e3 "M" 1e6 "G" 1e9 "T" 1e12 "Ki" 1024.0 "Mi" 1048576.0 "Gi" 1073741824.0 "Ti" 1099511627776.0 -}}
{{- if or (not $num) (not (hasKey $scale $unit)) -}}
{{- fail (printf "collector.resources.limits.memory %q: want a Kubernetes quantity such as 512Mi or 1Gi" $q) -}}
{{- end -}}
{{- $bytes = mulf (float64 $num) (get $scale $unit) -}}
{{- end -}}
{{- divf $bytes 1048576.0 | floor | int -}}
{{- end -}}
{{- end }}

{{/*
Presets whose receivers or processors are not in the autotel collector would
render a configuration it refuses at startup; say so at install time instead.
*/}}
{{- define "autotel.collector.unsupportedPresets" -}}
{{- $needs := dict
  "hostMetrics" "the hostmetrics receiver"
  "kubeletMetrics" "the kubeletstats receiver"
  "kubernetesEvents" "the k8sobjects receiver"
  "kubernetesObjects" "the k8sobjects receiver"
  "clusterMetrics" "the k8s_cluster receiver"
  "resourceDetection" "the resourcedetection processor"
  "profiling" "the profiling receiver" -}}
{{- range $preset, $component := $needs -}}
{{- if dig $preset "enabled" false $.Values.presets -}}
{{- fail (printf "presets.%s needs %s, which the autotel collector does not include; configure what you need in `config` instead" $preset $component) -}}
{{- end -}}
{{- end -}}
{{- if or (dig "annotationDiscovery" "logs" "enabled" false .Values.presets) (dig "annotationDiscovery" "metrics" "enabled" false .Values.presets) -}}
{{- fail "presets.annotationDiscovery needs the receiver_creator receiver and k8s_observer extension, which the autotel collector does not include" -}}
{{- end -}}
{{- end }}

{{- define "autotel.collector.applyLogsCollection" -}}
{{- $root := .root -}}
{{- $p := $root.Values.presets.logsCollection -}}
{{- $preset := include "autotel.collector.logsCollectionConfig" $root | fromYaml -}}
{{- $config := mustMergeOverwrite (dict "service" (dict "pipelines" (dict "logs" (dict "receivers" list)))) $preset .config -}}
{{- $_ := set $config.service.pipelines.logs "receivers" (append $config.service.pipelines.logs.receivers "filelog" | uniq) -}}
{{- if $p.storeCheckpoints -}}
{{- $withExtensions := mustMergeOverwrite (dict "service" (dict "extensions" list)) $config -}}
{{- $_ := set $config.service "extensions" (append $withExtensions.service.extensions "file_storage" | uniq) -}}
{{- end -}}
{{- toYaml $config -}}
{{- end }}

{{- define "autotel.collector.logsCollectionConfig" -}}
{{- $p := .Values.presets.logsCollection -}}
{{- if $p.storeCheckpoints }}
extensions:
  file_storage:
    directory: /var/lib/otelcol
{{- end }}
receivers:
  filelog:
    include: [/var/log/pods/*/*/*.log]
    {{- if $p.includeCollectorLogs }}
    exclude: []
    {{- else }}
    # The collector's own output: reading it back would loop every line it logs.
    exclude: [/var/log/pods/{{ .Release.Namespace }}_{{ include "autotel.collector.name" . }}*_*/collector/*.log]
    {{- end }}
    start_at: end
    retry_on_failure:
      enabled: true
    {{- if $p.storeCheckpoints }}
    storage: file_storage
    {{- end }}
    include_file_path: true
    include_file_name: false
    operators:
      - type: container
        id: container-parser
        max_log_size: {{ $p.maxRecombineLogSize | default 102400 | int }}
{{- end }}

{{- define "autotel.collector.applyKubernetesAttributes" -}}
{{- $preset := include "autotel.collector.kubernetesAttributesConfig" .root | fromYaml -}}
{{- $config := mustMergeOverwrite $preset .config -}}
{{- $logPath := .root.Values.presets.logsCollection.enabled -}}
{{- range $name := list "logs" "metrics" "traces" -}}
{{- $pipeline := dig "service" "pipelines" $name nil $config -}}
{{- if $pipeline -}}
{{- $processors := $pipeline.processors | default list -}}
{{- if and $logPath (eq $name "logs") (not (has "filter/autotel-logpath" $processors)) -}}
{{- $processors = prepend $processors "filter/autotel-logpath" -}}
{{- end -}}
{{- if not (has "k8sattributes" $processors) -}}
{{- $processors = prepend $processors "k8sattributes" -}}
{{- end -}}
{{- $_ := set $pipeline "processors" $processors -}}
{{- end -}}
{{- end -}}
{{- toYaml $config -}}
{{- end }}

{{- define "autotel.collector.kubernetesAttributesConfig" -}}
{{- $p := .Values.presets.kubernetesAttributes -}}
processors:
  {{- if .Values.presets.logsCollection.enabled }}
  # One log path per workload: container-log records (they carry
  # log.file.path) of workloads whose logs go over OTLP are dropped, so no
  # line is stored twice. Records of pods not found are kept: a failure
  # shows as a duplicate, never as a lost line.
  filter/autotel-logpath:
    error_mode: ignore
    log_conditions:
      - >-
        log.attributes["log.file.path"] != nil and
        (resource.attributes["autotel.logs.pod"] == "otlp" or
        (resource.attributes["autotel.logs.pod"] == nil and
        resource.attributes["autotel.logs.namespace"] == "otlp"))
  {{- end }}
  k8sattributes:
    {{- if eq (include "autotel.collector.mode" .) "daemonset" }}
    # Each collector watches only the pods of its own node.
    filter:
      node_from_env_var: K8S_NODE_NAME
    {{- end }}
    passthrough: false
    pod_association:
      - sources:
          - from: resource_attribute
            name: k8s.pod.ip
      - sources:
          - from: resource_attribute
            name: k8s.pod.uid
      - sources:
          - from: connection
    extract:
      otel_annotations: true
      {{- if .Values.presets.logsCollection.enabled }}
      # The per-workload log path (autotel.io/logs on the pod, else its
      # namespace) decides whether container-log lines are kept.
      annotations:
        - tag_name: autotel.logs.pod
          key: autotel.io/logs
          from: pod
        - tag_name: autotel.logs.namespace
          key: autotel.io/logs
          from: namespace
      {{- end }}
      metadata:
        - k8s.namespace.name
        - k8s.pod.name
        - k8s.pod.uid
        - k8s.node.name
        - k8s.pod.start_time
        - k8s.deployment.name
        - k8s.replicaset.name
        - k8s.replicaset.uid
        - k8s.daemonset.name
        - k8s.daemonset.uid
        - k8s.job.name
        - k8s.job.uid
        - k8s.container.name
        - k8s.cronjob.name
        - k8s.statefulset.name
        - k8s.statefulset.uid
        - container.image.tag
        - container.image.name
        - k8s.cluster.uid
        - service.namespace
        - service.name
        - service.version
        - service.instance.id
      {{- if $p.extractAllPodLabels }}
      labels:
        - tag_name: $$1
          key_regex: (.*)
          from: pod
      {{- end }}
      {{- if $p.extractAllPodAnnotations }}
      annotations:
        - tag_name: $$1
          key_regex: (.*)
          from: pod
      {{- end }}
{{- end }}
