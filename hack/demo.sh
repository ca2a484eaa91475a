#!/usr/bin/env bash
# The seed's whole story on this machine, in one command: a one-node cluster
# (hack/cluster.sh), autotel installed with its Helm chart (operator and the
# collector DaemonSet running the seed's pipeline), a local Loki-protocol store
# (VictoriaLogs), the seed's Instrumentation and Deployment instrumented by
# the real OpenTelemetry Python SDK, requests to /hello and /error, each
# shown with its trace (the collector's file exporter, a file on this
# machine) and the stored log lines sharing its trace id.
#
# Usage: hack/demo.sh [up] [--app flask|gunicorn|uvicorn] [--python-agent sdk|logs]
#                     [--python-image IMAGE]
#        hack/demo.sh down
#
#   up (default)    bring everything up and run the story; safe to run again
#                   (the cluster, store and release are reused, the sample
#                   workload is recreated so its injection happens anew)
#   --app           the seed's sample to run: flask (the seed's Deployment,
#                   Flask's dev server; default), gunicorn (Flask under
#                   Gunicorn), uvicorn (FastAPI under Uvicorn)
#   --python-agent  sdk (default): upstream's OpenTelemetry Python SDK
#                   0.64b0 (imagebuild row autoinstrumentation-python), as
#                   the operator's default Python image; traces and logs.
#                   logs: autotel's Python log agent (logs only, no spans)
#   --python-image  the Python auto-instrumentation image to set in the
#                   Instrumentation's spec.python.image, e.g. upstream's
#                   published autoinstrumentation-python: a
#                   reference already in the node's image store, one the
#                   local docker has, a docker-archive/OCI tarball path, or
#                   (last) one containerd can pull from this machine
#   down            uninstall, stop the store by its pid, stop the cluster
#                   (safe to run twice)
#
# Needs root, as hack/cluster.sh does. Everything listens on 127.0.0.1.
# Environment: AUTOTEL_STATE, AUTOTEL_CACHE as for hack/cluster.sh; the
# demo's own state (store data, pid file, logs) is <state>/demo.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
state_root=${AUTOTEL_STATE:-${XDG_STATE_HOME:-$HOME/.local/state}/autotel}
# Beside the cluster's folder, not in it: `hack/cluster.sh up` wipes
# <state>/cluster when it finds a dead cluster's state, and must not take the
# store's pid file with it while the store still runs.
demo="$state_root/demo"
cache_root=${AUTOTEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/autotel}
builds="$cache_root/demo"

RELEASE=autotel
SYSTEM_NS=autotel-system
APP_NS=example # the seed's namespace
STORE_ADDR=127.0.0.1:9428
OPERATOR_IMAGE=autotel.local/autotel/operator:dev
COLLECTOR_IMAGE=autotel.local/autotel/collector:dev
AGENT_IMAGE=autotel.local/autoinstrumentation-python:dev # autotel-image python-agent
SDK_IMAGE=autotel.local/otel/autoinstrumentation-python:0.64b0 # autotel-image autoinstrumentation-python
# The collector's file exporter writes the traces pipeline here: the
# chart's queue folder on the node (<persistentQueue.hostPath>/<namespace>),
# which its init container (autotel-collector prepare-dir) hands to the
# collector's user 65532; the demo points that hostPath into its state.
COLLECTOR_DIR_IN_POD=/var/lib/autotel-collector/queue
TRACES_NAME=traces.jsonl
INIT_CONTAINER=opentelemetry-auto-instrumentation-python
# What the chart's pods bind on the node (host network): the webhook and the
# operator's probes and metrics, the collector's receivers, health check and
# metrics.
CHART_PORTS=(9443 8080 8081 4317 4318 13133 8888)

say() { printf '%s\n' "$*"; }
step() { printf '\n==> %s\n' "$*"; }
note() { printf '    %s\n' "$*"; }
die() { echo "demo: error: $*" >&2; exit 1; }

usage() { sed -n '10,33p' "$0" | sed 's/^# \{0,1\}//'; }

need_root() {
	[ "$(id -u)" = 0 ] || die "must run as root: the one-node cluster's kubelet and containerd mount filesystems and create cgroups (try: sudo $0 ${*:-})"
}

port_free() { ! ss -Hltn "sport = :$1" | grep -q .; }
port_owner() { ss -Hltnp "sport = :$1" | awk '{print $NF}' | head -1; }

# ---------------------------------------------------------------- tools

KUBECTL="" KUBECONFIG_PATH=""
kubectl() { "$KUBECTL" --kubeconfig "$KUBECONFIG_PATH" "$@"; }

image_tool() {
	local out="$cache_root/tools/autotel-image"
	(cd "$repo" && CGO_ENABLED=0 go build -trimpath -o "$out" ./cmd/autotel-image) || die "building cmd/autotel-image failed"
	echo "$out"
}

# cmd/autotel-cluster: the daemon supervisor hack/cluster.sh uses too, and
# the printer of the store's JSON answers. Built once, before any $(...)
# subshell calls it.
CLUSTER_TOOL=""
build_cluster_tool() {
	CLUSTER_TOOL="$cache_root/tools/autotel-cluster"
	(cd "$repo" && CGO_ENABLED=0 go build -trimpath -o "$CLUSTER_TOOL" ./cmd/autotel-cluster) >&2 || die "building cmd/autotel-cluster failed"
}
cluster_tool() { "$CLUSTER_TOOL" "$@"; }

# cmd/autotel-demo: sends the requests and shows each one's trace (the
# trace file) and log lines (the store): the JSON reading lives in Go.
DEMO_TOOL=""
build_demo_tool() {
	DEMO_TOOL="$cache_root/tools/autotel-demo"
	(cd "$repo" && CGO_ENABLED=0 go build -trimpath -o "$DEMO_TOOL" ./cmd/autotel-demo) >&2 || die "building cmd/autotel-demo failed"
}

# Reads the settings this script needs from `hack/cluster.sh env` into
# variables of the same name; only the names listed are ever assigned.
load_cluster_env() {
	local out k v
	out=$("$here/cluster.sh" env) || die "hack/cluster.sh env failed"
	while IFS='=' read -r k v; do
		case $k in
		CONTAINERD_ADDRESS | KUBE_BIN | NODE_NAME | APISERVER_PORT) printf -v "$k" '%s' "$v" ;;
		esac
	done <<<"$out"
	[ -n "${KUBE_BIN:-}" ] || die "hack/cluster.sh env printed no KUBE_BIN"
}

# ---------------------------------------------------------------- images

# The images are rows of internal/imagebuild's table (the operator and the
# collector as build/Dockerfile.operator and build/Dockerfile.collector make
# them: static binary on an empty base, user 65532, which the chart's
# runAsNonRoot pods need). Each NAME.tar has NAME.tar.key beside it, the
# fingerprint of its content, which changes only when the image does.
build_images() { # NAME...: prints the tarballs' paths
	"$TOOL" build --repo "$repo" --cache "$cache_root" -o "$builds" "$@" || die "building the images ($*) failed"
}

ctr_k8s() { ctr --address "$CONTAINERD_ADDRESS" -n k8s.io "$@"; }

# Imports a tarball and prints the first image name containerd reports.
import_tarball() {
	local out name
	out=$(ctr_k8s images import "$1" 2>&1) || die "importing $1 failed: $out"
	name=$(sed -n 's/^unpacking \([^ ]*\) (.*/\1/p' <<<"$out" | head -1)
	[ -n "$name" ] || die "importing $1 named no image: $out"
	echo "$name"
}

# Makes --python-image available on the node and prints the reference pods
# must use.
python_image() {
	local img=$1 tmp
	if [ -f "$img" ]; then
		import_tarball "$img"
		return
	fi
	if ctr_k8s images ls -q | grep -qxF -e "$img" -e "docker.io/$img" -e "docker.io/library/$img"; then
		echo "$img"
		return
	fi
	if command -v docker >/dev/null && docker image inspect "$img" >/dev/null 2>&1; then
		tmp=$(mktemp "$builds/python-image.XXXXXX.tar")
		docker save -o "$tmp" "$img" || { rm -f "$tmp"; die "docker save $img failed"; }
		import_tarball "$tmp" >/dev/null
		rm -f "$tmp"
		echo "$img"
		return
	fi
	note "pulling $img into the node's image store (ctr images pull)" >&2
	ctr_k8s images pull "$img" >&2 ||
		die "--python-image $img: not in the node's image store, not in a local docker, not a file, and containerd could not pull it; pass a tarball (docker save IMAGE -o FILE; --python-image FILE)"
	echo "$img"
}

# ---------------------------------------------------------------- store

store_bin() { "$here/collector-victorialogs.sh"; }

store_pid() { cluster_tool pid --pids "$demo/pids" victoria-logs; }

store_healthy() { curl -fsS -m 2 "http://$STORE_ADDR/health" >/dev/null 2>&1; }

start_store() {
	local bin pid
	if pid=$(store_pid) && store_healthy; then
		note "VictoriaLogs already running (pid $pid) on $STORE_ADDR"
		return
	fi
	bin=$(store_bin)
	port_free "${STORE_ADDR##*:}" || die "port ${STORE_ADDR##*:} is in use ($(port_owner "${STORE_ADDR##*:}")); the demo's store listens there"
	mkdir -p "$demo/victoria-logs-data"
	# In a session of its own, so it outlives this script and holds none of
	# the caller's pipes. -loki.disableMessageParsing keeps the stored line
	# exactly what the loki exporter sent (the seed's JSON).
	cluster_tool start --pids "$demo/pids" --log "$demo/logs/victoria-logs.log" victoria-logs -- \
		"$bin" -httpListenAddr="$STORE_ADDR" -storageDataPath="$demo/victoria-logs-data" \
		-loki.disableMessageParsing -loggerLevel=WARN || die "could not start VictoriaLogs"
	local deadline=$((SECONDS + 30))
	until store_healthy; do
		if ! store_pid >/dev/null; then
			tail -n 20 "$demo/logs/victoria-logs.log" >&2 || true
			die "VictoriaLogs exited during start-up (log: $demo/logs/victoria-logs.log)"
		fi
		[ $SECONDS -lt $deadline ] || die "VictoriaLogs not healthy on $STORE_ADDR after 30s (log: $demo/logs/victoria-logs.log)"
		sleep 0.2
	done
	note "VictoriaLogs started (pid $(store_pid)) on $STORE_ADDR, data in $demo/victoria-logs-data"
}

stop_store() {
	local pid
	if pid=$(store_pid); then
		say "demo: stopping VictoriaLogs (pid $pid)"
	fi
	cluster_tool stop --pids "$demo/pids" --grace 15s --prefix demo -q victoria-logs || die "stopping VictoriaLogs failed"
}

logsql() { # query: JSON lines, one per stored entry
	curl -fsS -m 10 "http://$STORE_ADDR/internal/force_flush" >/dev/null 2>&1 || true
	curl -fsS -m 10 "http://$STORE_ADDR/select/logsql/query" --data-urlencode "query=$1"
}

# Prints each stored entry as `{labels} line`, the way Loki shows a stream
# and its line: VictoriaLogs answers with one JSON object per entry, decoded
# by internal/cluster (PrintEntries).
print_entries() { cluster_tool entries; }

# ---------------------------------------------------------------- manifests

app_image() { echo "autotel.local/examples/$APP:dev"; } # autotel-image examples-$APP
app_port() { case $APP in flask) echo 5000 ;; *) echo 8000 ;; esac; }
# The image's CMD binds 0.0.0.0; on the host network that would be every
# interface of the machine. NAME=VALUE words (no spaces, quotes or
# backslashes in them), shown as they are and made into the pod's env.
app_bind_vars() {
	case $APP in
	flask) echo FLASK_RUN_HOST=127.0.0.1 ;;
	gunicorn) echo GUNICORN_CMD_ARGS=--bind=127.0.0.1:8000 ;;
	uvicorn) echo UVICORN_HOST=127.0.0.1 UVICORN_PORT=8000 ;;
	esac
}
app_bind_env() { # the same as a JSON list of EnvVars
	local kv sep="" out="["
	for kv in $(app_bind_vars); do
		out+="$sep{\"name\":\"${kv%%=*}\",\"value\":\"${kv#*=}\"}"
		sep=,
	done
	echo "$out]"
}

write_values() {
	cat >"$demo/values.yaml" <<-EOF
		# Written by hack/demo.sh; layered over the seed's collector values
		# (charts/autotel/ci/seed-collector-values.yaml, a copy of the seed's
		# collector-values.yaml) and charts/autotel/ci/local-cluster-values.yaml.
		operator:
		  image: {repository: ${OPERATOR_IMAGE%:*}, tag: ${OPERATOR_IMAGE##*:}, pullPolicy: Never}
		  # A list replaces the one in local-cluster-values.yaml, so its
		  # --webhook-extra-dns-names is repeated. On the host network every
		  # listener binds 127.0.0.1 only.
		  extraArgs:
		    - --webhook-extra-dns-names=localhost
		    - --webhook-host=127.0.0.1
		    - --metrics-addr=127.0.0.1:8080
		    - --health-probe-addr=127.0.0.1:8081
		    - --auto-instrumentation-python-logs-image=$AGENT_IMAGE
		    # The seed's Instrumentation names no image: the operator's
		    # default is the Python SDK built here.
		    - --auto-instrumentation-python-image=$SDK_IMAGE
		  # The tag stays :dev; a rebuilt binary must still restart the pod.
		  podAnnotations: {autotel.io/demo-image: "$(cut -c1-16 "$builds/operator.tar.key")"}
		  # No kube-proxy: the kubernetes Service's cluster IP carries no
		  # traffic, so the in-cluster client goes to the API server itself.
		  extraEnv:
		    - {name: KUBERNETES_SERVICE_HOST, value: 127.0.0.1}
		    - {name: KUBERNETES_SERVICE_PORT, value: "$APISERVER_PORT"}
		collector:
		  image: {repository: ${COLLECTOR_IMAGE%:*}, tag: ${COLLECTOR_IMAGE##*:}, pullPolicy: Never}
		  # Apps reach it at http://\$(OTEL_NODE_IP):4318; the chart's
		  # \${env:MY_POD_IP} listeners then bind the node's 127.0.0.1.
		  hostNetwork: true
		  podAnnotations: {autotel.io/demo-image: "$(cut -c1-16 "$builds/collector.tar.key")"}
		  # The node folder the chart prepares for the collector (owned by
		  # its user 65532, by the prepare-dir init container), in the
		  # demo's state: the trace file lands in $demo/collector/$SYSTEM_NS.
		  persistentQueue: {hostPath: $demo/collector}
		config:
		  exporters:
		    loki:
		      # The seed's http://loki-gateway/loki/api/v1/push, here the local store.
		      endpoint: http://$STORE_ADDR/insert/loki/api/v1/push
		    # The traces the seed's pipeline receives, as OTLP/JSON lines.
		    # Truncated when the collector starts (append: false).
		    file/traces:
		      path: $COLLECTOR_DIR_IN_POD/$TRACES_NAME
		      flush_interval: 200ms
		  service:
		    pipelines:
		      # The seed's traces pipeline (otlp in) gets an exporter; its
		      # logs pipeline (otlp -> resource -> loki) is left as it is.
		      traces:
		        exporters: [file/traces]
	EOF
}

# The seed's files with only what this machine needs changed (explained in
# the output); `kubectl patch --local` edits them without a server.
write_manifests() {
	local inst_patch
	# shellcheck disable=SC2016 # $(OTEL_NODE_IP) is for the kubelet to expand, not the shell
	if [ -n "$PYTHON_IMAGE" ]; then
		inst_patch='{"spec":{"exporter":{"endpoint":"http://$(OTEL_NODE_IP):4318"},"python":{"image":"'"$PYTHON_IMAGE_REF"'"}}}'
	elif [ "$PYTHON_AGENT" = logs ]; then
		inst_patch='{"metadata":{"annotations":{"autotel.io/python-agent":"logs"}},"spec":{"exporter":{"endpoint":"http://$(OTEL_NODE_IP):4318"}}}'
	else
		inst_patch='{"spec":{"exporter":{"endpoint":"http://$(OTEL_NODE_IP):4318"}}}'
	fi
	kubectl patch --local -f "$repo/testdata/seed/instrumentation-otlp.yaml" --type merge -p "$inst_patch" -o yaml >"$demo/instrumentation.yaml" ||
		die "editing the seed's Instrumentation failed"
	kubectl patch --local -f "$repo/testdata/seed/deployment-annotated.yaml" --type strategic -o yaml -p '{"spec":{"template":{"spec":{
		"hostNetwork":true,
		"terminationGracePeriodSeconds":3,
		"containers":[{"name":"sample","image":"'"$(app_image)"'","imagePullPolicy":"IfNotPresent","env":'"$(app_bind_env)"'}]}}}}' \
		>"$demo/deployment.yaml" || die "editing the seed's Deployment failed"
}

# ---------------------------------------------------------------- diagnostics

dump_pod_state() {
	echo "---- pods" >&2
	kubectl get pods -A -o wide >&2 || true
	echo "---- events in $1" >&2
	kubectl -n "$1" get events --sort-by=.lastTimestamp 2>/dev/null | tail -n 20 >&2 || true
}

fail_with() { # namespace message
	dump_pod_state "$1"
	echo "---- operator log (last 30 lines)" >&2
	kubectl -n "$SYSTEM_NS" logs deploy/autotel-operator --tail=30 >&2 2>/dev/null || true
	die "$2 (stop everything with: $0 down)"
}

# ---------------------------------------------------------------- up

APP=flask PYTHON_AGENT=sdk PYTHON_IMAGE="" PYTHON_IMAGE_REF=""

up() {
	need_root up
	local t0=$SECONDS t
	mkdir -p "$demo/logs" "$builds"

	TRACES_FILE="$demo/collector/$SYSTEM_NS/$TRACES_NAME"
	step "1/8 One-node cluster (hack/cluster.sh up; the first run builds Kubernetes from source, ~16 min on 2 cores)"
	t=$SECONDS
	KUBECONFIG_PATH=$("$here/cluster.sh" up) || die "hack/cluster.sh up failed (logs: $state_root/cluster/logs)"
	load_cluster_env
	KUBECTL="$KUBE_BIN/kubectl"
	note "node $NODE_NAME Ready; kubeconfig $KUBECONFIG_PATH ($((SECONDS - t))s)"

	step "2/8 Images (no registry: docker-archive tarballs imported into the node's containerd)"
	t=$SECONDS
	TOOL=$(image_tool)
	local names=(operator collector "examples-$APP") tarballs
	if [ -z "$PYTHON_IMAGE" ]; then
		case $PYTHON_AGENT in
		sdk) names+=(autoinstrumentation-python) ;;
		logs) names+=(python-agent) ;;
		esac
	fi
	tarballs=$(build_images "${names[@]}")
	# shellcheck disable=SC2086 # one path per line, no spaces in the cache's paths
	"$here/cluster.sh" import $tarballs
	note "$OPERATOR_IMAGE   (go build ./cmd/operator, as build/Dockerfile.operator)"
	note "$COLLECTOR_IMAGE  (collector/cmd/autotel-collector, as build/Dockerfile.collector)"
	note "$(app_image)  (examples-$APP: Debian's Python + examples/$APP/app.py)"
	if [ -n "$PYTHON_IMAGE" ]; then
		PYTHON_IMAGE_REF=$(python_image "$PYTHON_IMAGE")
		note "$PYTHON_IMAGE_REF  (--python-image)"
	else
		note "$AGENT_IMAGE  (python-agent: autotel's Python log agent)"
	fi
	note "($((SECONDS - t))s)"

	step "3/8 Loki-protocol store: VictoriaLogs on $STORE_ADDR (a host process, standing in for the seed's Loki)"
	t=$SECONDS
	start_store
	note "($((SECONDS - t))s)"

	step "4/8 autotel with its Helm chart: operator + collector DaemonSet with the seed's pipeline (otlp -> resource -> loki)"
	t=$SECONDS
	local helm
	helm=$("$here/helm.sh") || die "building helm (hack/helm.sh) failed"
	if ! "$helm" status "$RELEASE" -n "$SYSTEM_NS" --kubeconfig "$KUBECONFIG_PATH" >/dev/null 2>&1; then
		for p in "${CHART_PORTS[@]}"; do
			port_free "$p" || die "port $p on this machine is in use ($(port_owner "$p")); autotel's pods bind it on the host network"
		done
	fi
	write_values
	"$helm" upgrade --install "$RELEASE" "$repo/charts/autotel" --kubeconfig "$KUBECONFIG_PATH" \
		-n "$SYSTEM_NS" --create-namespace \
		-f "$repo/charts/autotel/ci/seed-collector-values.yaml" \
		-f "$repo/charts/autotel/ci/local-cluster-values.yaml" \
		-f "$demo/values.yaml" >"$demo/logs/helm.log" 2>&1 ||
		{ cat "$demo/logs/helm.log" >&2; die "helm upgrade --install failed"; }
	note "helm upgrade --install $RELEASE charts/autotel -n $SYSTEM_NS \\"
	note "    -f charts/autotel/ci/seed-collector-values.yaml   # the seed's collector-values.yaml, unchanged"
	note "    -f charts/autotel/ci/local-cluster-values.yaml    # one node: operator on the host network, webhooks by URL"
	note "    -f $demo/values.yaml   # local images, loopback listeners, loki endpoint = the local store"
	# One node, host network: a new operator pod cannot be scheduled while
	# the old one holds its ports, and the chart's rolling update (for one
	# replica: surge 1, unavailable 0) would wait for it forever. Helm leaves
	# fields its templates do not set, so this survives later upgrades.
	kubectl -n "$SYSTEM_NS" patch deployment autotel-operator --type merge \
		-p '{"spec":{"strategy":{"type":"RollingUpdate","rollingUpdate":{"maxSurge":0,"maxUnavailable":1}}}}' >/dev/null ||
		die "setting the operator's update strategy failed"
	# The operator is Ready once its self-made certificate is mounted and
	# the CA is in the webhook configurations.
	kubectl -n "$SYSTEM_NS" rollout status deployment/autotel-operator --timeout=240s >&2 ||
		fail_with "$SYSTEM_NS" "the operator did not become ready in 240s"
	kubectl -n "$SYSTEM_NS" rollout status daemonset/autotel-collector --timeout=120s >&2 ||
		fail_with "$SYSTEM_NS" "the collector DaemonSet did not become ready in 120s"
	kubectl -n "$SYSTEM_NS" get pods -o wide | sed 's/^/    /'
	note "($((SECONDS - t))s)"

	step "5/8 The seed's Instrumentation and Deployment (namespace $APP_NS)"
	t=$SECONDS
	write_manifests
	kubectl create namespace "$APP_NS" --dry-run=client -o yaml | kubectl apply -f - >/dev/null
	# A fresh workload each run, so the injection shown below happened now,
	# with this run's Instrumentation.
	kubectl -n "$APP_NS" delete deployment sample --ignore-not-found --cascade=foreground --timeout=90s >/dev/null ||
		fail_with "$APP_NS" "the previous sample Deployment did not go away in 90s"
	kubectl -n "$APP_NS" delete instrumentation python-instrumentation --ignore-not-found --timeout=30s >/dev/null
	port_free "$(app_port)" || die "port $(app_port) is in use ($(port_owner "$(app_port)")); the $APP sample binds it on the host network"
	# Plain (client-side) apply: the seed's Instrumentation has an empty
	# `env:`, which server-side apply rejects.
	kubectl -n "$APP_NS" apply -f "$demo/instrumentation.yaml" | sed 's/^/    /'
	kubectl -n "$APP_NS" apply -f "$demo/deployment.yaml" | sed 's/^/    /'
	note "from testdata/seed/instrumentation-otlp.yaml, changed:"
	note "  spec.exporter.endpoint: http://otel-collector:4318 -> http://\$(OTEL_NODE_IP):4318"
	note "    this cluster has no DNS and no Service routing, so otel-collector cannot resolve; the kubelet"
	note "    resolves \$(OTEL_NODE_IP) to the node's address, where the collector DaemonSet listens:"
	note "    the node-local path the seed's internalTrafficPolicy: Local Service gives"
	if [ -n "$PYTHON_IMAGE" ]; then
		note "  spec.python.image: $PYTHON_IMAGE_REF (--python-image)"
	elif [ "$PYTHON_AGENT" = logs ]; then
		note "  metadata.annotations: autotel.io/python-agent: logs (--python-agent logs)"
		note "    the operator defaults spec.python.image to autotel's Python log agent ($AGENT_IMAGE)"
	else
		note "  (spec.python.image stays unset, as in the seed: the operator's default Python image,"
		note "   --auto-instrumentation-python-image=$SDK_IMAGE, is the OpenTelemetry Python SDK 0.64b0 built here)"
	fi
	note "from testdata/seed/deployment-annotated.yaml, changed:"
	note "  image: sample -> $(app_image), imagePullPolicy: Always -> IfNotPresent (built here, no registry)"
	note "  hostNetwork: true, $(app_bind_vars) (pods here get only loopback networking)"
	note "  terminationGracePeriodSeconds: 3 (Python as PID 1 ignores SIGTERM: each re-run would wait 30s)"
	kubectl -n "$APP_NS" rollout status deployment/sample --timeout=180s >&2 ||
		fail_with "$APP_NS" "the sample pod did not become ready in 180s"
	POD=$(kubectl -n "$APP_NS" get pods -l app=sample --field-selector=status.phase=Running -o jsonpath='{.items[*].metadata.name}')
	if [ -z "$POD" ] || [ "$(wc -w <<<"$POD")" != 1 ]; then
		fail_with "$APP_NS" "expected one Running sample pod, found: '${POD}'"
	fi
	note "($((SECONDS - t))s)"

	step "6/8 The injected pod"
	show_pod
	local port
	port=$(app_port)
	local deadline=$((SECONDS + 60))
	# Listening, without a request: the store should hold only what step 7 sends.
	until ! port_free "$port"; do
		[ $SECONDS -lt $deadline ] || fail_with "$APP_NS" "the sample app does not listen on 127.0.0.1:$port after 60s"
		sleep 0.2
	done

	local traces_args=()
	if [ "$PYTHON_AGENT" = sdk ]; then
		step "7/8 Requests to the app (host network, 127.0.0.1:$port), each with its trace and log lines"
		note "spans: the collector's file exporter, $TRACES_FILE"
		note "log lines: VictoriaLogs, those of pod $POD whose traceid is the request's"
		traces_args=(--traces "$TRACES_FILE")
	else
		step "7/8 Requests to the app (host network, 127.0.0.1:$port)"
		note "(--python-agent logs: autotel's log agent sends no spans)"
	fi
	"$DEMO_TOOL" requests --url "http://127.0.0.1:$port" --pod "$POD" --store "$STORE_ADDR" \
		--path /hello --path /error "${traces_args[@]}" ||
		fail_with "$APP_NS" "the requests, or their traces and log lines, failed (collector log: kubectl -n $SYSTEM_NS logs daemonset/autotel-collector)"

	step "8/8 Log records stored in VictoriaLogs for pod $APP_NS/$POD, with their labels"
	local query="pod:=\"$POD\" | sort by (_time) | fields _time, _stream, _msg" rows=""
	deadline=$((SECONDS + 60))
	# The agent batches for up to 1s, the collector sends at once.
	until grep -q 'hello called' <<<"$rows" && grep -q 'error called' <<<"$rows"; do
		if [ $SECONDS -ge $deadline ]; then
			echo "---- collector log (last 30 lines)" >&2
			kubectl -n "$SYSTEM_NS" logs daemonset/autotel-collector --tail=30 >&2 || true
			fail_with "$APP_NS" "the /hello and /error records did not reach the store in 60s (stored so far: $(grep -c . <<<"$rows"))"
		fi
		sleep 1
		rows=$(logsql "$query") || rows=""
	done
	note "LogsQL: $query"
	say ""
	print_entries <<<"$rows"
	say ""
	note "$(grep -c . <<<"$rows") records; labels pod, namespace, container from the seed's resource processor"
	note "(loki.resource.labels hint); exporter, job (and instance, level, which the seed's"
	note "default_labels_enabled leaves unset, so enabled) from the loki exporter."
	note "print() lines stay in the container log, as in the seed: its pipeline has only the OTLP receiver."

	show_howto
	say ""
	say "demo: up in $((SECONDS - t0))s"
}

show_pod() {
	kubectl -n "$APP_NS" get pod "$POD" -o wide | sed 's/^/    /'
	local init
	init=$(kubectl -n "$APP_NS" get pod "$POD" -o go-template='{{range .spec.initContainers}}{{.name}}|{{.image}}|{{range .command}}{{.}} {{end}}{{"\n"}}{{end}}')
	[ "${init%%|*}" = "$INIT_CONTAINER" ] || fail_with "$APP_NS" "pod $POD was not injected (init containers: '${init}'); is the operator's webhook reachable?"
	local exit_code
	exit_code=$(kubectl -n "$APP_NS" get pod "$POD" -o jsonpath='{.status.initContainerStatuses[0].state.terminated.exitCode}')
	say ""
	note "init container (added by autotel's webhook): ${init%%|*}"
	init=${init#*|}
	note "  image:   ${init%%|*}"
	init=${init#*|}
	note "  command: ${init% }"
	note "  exited:  $exit_code (copied the agent into the shared emptyDir)"
	say ""
	note "env of container sample as stored in the pod (injected by the webhook):"
	kubectl -n "$APP_NS" get pod "$POD" -o go-template='{{range (index .spec.containers 0).env}}{{.name}}={{if .valueFrom}}<{{.valueFrom.fieldRef.fieldPath}}>{{else}}{{.value}}{{end}}{{"\n"}}{{end}}' |
		sed 's/^/      /'
	say ""
	note "the same variables as the app process sees them (the kubelet resolved <fieldRef> and \$(VAR)):"
	kubectl -n "$APP_NS" exec "$POD" -c sample -- python3 -c '
import os
for k in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_RESOURCE_ATTRIBUTES", "OTEL_NODE_IP", "OTEL_SERVICE_NAME", "PYTHONPATH"):
    print("%s=%s" % (k, os.environ.get(k, "(unset)")))' 2>&1 | sed 's/^/      /' ||
		note "  (kubectl exec failed; see the env above)"
}

show_howto() {
	local port helm_dir
	port=$(app_port)
	helm_dir=$(dirname "$("$here/helm.sh")")
	row() { printf '    %-62s # %s\n' "$1" "$2"; }
	step "How to reach each part"
	say "    export KUBECONFIG=$KUBECONFIG_PATH"
	say "    export PATH=$KUBE_BIN:$helm_dir:\$PATH   # kubectl and helm as built for the cluster"
	row "kubectl -n $APP_NS get pods,instrumentations" "the sample and the seed's Instrumentation"
	row "kubectl -n $APP_NS describe pod $POD" "the injected pod"
	row "kubectl -n $SYSTEM_NS logs deployment/autotel-operator" "operator logs (webhook decisions)"
	row "kubectl -n $SYSTEM_NS logs daemonset/autotel-collector" "collector logs"
	row "helm -n $SYSTEM_NS status $RELEASE" "the release"
	row "curl http://127.0.0.1:$port/hello" "the app (host network)"
	say "    curl http://$STORE_ADDR/select/logsql/query --data-urlencode 'query=namespace:=\"$APP_NS\"'   # stored lines (LogsQL)"
	row "http://$STORE_ADDR/select/vmui/" "the store's web UI"
	row "$state_root/cluster/logs/" "cluster component logs"
	row "$demo/logs/victoria-logs.log" "store log"
	row "$demo/collector/$SYSTEM_NS/$TRACES_NAME" "spans (OTLP/JSON lines, the collector's file exporter)"
	step "How to stop it"
	say "    make demo-down        # or: hack/demo.sh down  (uninstalls autotel, stops the store by its pid, stops the cluster)"
}

# ---------------------------------------------------------------- down

down() {
	need_root down
	local kc helm
	kc=$("$here/cluster.sh" kubeconfig)
	# The release goes first, while the API server still answers; a cluster
	# that is already gone has nothing to uninstall.
	if [ -f "$kc" ] && "$here/cluster.sh" status >/dev/null 2>&1; then
		load_cluster_env
		KUBECTL="$KUBE_BIN/kubectl" KUBECONFIG_PATH=$kc
		helm=$("$here/helm.sh")
		kubectl -n "$APP_NS" delete deployment sample --ignore-not-found --timeout=60s >/dev/null 2>&1 || true
		kubectl -n "$APP_NS" delete instrumentation python-instrumentation --ignore-not-found --timeout=30s >/dev/null 2>&1 || true
		if "$helm" status "$RELEASE" -n "$SYSTEM_NS" --kubeconfig "$kc" >/dev/null 2>&1; then
			say "demo: helm uninstall $RELEASE"
			"$helm" uninstall "$RELEASE" -n "$SYSTEM_NS" --kubeconfig "$kc" --timeout 60s >/dev/null ||
				say "demo: helm uninstall failed; the cluster is stopped anyway"
		fi
	fi
	stop_store
	"$here/cluster.sh" down
	# Logs stay for post-mortems, as the cluster's do; the rest is state.
	if [ -d "$demo" ]; then
		find "$demo" -mindepth 1 -maxdepth 1 ! -name logs -exec rm -rf {} +
	fi
	say "demo: down"
}

# ---------------------------------------------------------------- main

cmd=up
if [ $# -gt 0 ] && [[ $1 != -* ]]; then
	cmd=$1
	shift
fi
while [ $# -gt 0 ]; do
	case "$1" in
	--app) APP=${2:-}; shift 2 || die "--app needs a value" ;;
	--app=*) APP=${1#*=}; shift ;;
	--python-agent) PYTHON_AGENT=${2:-}; shift 2 || die "--python-agent needs a value" ;;
	--python-agent=*) PYTHON_AGENT=${1#*=}; shift ;;
	--python-image) PYTHON_IMAGE=${2:-}; shift 2 || die "--python-image needs a value" ;;
	--python-image=*) PYTHON_IMAGE=${1#*=}; shift ;;
	-h | --help) usage; exit 0 ;;
	*) usage >&2; die "unknown argument: $1" ;;
	esac
done
case "$APP" in flask | gunicorn | uvicorn) ;; *) die "--app must be flask, gunicorn or uvicorn, not '$APP'" ;; esac
case "$PYTHON_AGENT" in sdk | logs) ;; *) die "--python-agent must be sdk (the OpenTelemetry Python SDK) or logs (autotel's log agent), not '$PYTHON_AGENT'" ;; esac

case "$cmd" in
up) build_cluster_tool && build_demo_tool ;;
down) build_cluster_tool ;;
esac
case "$cmd" in
up) up ;;
down) down ;;
*) usage >&2; die "unknown command: $cmd" ;;
esac
