# autotel: see README.md for the two commands that matter.
SHELL := /usr/bin/env bash
GO ?= go

.PHONY: run run-cluster test test-go test-clients test-agent test-collector test-loki bench-collector test-chart test-logpath test-testkit chart-sync helm cluster-up cluster-down cluster-status images e2e demo demo-down test-demo unit generate verify-generated build bench kube-binaries vet bench-sdk

## run: bring up a local control plane and run the operator against it
## (or, with KUBECONFIG set, run the operator against that cluster).
run:
	@if [ -n "$$KUBECONFIG" ]; then $(MAKE) --no-print-directory run-cluster; \
	else $(GO) run ./cmd/autotel-local; fi

run-cluster:
	$(GO) run ./cmd/operator $(ARGS)

## test: everything CI runs.
test: verify-generated vet test-testkit test-go test-clients test-agent test-collector test-loki test-chart test-logpath

## test-go: unit, golden and API-server tests of the operator module.
test-go:
	@bin=$$(hack/kube-binaries.sh) && KUBEBUILDER_ASSETS="$$bin" $(GO) test -count=1 ./...

## test-collector: autotel-collector and its Loki exporter against a real
## Loki-protocol store (VictoriaLogs, installed by hack/collector-victorialogs.sh).
test-collector:
	$(MAKE) -C collector test

## test-loki: the Loki exporter's edge cases (names, limits, drop counts,
## stable streams) against a real Grafana Loki built by hack/loki.sh.
test-loki:
	$(MAKE) -C collector loki

## bench-collector: records/s, CPU-s per million records and peak RSS,
## against upstream's last Loki exporter (v0.130.0) in the same run.
bench-collector:
	$(MAKE) -C collector bench

## test-chart: lint, render and dry-run the chart and kustomize manifests on a
## real kube-apiserver; build what the Dockerfiles build.
test-chart:
	@bin=$$(hack/kube-binaries.sh) && cd test/chart && $(GO) vet ./... && KUBEBUILDER_ASSETS="$$bin" $(GO) test -count=1 ./...

## chart-sync: after `make generate` or a chart change: CRD copies, kustomize base, golden files.
chart-sync:
	hack/helm-sync.sh

helm:
	hack/helm.sh

## test-logpath: the seed's Python servers → autotel-collector → VictoriaLogs,
## and the per-workload log path (each line stored once).
test-logpath:
	cd test/logpath && $(GO) test -count=1 -timeout 15m ./...

## test-testkit: the shared test kit (testkit/, its own module) that the
## other test suites use.
test-testkit:
	cd testkit && $(GO) vet ./... && $(GO) test -count=1 -race ./...

## test-agent: autotel's Python log agent, with real Flask/gunicorn/uvicorn servers.
test-agent:
	agent/python/test.sh

## test-clients: real OpenTelemetry SDKs and agents (Python and Java from the
## upstream-equivalent images, Node.js, Go) run with the injected env.
test-clients:
	cd test/clients && $(GO) vet ./... && $(GO) test -count=1 ./...

unit:
	$(GO) test -count=1 ./api/... ./internal/...

build:
	$(GO) build -o bin/ ./cmd/...

kube-binaries:
	hack/kube-binaries.sh

## generate: deepcopy, CRDs, RBAC and webhook configurations from markers.
generate:
	$(GO) tool controller-gen object paths=./api/...
	$(GO) tool controller-gen crd:generateEmbeddedObjectMeta=true rbac:roleName=autotel-operator webhook paths=./... \
		output:crd:artifacts:config=config/crd/bases \
		output:rbac:artifacts:config=config/rbac \
		output:webhook:artifacts:config=config/webhook

## verify-generated: fail when committed generated files are stale.
verify-generated: generate
	@git diff --exit-code -- api config || { echo "generated files are out of date: run 'make generate' and commit the result" >&2; exit 1; }
	@test -z "$$(git ls-files --others --exclude-standard -- api config)" || { echo "untracked generated files: run 'make generate' and commit them" >&2; git ls-files --others --exclude-standard -- api config >&2; exit 1; }
	$(MAKE) -C collector verify-generated

## vet: go vet and gofmt, then golangci-lint (operator module), shellcheck and
## ruff (Python agent); hack/lint-tools.sh installs the pinned linters once.
vet:
	$(GO) vet ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1; }
	@gl=$$(hack/lint-tools.sh golangci-lint) && echo "golangci-lint run ./..." && "$$gl" run ./...
	@# Bash scripts as bash; the scripts injected into app containers run under /bin/sh.
	@sc=$$(hack/lint-tools.sh shellcheck) && echo "shellcheck" && \
		"$$sc" .ci/run hack/*.sh hack/*/*.sh agent/python/*.sh test/clients/nodejs/install.sh && \
		"$$sc" --shell=sh internal/instrumentation/scripts/*.sh
	@ruff=$$(hack/lint-tools.sh ruff) && echo "ruff check agent/python" && \
		"$$ruff" check agent/python/src agent/python/tests agent/python/bench

## bench: pod webhook benchmark (handler alone and through the API server).
bench:
	@bin=$$(hack/kube-binaries.sh) && KUBEBUILDER_ASSETS="$$bin" $(GO) test -run '^$$' -bench . -benchmem -benchtime=$${BENCHTIME:-3s} ./internal/webhook/podwebhook/ ./test/integration/

## cluster-up / cluster-down: a real one-node cluster on this machine
## (kubelet + containerd, loopback only; root). See docs/local-cluster.md.
cluster-up:
	hack/cluster.sh up

cluster-down:
	hack/cluster.sh down

cluster-status:
	hack/cluster.sh status

images:
	hack/cluster-images.sh import busybox examples-flask examples-gunicorn examples-uvicorn python-agent

## e2e: the seed's pods run on the one-node cluster; brings it up and down itself.
e2e:
	$(GO) vet -tags e2e ./test/e2e/...
	$(GO) test -tags e2e -timeout 40m -count=1 ./test/e2e/...

## demo: the seed's whole story on a one-node cluster on this machine (root);
## ARGS="--app gunicorn|uvicorn" or ARGS="--python-image IMAGE". docs/demo.md.
demo:
	hack/demo.sh $(ARGS)

demo-down:
	hack/demo.sh down

## test-demo: runs the demo end to end (four variants: the SDK with flask, gunicorn,
## uvicorn and --python-image; autotel's log agent) and checks its output.
test-demo:
	$(GO) vet -tags demo ./test/demo/
	$(GO) test -tags demo -timeout 60m -count=1 -v ./test/demo/

## bench-sdk: gunicorn (4 workers) under a fixed load with the OpenTelemetry
## Python SDK image, autotel's log agent, and nothing: latency, RSS per
## worker, start time, records exported/s (root; a table in the log).
bench-sdk:
	set -o pipefail; cd test/clients && $(GO) vet -tags sdkbench ./sdkbench/ && $(GO) test -tags sdkbench -count=1 -v -run TestSDKBench ./sdkbench/ 2>&1 | grep -v '^          '

## scale: the scale tier (not in `make test`): real kube-apiserver, etcd and
## kube-controller-manager, kwok's fake nodes, the operator as a process;
## prints a table. Sizes: SCALE_NODES SCALE_PODS SCALE_NAMESPACES
## SCALE_INSTRUMENTATIONS SCALE_CHANGED (see test/scale); SCALE_OUT keeps
## the operator's heap profile.
.PHONY: scale
scale:
	@bin=$$(hack/kube-binaries.sh kube-apiserver etcd kube-controller-manager) && KUBEBUILDER_ASSETS="$$bin" \
		$(GO) test -tags scale -timeout 90m -count=1 -run TestScale -v ./test/scale/
