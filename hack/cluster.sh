#!/usr/bin/env bash
# A real one-node Kubernetes on this machine: etcd, kube-apiserver,
# kube-controller-manager, kube-scheduler (built from source by
# hack/kube-binaries.sh), Debian's containerd + runc, and a kubelet registered
# as one node. Pods run for real; envtest (internal/testenv) only stores them.
#
# Usage: hack/cluster.sh up|down|status|kubeconfig|env|import TARBALL...
#   up          bring everything up, wait for the node to be Ready, print the
#               kubeconfig path on stdout (idempotent: a healthy cluster is left alone)
#   down        stop every process by its pid, remove containers, mounts and
#               state (safe to run twice, and after a crash)
#   status      one line per component; exit 0 when all run, 3 when none do, 1 otherwise
#   kubeconfig  print the admin kubeconfig path
#   import      import docker-archive tarballs into the node's image store
#   env         KEY=VALUE lines for tools and tests: KUBECONFIG,
#               CONTAINERD_ADDRESS, CLUSTER_STATE, CLUSTER_LOGS, NODE_NAME, KUBE_BIN
#
# Needs root (kubelet and containerd mount and make cgroups). Networking stays
# on loopback: every component binds 127.0.0.1, the node's address is
# 127.0.0.1, and pods must use hostNetwork (the CNI network gives them only a
# loopback interface, so nothing can reach a private-range address).
#
# Environment: AUTOTEL_STATE (default ~/.local/state/autotel) holds the
# cluster's state under cluster/; AUTOTEL_CACHE (default ~/.cache/autotel)
# holds built binaries and images.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
state_root=${AUTOTEL_STATE:-${XDG_STATE_HOME:-$HOME/.local/state}/autotel}
state="$state_root/cluster"
cache_root=${AUTOTEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/autotel}

NODE_NAME=autotel-node
ETCD_PORT=2379
ETCD_PEER_PORT=2380
APISERVER_PORT=6443
KCM_PORT=10257
SCHEDULER_PORT=10259
KUBELET_PORT=10250
KUBELET_HEALTHZ_PORT=10248
# Cluster IPs are never routed here (no kube-proxy, every pod on the host
# network), but the API server must have a range; a loopback one keeps even an
# accidental connection on this machine.
SERVICE_CIDR=127.100.0.0/24
SANDBOX_IMAGE=autotel.local/pause:dev

# Debian bookworm packages, pinned to their upstream versions; the glob takes
# Debian's security rebuilds of the same version.
HOST_PACKAGES=("containerd=1.6.20~ds1-*" "runc=1.1.5+ds1-*" "containernetworking-plugins=1.1.1+ds1-*")
CNI_BIN_DIR=/usr/lib/cni

pki="$state/pki"
logs="$state/logs"
pids="$state/pids"
run="$state/run"
kubeconfig="$state/admin.kubeconfig"
containerd_sock="$run/containerd/containerd.sock"
# Stop order: the kubelet first so it restarts nothing, the control plane last.
components=(kubelet containerd kube-scheduler kube-controller-manager kube-apiserver etcd)

say() { echo "cluster: $*" >&2; }
die() { echo "cluster: error: $*" >&2; exit 1; }

need_root() {
	[ "$(id -u)" = 0 ] || die "must run as root: the kubelet and containerd mount filesystems and create cgroups (try: sudo $0 $*)"
}

# ---------------------------------------------------------------- processes

pid_of() {
	local f="$pids/$1.pid" pid
	[ -f "$f" ] || return 1
	pid=$(<"$f")
	# A recycled pid must never be mistaken for ours: the executable must
	# still be the one we started.
	[ -d "/proc/$pid" ] && [ "$(basename "$(readlink "/proc/$pid/exe" 2>/dev/null)")" = "$(<"$pids/$1.exe")" ] || return 1
	echo "$pid"
}

start_daemon() {
	local name=$1
	shift
	mkdir -p "$logs" "$pids"
	say "starting $name (log: $logs/$name.log)"
	# setsid: the daemon outlives this script and the caller's process
	# group; no inherited pipes, so a caller waiting on our output returns.
	setsid "$@" >>"$logs/$name.log" 2>&1 </dev/null &
	echo $! >"$pids/$name.pid"
	basename "$1" >"$pids/$name.exe"
}

stop_pid() { # name pid
	local name=$1 pid=$2
	kill -TERM "$pid" 2>/dev/null || return 0
	for _ in $(seq 1 100); do
		[ -d "/proc/$pid" ] || return 0
		# A zombie is gone for our purposes; its parent reaps it.
		[ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" = Z ] && return 0
		sleep 0.1
	done
	say "$name (pid $pid) ignored SIGTERM for 10s; sending SIGKILL"
	kill -KILL "$pid" 2>/dev/null || true
	for _ in $(seq 1 50); do [ -d "/proc/$pid" ] || return 0; sleep 0.1; done
	die "$name (pid $pid) survived SIGKILL; is it stuck in the kernel (uninterruptible I/O)?"
}

stop_daemon() {
	local name=$1 pid
	if pid=$(pid_of "$name"); then
		say "stopping $name (pid $pid)"
		stop_pid "$name" "$pid"
	fi
	rm -f "$pids/$name.pid" "$pids/$name.exe"
}

# Fails with the log's tail when the daemon died, so a bad flag or a busy
# port is reported at once instead of after a timeout.
check_alive() {
	local name=$1
	pid_of "$name" >/dev/null && return 0
	echo "---- last lines of $logs/$name.log" >&2
	tail -n 30 "$logs/$name.log" >&2 || true
	die "$name exited during start-up (full log: $logs/$name.log)"
}

wait_for() { # name timeout-seconds command...
	local name=$1 timeout=$2 deadline
	shift 2
	deadline=$((SECONDS + timeout))
	until "$@" >/dev/null 2>&1; do
		check_alive "$name"
		[ $SECONDS -lt $deadline ] || die "$name not ready after ${timeout}s (log: $logs/$name.log)"
		sleep 0.2
	done
}

port_free() {
	! ss -Hltn "sport = :$1" | grep -q .
}

# ---------------------------------------------------------------- install

install_host_packages() {
	local missing=() p name
	for p in "${HOST_PACKAGES[@]}"; do
		name=${p%%=*}
		dpkg-query -W -f='${Status}' "$name" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
	done
	[ ${#missing[@]} -gt 0 ] || return 0
	say "installing Debian packages: ${missing[*]}"
	# Without lists (a fresh machine) or with stale ones the pinned versions
	# are unknown: refresh once, then install.
	if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2; then
		apt-get update -qq >&2 || die "apt-get update failed; check the machine's Debian package sources"
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2 ||
			die "could not install ${missing[*]}; if Debian moved to a new upstream version, update HOST_PACKAGES in $0"
	fi
}

# ---------------------------------------------------------------- pki

openssl_cnf() {
	cat <<-'EOF'
		[req]
		distinguished_name = dn
		prompt = no
		[dn]
		CN = unused
		[ca]
		basicConstraints = critical,CA:TRUE
		keyUsage = critical,keyCertSign,cRLSign,digitalSignature
		subjectKeyIdentifier = hash
	EOF
}

new_key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }

new_cert() { # name subject extended-key-usage [subjectAltName]
	local name=$1 subject=$2 eku=$3 san=${4:-}
	new_key "$pki/$name.key"
	{
		echo "[v3]"
		echo "basicConstraints = critical,CA:FALSE"
		echo "keyUsage = critical,digitalSignature,keyEncipherment"
		echo "extendedKeyUsage = $eku"
		echo "authorityKeyIdentifier = keyid"
		[ -z "$san" ] || echo "subjectAltName = $san"
	} >"$pki/$name.ext"
	openssl req -new -config <(openssl_cnf) -key "$pki/$name.key" -subj "$subject" -out "$pki/$name.csr"
	openssl x509 -req -in "$pki/$name.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" -set_serial "0x$(openssl rand -hex 16)" \
		-days 825 -extfile "$pki/$name.ext" -extensions v3 -out "$pki/$name.crt" 2>/dev/null
	rm -f "$pki/$name.csr" "$pki/$name.ext"
}

make_pki() {
	mkdir -p "$pki"
	chmod 700 "$pki"
	new_key "$pki/ca.key"
	openssl req -x509 -new -config <(openssl_cnf) -extensions ca -key "$pki/ca.key" -subj "/CN=autotel-cluster-ca" -days 825 -out "$pki/ca.crt"
	local svc_ip=${SERVICE_CIDR%0/*}1
	new_cert apiserver "/CN=kube-apiserver" serverAuth \
		"IP:127.0.0.1,IP:$svc_ip,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
	new_cert apiserver-kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client" clientAuth
	new_cert admin "/O=system:masters/CN=autotel-admin" clientAuth
	new_cert controller-manager "/CN=system:kube-controller-manager" clientAuth
	new_cert scheduler "/CN=system:kube-scheduler" clientAuth
	new_cert kubelet-client "/O=system:nodes/CN=system:node:$NODE_NAME" clientAuth
	new_cert kubelet-serving "/CN=$NODE_NAME" serverAuth "IP:127.0.0.1,DNS:$NODE_NAME,DNS:localhost"
	# The service-account token signing pair (ES256).
	new_key "$pki/sa.key"
	openssl pkey -in "$pki/sa.key" -pubout -out "$pki/sa.pub" 2>/dev/null
}

write_kubeconfig() { # path cert-name
	cat >"$1" <<-EOF
		apiVersion: v1
		kind: Config
		clusters:
		- name: autotel
		  cluster:
		    server: https://127.0.0.1:$APISERVER_PORT
		    certificate-authority: $pki/ca.crt
		users:
		- name: $2
		  user:
		    client-certificate: $pki/$2.crt
		    client-key: $pki/$2.key
		contexts:
		- name: autotel
		  context: {cluster: autotel, user: $2}
		current-context: autotel
	EOF
}

# ---------------------------------------------------------------- configs

write_containerd_config() {
	mkdir -p "$state/containerd" "$state/cni/net.d" "$run/containerd"
	cat >"$state/containerd/config.toml" <<-EOF
		version = 2
		root = "$state/containerd/root"
		state = "$run/containerd/state"
		# Plugins that write outside our folders or need devices we lack.
		disabled_plugins = ["io.containerd.internal.v1.opt", "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.zfs", "io.containerd.tracing.processor.v1.otlp"]

		[grpc]
		  address = "$containerd_sock"
		[ttrpc]
		  address = "$run/containerd/containerd.sock.ttrpc"
		[debug]
		  address = ""
		[metrics]
		  address = ""

		[plugins."io.containerd.grpc.v1.cri"]
		  sandbox_image = "$SANDBOX_IMAGE"
		  # This machine refuses to lower oom_score_adj; clamp what the kubelet
		  # asks for (Guaranteed pods want -997) to containerd's own value.
		  restrict_oom_score_adj = true
		  disable_apparmor = true
		  stream_server_address = "127.0.0.1"
		  stream_server_port = "0"
		  enable_cdi = false
		  [plugins."io.containerd.grpc.v1.cri".containerd]
		    snapshotter = "overlayfs"
		    default_runtime_name = "runc"
		    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
		      runtime_type = "io.containerd.runc.v2"
		      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
		        SystemdCgroup = false
		  [plugins."io.containerd.grpc.v1.cri".cni]
		    bin_dir = "$CNI_BIN_DIR"
		    conf_dir = "$state/cni/net.d"
		  [plugins."io.containerd.grpc.v1.cri".registry]
		    config_path = ""
	EOF
	# The runtime reports the node's network ready only with a CNI config.
	# Loopback only: a pod that forgets hostNetwork gets no route anywhere.
	cat >"$state/cni/net.d/10-autotel-loopback.conflist" <<-'EOF'
		{"cniVersion": "0.4.0", "name": "autotel-loopback", "plugins": [{"type": "loopback"}]}
	EOF
}

write_kubelet_config() {
	mkdir -p "$state/kubelet"
	cat >"$state/kubelet-config.yaml" <<-EOF
		apiVersion: kubelet.config.k8s.io/v1beta1
		kind: KubeletConfiguration
		containerRuntimeEndpoint: unix://$containerd_sock
		address: 127.0.0.1
		port: $KUBELET_PORT
		readOnlyPort: 0
		healthzBindAddress: 127.0.0.1
		healthzPort: $KUBELET_HEALTHZ_PORT
		tlsCertFile: $pki/kubelet-serving.crt
		tlsPrivateKeyFile: $pki/kubelet-serving.key
		authentication:
		  anonymous: {enabled: false}
		  webhook: {enabled: true}
		  x509: {clientCAFile: $pki/ca.crt}
		authorization:
		  mode: Webhook
		# This machine runs cgroup v1 and gives us no systemd: cgroupfs, no
		# per-QoS hierarchy, nothing reserved.
		failCgroupV1: false
		cgroupDriver: cgroupfs
		cgroupsPerQOS: false
		enforceNodeAllocatable: []
		# The kubelet may not lower its own oom_score_adj here either.
		oomScoreAdj: 0
		failSwapOn: false
		# A development machine's disk is shared with everything else: evict
		# only when it is truly full, and never garbage-collect our images
		# (they cannot be pulled back).
		evictionHard:
		  memory.available: 100Mi
		  nodefs.available: 1%
		  nodefs.inodesFree: 1%
		  imagefs.available: 1%
		imageGCHighThresholdPercent: 100
		imageGCLowThresholdPercent: 99
		clusterDomain: cluster.local
		resolvConf: /etc/resolv.conf
		serializeImagePulls: false
		registerNode: true
		# Short sync periods make tests fast without costing much on one node.
		nodeStatusUpdateFrequency: 5s
		syncFrequency: 10s
		fileCheckFrequency: 10s
		shutdownGracePeriod: 0s
	EOF
}

# ---------------------------------------------------------------- up

up_failed() {
	local rc=$?
	[ $rc -ne 0 ] || return 0
	say "bring-up failed; stopping what was started (logs stay in $logs)"
	down || true
}

up() {
	need_root up
	if [ "$(status_quiet)" = all ] && node_ready; then
		say "already up"
		echo "$kubeconfig"
		return 0
	fi
	# Whatever a crashed or half-stopped run left (processes, mounts, etcd
	# data) goes first: every bring-up starts from nothing.
	if [ -d "$state" ] && [ -n "$(find "$state" -mindepth 1 -maxdepth 1 ! -name logs -print -quit)" ]; then
		say "state of a previous cluster found; tearing it down first"
		down
	fi
	# A failed bring-up stops what it started; the logs stay.
	trap up_failed EXIT
	local t0=$SECONDS bin pause
	install_host_packages
	bin=$("$here/kube-binaries.sh" kube-apiserver etcd kubectl kubelet kube-scheduler kube-controller-manager)
	for p in $ETCD_PORT $ETCD_PEER_PORT $APISERVER_PORT $KCM_PORT $SCHEDULER_PORT $KUBELET_PORT $KUBELET_HEALTHZ_PORT; do
		port_free "$p" || die "port $p on this machine is in use ($(ss -Hltnp "sport = :$p" | awk '{print $NF}' | head -1)); stop that process, or run '$0 down' if it is a previous cluster"
	done
	rm -rf "$logs"
	mkdir -p "$state" "$logs" "$pids" "$run"
	make_pki
	write_kubeconfig "$kubeconfig" admin
	write_kubeconfig "$state/controller-manager.kubeconfig" controller-manager
	write_kubeconfig "$state/scheduler.kubeconfig" scheduler
	write_kubeconfig "$state/kubelet.kubeconfig" kubelet-client
	write_containerd_config
	write_kubelet_config
	local kubectl=("$bin/kubectl" --kubeconfig "$kubeconfig")

	start_daemon etcd "$bin/etcd" --name autotel --data-dir "$state/etcd" \
		--listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
		--listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
		--initial-cluster "autotel=http://127.0.0.1:$ETCD_PEER_PORT" --unsafe-no-fsync --log-level warn
	# containerd starts alongside the control plane: both take seconds.
	start_daemon containerd /usr/bin/containerd --config "$state/containerd/config.toml"
	wait_for etcd 60 curl -fsS "http://127.0.0.1:$ETCD_PORT/health"

	start_daemon kube-apiserver "$bin/kube-apiserver" \
		--etcd-servers "http://127.0.0.1:$ETCD_PORT" \
		--bind-address 127.0.0.1 --advertise-address 127.0.0.1 --secure-port "$APISERVER_PORT" \
		--tls-cert-file "$pki/apiserver.crt" --tls-private-key-file "$pki/apiserver.key" \
		--client-ca-file "$pki/ca.crt" \
		--service-account-key-file "$pki/sa.pub" --service-account-signing-key-file "$pki/sa.key" \
		--service-account-issuer https://kubernetes.default.svc.cluster.local \
		--service-cluster-ip-range "$SERVICE_CIDR" \
		--authorization-mode Node,RBAC \
		--enable-admission-plugins NodeRestriction \
		--allow-privileged=true \
		--kubelet-client-certificate "$pki/apiserver-kubelet-client.crt" --kubelet-client-key "$pki/apiserver-kubelet-client.key" \
		--kubelet-certificate-authority "$pki/ca.crt" --kubelet-preferred-address-types InternalIP \
		--endpoint-reconciler-type none \
		--profiling=false
	wait_for containerd 60 test -S "$containerd_sock"
	pause=$(build_pause_image)
	import_images "$pause"
	wait_for kube-apiserver 120 "${kubectl[@]}" get --raw /readyz

	start_daemon kube-controller-manager "$bin/kube-controller-manager" \
		--kubeconfig "$state/controller-manager.kubeconfig" \
		--authentication-kubeconfig "$state/controller-manager.kubeconfig" \
		--authorization-kubeconfig "$state/controller-manager.kubeconfig" \
		--bind-address 127.0.0.1 --secure-port "$KCM_PORT" \
		--service-account-private-key-file "$pki/sa.key" --root-ca-file "$pki/ca.crt" \
		--use-service-account-credentials=true --cluster-name autotel --leader-elect=false \
		--service-cluster-ip-range "$SERVICE_CIDR" --profiling=false
	start_daemon kube-scheduler "$bin/kube-scheduler" \
		--kubeconfig "$state/scheduler.kubeconfig" \
		--authentication-kubeconfig "$state/scheduler.kubeconfig" \
		--authorization-kubeconfig "$state/scheduler.kubeconfig" \
		--bind-address 127.0.0.1 --secure-port "$SCHEDULER_PORT" --leader-elect=false --profiling=false
	start_daemon kubelet "$bin/kubelet" \
		--config "$state/kubelet-config.yaml" --kubeconfig "$state/kubelet.kubeconfig" \
		--root-dir "$state/kubelet" --hostname-override "$NODE_NAME" --node-ip 127.0.0.1

	wait_for kubelet 120 "${kubectl[@]}" get node "$NODE_NAME"
	# The kubelet refuses a loopback --node-ip ("nodeIP can't be loopback
	# address") and then leaves the node's addresses alone, so set them here:
	# status.hostIP, hostNetwork pods' IPs and the API server's way to the
	# kubelet all become 127.0.0.1. Without --node-ip the kubelet would
	# publish the machine's external address instead.
	"${kubectl[@]}" patch node "$NODE_NAME" --subresource=status --type=merge \
		-p '{"status":{"addresses":[{"type":"InternalIP","address":"127.0.0.1"},{"type":"Hostname","address":"'"$NODE_NAME"'"}]}}' >/dev/null ||
		die "could not set the node's address to 127.0.0.1"
	wait_for kubelet 120 "${kubectl[@]}" wait --for=condition=Ready "node/$NODE_NAME" --timeout=2s
	# Pods are refused until the default ServiceAccount exists.
	wait_for kube-controller-manager 60 "${kubectl[@]}" -n default get serviceaccount default
	check_alive kube-scheduler
	trap - EXIT
	say "node $NODE_NAME Ready in $((SECONDS - t0))s; export KUBECONFIG=$kubeconfig"
	echo "$kubeconfig"
}

# ---------------------------------------------------------------- images

image_tool() {
	local out="$cache_root/tools/autotel-image"
	# go build is incremental: a no-op when nothing changed.
	(cd "$repo" && CGO_ENABLED=0 go build -trimpath -o "$out" ./cmd/autotel-image) || die "building cmd/autotel-image failed"
	echo "$out"
}

# $SANDBOX_IMAGE: the pause row of internal/imagebuild's table.
build_pause_image() {
	local tool
	tool=$(image_tool)
	"$tool" build --repo "$repo" --cache "$cache_root" pause || die "building the pause image (autotel-image build pause) failed"
}

import_images() {
	local t
	for t in "$@"; do
		[ -f "$t" ] || die "no image tarball at $t"
		ctr --address "$containerd_sock" -n k8s.io images import "$t" >/dev/null ||
			die "importing $t into containerd failed (is the cluster up? '$0 status')"
	done
}

import_cmd() {
	need_root import
	[ $# -gt 0 ] || die "usage: $0 import TARBALL..."
	pid_of containerd >/dev/null || die "containerd is not running; run '$0 up' first"
	import_images "$@"
}

# ---------------------------------------------------------------- down

# Containers first: the kubelet is gone, so nothing restarts them, and
# containerd can still tell each shim to kill its processes and exit.
remove_containers() {
	pid_of containerd >/dev/null || return 0
	local c="ctr --address $containerd_sock -n k8s.io" id
	for id in $($c tasks ls -q 2>/dev/null); do
		$c tasks kill -a -s SIGKILL "$id" >/dev/null 2>&1 || true
	done
	local err
	for id in $($c tasks ls -q 2>/dev/null); do
		# A task whose processes all died may already be gone: "not found".
		err=$($c tasks delete -f "$id" 2>&1 >/dev/null) || grep -q 'not found' <<<"$err" || say "could not delete task $id: $err"
	done
	for id in $($c containers ls -q 2>/dev/null); do
		$c containers delete "$id" >/dev/null 2>&1 || say "could not delete container $id"
	done
}

# Shims outlive containerd by design. Ours name our socket on their command
# line; each is stopped by its pid.
stop_leftover_shims() {
	local p cmd
	for p in /proc/[0-9]*; do
		[ "$(basename "$(readlink "$p/exe" 2>/dev/null)")" = containerd-shim-runc-v2 ] || continue
		cmd=$(tr '\0' ' ' <"$p/cmdline" 2>/dev/null) || continue
		case "$cmd" in *"$containerd_sock"*) ;; *) continue ;; esac
		say "stopping leftover shim (pid ${p#/proc/})"
		stop_pid shim "${p#/proc/}"
	done
}

unmount_state() {
	local m
	# Deepest first; a lazy unmount is the fallback for a busy mount.
	awk -v s="$state" '{ if (index($5, s "/") == 1) print $5 }' /proc/self/mountinfo | sort -r | while IFS= read -r m; do
		umount "$m" 2>/dev/null || umount -l "$m" || die "cannot unmount $m; see 'fuser -vm $m'"
	done
}

# runc and the shims keep their state in fixed folders under /run/containerd,
# and runc leaves the cgroup parent it made for the pods in every hierarchy.
# rmdir removes only what is empty, so a containerd of the machine's own
# keeps its files and a cgroup still holding processes stays.
remove_runtime_leftovers() {
	local d
	rmdir /run/containerd/runc/k8s.io /run/containerd/runc /run/containerd/s /run/containerd 2>/dev/null || true
	for d in /sys/fs/cgroup/*/k8s.io; do
		[ -d "$d" ] || continue
		find "$d" -depth -type d -exec rmdir {} + 2>/dev/null || say "cgroup $d still holds processes: $(tr '\n' ' ' <"$d/cgroup.procs" 2>/dev/null)"
	done
}

# The kubelet writes pod logs to /var/log/pods (and links in
# /var/log/containers); remove those of the pods this cluster ran.
remove_pod_logs() {
	local d uid l
	[ -d "$state/kubelet/pods" ] || return 0
	for d in "$state"/kubelet/pods/*/; do
		uid=$(basename "$d")
		rm -rf /var/log/pods/*_"$uid"
	done
	for l in /var/log/containers/*.log; do
		[ -L "$l" ] && [ ! -e "$l" ] && rm -f "$l"
	done
	rmdir /var/log/pods /var/log/containers 2>/dev/null || true
}

down() {
	need_root down
	local name
	stop_daemon kubelet
	remove_containers
	for name in "${components[@]:1}"; do
		stop_daemon "$name"
	done
	stop_leftover_shims
	unmount_state
	remove_runtime_leftovers
	remove_pod_logs
	if [ -d "$state" ]; then
		# Keep the logs of the last run for post-mortems; the rest is state.
		find "$state" -mindepth 1 -maxdepth 1 ! -name logs -exec rm -rf {} +
	fi
	say "down"
}

# ---------------------------------------------------------------- status

status_quiet() {
	local n=0 name
	for name in "${components[@]}"; do pid_of "$name" >/dev/null && n=$((n + 1)); done
	if [ $n -eq ${#components[@]} ]; then echo all; elif [ $n -eq 0 ]; then echo none; else echo some; fi
}

node_ready() {
	local kubectl
	[ -f "$kubeconfig" ] && kubectl="$("$here/kube-binaries.sh" kubectl)/kubectl" &&
		[ "$("$kubectl" --kubeconfig "$kubeconfig" get node "$NODE_NAME" -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null)" = True ]
}

status() {
	local name pid
	for name in "${components[@]}"; do
		if pid=$(pid_of "$name"); then
			printf '%-24s running (pid %s, rss %s MiB)\n' "$name" "$pid" "$(($(awk '/^VmRSS/{print $2}' "/proc/$pid/status") / 1024))"
		else
			printf '%-24s stopped\n' "$name"
		fi
	done
	if node_ready; then echo "node $NODE_NAME Ready; kubeconfig $kubeconfig"; else echo "node $NODE_NAME not Ready"; fi
	case $(status_quiet) in all) return 0 ;; none) return 3 ;; *) return 1 ;; esac
}

case "${1:-}" in
up) up ;;
down) down ;;
status) status ;;
kubeconfig) echo "$kubeconfig" ;;
env)
	printf 'KUBECONFIG=%s\nCONTAINERD_ADDRESS=%s\nCLUSTER_STATE=%s\nCLUSTER_LOGS=%s\nNODE_NAME=%s\nKUBE_BIN=%s\n' \
		"$kubeconfig" "$containerd_sock" "$state" "$logs" "$NODE_NAME" "$("$here/kube-binaries.sh" kubectl)"
	;;
import) shift; import_cmd "$@" ;;
*) die "usage: $0 up|down|status|kubeconfig|env|import TARBALL..." ;;
esac
