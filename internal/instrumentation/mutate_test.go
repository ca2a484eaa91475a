package instrumentation

import (
	"flag"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/utils/ptr"
)

var update = flag.Bool("update", false, "rewrite testdata/golden/*.yaml from the current output (then review every file by hand)")

// Expected values are written out literally (not taken from the package's
// constants) so that the table checks the implementation against the
// reference, not against itself. § references are to sections of
// docs/upstream-behaviour.md.
const (
	wImage     = "ghcr.io/open-telemetry/opentelemetry-operator/autoinstrumentation-python:0.64b0"
	wEndpoint  = "http://otel-collector.observability:4318"
	wPPPrefix  = "/otel-auto-instrumentation-python/opentelemetry/instrumentation/auto_instrumentation"
	wPPSuffix  = "/otel-auto-instrumentation-python"
	wMountPath = "/otel-auto-instrumentation-python"
	wPyName    = "opentelemetry-auto-instrumentation-python" // init container and volume
	wGlibcSrc  = "/autoinstrumentation/."
	wMuslSrc   = "/autoinstrumentation-musl/."
	wDigest    = "sha256:3b5e4d0f1c2a9876543210fedcba9876543210fedcba9876543210fedcba9876"

	eNodeIP     = "OTEL_NODE_IP=<fieldRef:status.hostIP>"
	ePodIP      = "OTEL_POD_IP=<fieldRef:status.podIP>"
	ePythonPath = "PYTHONPATH=" + wPPPrefix + ":" + wPPSuffix
	eProtocol   = "OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf"
	eTraces     = "OTEL_TRACES_EXPORTER=otlp"
	eMetrics    = "OTEL_METRICS_EXPORTER=otlp"
	eLogs       = "OTEL_LOGS_EXPORTER=otlp"
	eEndpoint   = "OTEL_EXPORTER_OTLP_ENDPOINT=" + wEndpoint
	ePodName    = "OTEL_RESOURCE_ATTRIBUTES_POD_NAME=<fieldRef:metadata.name>"
	ePodUID     = "OTEL_RESOURCE_ATTRIBUTES_POD_UID=<fieldRef:metadata.uid>"
	eNodeName   = "OTEL_RESOURCE_ATTRIBUTES_NODE_NAME=<fieldRef:spec.nodeName>"

	aNode = "k8s.node.name=$(OTEL_RESOURCE_ATTRIBUTES_NODE_NAME)"
	aPod  = "k8s.pod.name=$(OTEL_RESOURCE_ATTRIBUTES_POD_NAME)"

	rsName = "shop-frontend-5c8d7f9b4"
)

func eService(name string) string { return "OTEL_SERVICE_NAME=" + name }

// eRes is OTEL_RESOURCE_ATTRIBUTES with the attributes in the order given:
// the table lists them already sorted, which checks the sorting.
func eRes(attrs ...string) string { return "OTEL_RESOURCE_ATTRIBUTES=" + strings.Join(attrs, ",") }

func aInstance(ns, c string) string {
	return "service.instance.id=" + ns + ".$(OTEL_RESOURCE_ATTRIBUTES_POD_NAME)." + c
}

// stdAttrs are the resource attributes of container c of an ownerless pod in
// namespace demo (§3), with service.version from the image when not empty.
func stdAttrs(c, version string) []string {
	a := []string{"k8s.container.name=" + c, "k8s.namespace.name=demo", aNode, aPod, aInstance("demo", c), "service.namespace=demo"}
	if version != "" {
		a = append(a, "service.version="+version)
	}
	return a
}

// deployAttrs: container app of a pod of Deployment shop-frontend.
var deployAttrs = []string{
	"k8s.container.name=app", "k8s.deployment.name=shop-frontend", "k8s.namespace.name=demo", aNode, aPod,
	"k8s.replicaset.name=" + rsName, aInstance("demo", "app"), "service.namespace=demo", "service.version=1.4.2",
}

// rsAttrs: container app of a pod whose ReplicaSet has no (known) Deployment.
var rsAttrs = []string{
	"k8s.container.name=app", "k8s.namespace.name=demo", aNode, aPod,
	"k8s.replicaset.name=" + rsName, aInstance("demo", "app"), "service.namespace=demo", "service.version=1.4.2",
}

// pythonEnv is the §2.4 env of a container that had no env of its own,
// for an Instrumentation with only exporter.endpoint set.
func pythonEnv(service string, attrs ...string) []string {
	return []string{eNodeIP, ePodIP, ePythonPath, eProtocol, eTraces, eMetrics, eLogs,
		eService(service), eEndpoint, ePodName, eNodeName, eRes(attrs...)}
}

// replaceEnv swaps one rendered entry of a list for another.
func replaceEnv(list []string, old, repl string) []string {
	out := slices.Clone(list)
	i := slices.Index(out, old)
	if i < 0 {
		panic("replaceEnv: " + old + " not in list")
	}
	if repl == "" {
		return slices.Delete(out, i, i+1)
	}
	out[i] = repl
	return out
}

// insertEnv inserts entries before the entry named before.
func insertEnv(list []string, before string, add ...string) []string {
	out := slices.Clone(list)
	i := slices.Index(out, before)
	if i < 0 {
		panic("insertEnv: " + before + " not in list")
	}
	return slices.Insert(out, i, add...)
}

// initWant describes the Python init container (§2.4); zero fields mean
// the defaults: image wImage, glibc source, no pull policy, no security
// context, no resources, appended last.
type initWant struct {
	image     string
	src       string
	pull      corev1.PullPolicy
	sc        *corev1.SecurityContext
	resources corev1.ResourceRequirements
	index     *int
}

type expect struct {
	outcome Outcome
	// reason must be a substring of Report.Reason; empty means the reason
	// must be empty.
	reason string
	// instrumentation is the first language's resolved namespace/name.
	instrumentation string
	// requested is the first language's effective annotation value.
	requested string
	// env: container name → the exact rendered env list, in order.
	env map[string][]string
	// injected: language → containers reported injected, in order.
	injected map[Language][]string
	// skipped: "language/container" → substring of its skip reason.
	skipped map[string]string
	// warnings: "Reason: Message" of each warning.
	warnings []string
	// initContainers: names after mutation, in order (checked if non-nil).
	initContainers []string
	// init: Python init container details (defaults if nil).
	init *initWant
	// volume: the Python volume (200Mi emptyDir if nil).
	volume *corev1.Volume
	// containers: regular container names after mutation, in order
	// (checked if non-nil).
	containers []string
	// exact: the full spec of named containers (init or regular) after
	// mutation. A container also named in env has its env checked there.
	exact map[string]corev1.Container
	// volumes: the pod's volumes after mutation, in order (checked if non-nil).
	volumes []corev1.Volume
	// mounts: the exact volume mounts of named containers (empty: none).
	mounts map[string][]corev1.VolumeMount
	// duplicateEnvQuirk lifts the "no variable twice" invariant for the
	// documented upstream quirk (§3: k8s.pod.name/k8s.node.name and their
	// variables are forced again when a second language configures a
	// container that already has them).
	duplicateEnvQuirk bool
	// extra holds case-specific assertions.
	extra func(t *testing.T, in, out *corev1.Pod, r Report)
}

type mutateCase struct {
	name   string
	config func(*Config) // applied to DefaultConfig()
	want   expect
	// differences are the ids (docs/differences.yaml) of the deliberate
	// differences from upstream this case's golden shows;
	// TestGoldenDifferences checks the list (differences_test.go).
	differences []string
}

var mutateCases = []mutateCase{
	// ---------------------------------------------------------------- §2.1 inject-python values
	{name: "inject-true", want: expect{
		outcome: OutcomeInjected, requested: "true", instrumentation: "demo/python-inst",
		env: map[string][]string{"app": {eNodeIP, ePodIP, "FLASK_ENV=production", ePythonPath, eProtocol, eTraces, eMetrics, eLogs,
			eService("web"), eEndpoint, ePodName, eNodeName, eRes(stdAttrs("app", "1.4.2")...)}},
		injected:       map[Language][]string{Python: {"app"}},
		initContainers: []string{wPyName},
		extra: func(t *testing.T, _, out *corev1.Pod, _ Report) {
			wantMounts(t, out, "app", corev1.VolumeMount{Name: wPyName, MountPath: wMountPath})
		},
	}},
	{name: "inject-true-uppercase", want: expect{
		outcome: OutcomeInjected, requested: "TRUE", instrumentation: "demo/python-inst",
		env:      map[string][]string{"app": pythonEnv("web", stdAttrs("app", "1.4.2")...)},
		injected: map[Language][]string{Python: {"app"}},
	}},
	{name: "inject-false", want: expect{outcome: OutcomeNotRequested}},
	{name: "inject-false-uppercase", want: expect{outcome: OutcomeNotRequested}},
	{name: "inject-by-name", want: expect{
		outcome: OutcomeInjected, requested: "other-inst", instrumentation: "demo/other-inst",
		env: map[string][]string{"app": replaceEnv(pythonEnv("web", stdAttrs("app", "1.4.2")...),
			eEndpoint, "OTEL_EXPORTER_OTLP_ENDPOINT=http://other-collector:4318")},
		injected: map[Language][]string{Python: {"app"}},
	}},
	{name: "inject-by-namespace-and-name", want: expect{
		outcome: OutcomeInjected, requested: "observability/shared", instrumentation: "observability/shared",
		// k8s.namespace.name and service.namespace stay the pod's namespace.
		env: map[string][]string{"app": replaceEnv(pythonEnv("web", stdAttrs("app", "1.4.2")...),
			eEndpoint, "OTEL_EXPORTER_OTLP_ENDPOINT=http://shared-collector.observability:4318")},
		injected: map[Language][]string{Python: {"app"}},
	}},
	// §2.2 selection errors: fail-open, pod unchanged.
	{name: "no-instrumentation", want: expect{outcome: OutcomeError, reason: "no OpenTelemetry Instrumentation instances available"}},
	{name: "multiple-instrumentations", want: expect{outcome: OutcomeError,
		reason: "multiple OpenTelemetry Instrumentation instances available, cannot determine which one to select"}},
	{name: "named-instrumentation-missing", want: expect{outcome: OutcomeError, reason: "demo/missing-inst not found"}},

	// ---------------------------------------------------------------- §2.1 namespace vs pod (annotationValue)
	{name: "namespace-annotation-only", want: expect{
		outcome: OutcomeInjected, requested: "true", instrumentation: "demo/python-inst",
		env:      map[string][]string{"app": pythonEnv("web", stdAttrs("app", "1.4.2")...)},
		injected: map[Language][]string{Python: {"app"}},
	}},
	{name: "pod-false-overrides-namespace-true", want: expect{outcome: OutcomeNotRequested}},
	{name: "pod-name-overrides-namespace-true", want: expect{
		outcome: OutcomeInjected, requested: "other-inst", instrumentation: "demo/other-inst",
		env: map[string][]string{"app": replaceEnv(pythonEnv("web", stdAttrs("app", "1.4.2")...),
			eEndpoint, "OTEL_EXPORTER_OTLP_ENDPOINT=http://other-collector:4318")},
		injected: map[Language][]string{Python: {"app"}},
	}},
	{name: "pod-true-namespace-false", want: expect{
		outcome: OutcomeInjected, requested: "true", instrumentation: "demo/python-inst",
		env:      map[string][]string{"app": pythonEnv("web", stdAttrs("app", "1.4.2")...)},
		injected: map[Language][]string{Python: {"app"}},
	}},
	{name: "pod-true-namespace-name", want: expect{
		outcome: OutcomeInjected, requested: "other-inst", instrumentation: "demo/other-inst",
		env: map[string][]string{"app": replaceEnv(pythonEnv("web", stdAttrs("app", "1.4.2")...),
			eEndpoint, "OTEL_EXPORTER_OTLP_ENDPOINT=http://other-collector:4318")},
		injected: map[Language][]string{Python: {"app"}},
	}},

	// ---------------------------------------------------------------- §2.2 operator config
	{name: "python-disabled", config: func(c *Config) { c.Enabled[Python] = false }, want: expect{
		outcome: OutcomeSkipped, reason: "disabled",
		warnings: []string{"InstrumentationRequestRejected: support for Python auto instrumentation is not enabled"},
	}},

	// ---------------------------------------------------------------- §2.1/§2.4 container names
	{name: "container-names-regular", want: expect{
		outcome: OutcomeInjected,
		env: map[string][]string{
			"c": pythonEnv("web", stdAttrs("c", "3.0.0")...),
			"a": pythonEnv("web", stdAttrs("a", "1.0.0")...),
		},
		injected:       map[Language][]string{Python: {"c", "a"}},
		initContainers: []string{wPyName},
		init:           &initWant{sc: &corev1.SecurityContext{RunAsUser: ptr.To[int64](1001)}},
	}},
	{name: "container-names-init-container", want: expect{
		outcome: OutcomeInjected,
		env: map[string][]string{
			"setup": pythonEnv("web", stdAttrs("setup", "1.1.0")...),
			"app":   pythonEnv("web", stdAttrs("app", "1.4.2")...),
		},
		injected:       map[Language][]string{Python: {"setup", "app"}},
		initContainers: []string{"migrate", wPyName, "setup"},
		init:           &initWant{sc: &corev1.SecurityContext{RunAsUser: ptr.To[int64](1003)}, index: ptr.To(1)},
	}},
	{name: "container-names-missing", want: expect{
		outcome:  OutcomeInjected,
		env:      map[string][]string{"app": pythonEnv("web", stdAttrs("app", "1.4.2")...)},
		injected: map[Language][]string{Python: {"app"}},
		skipped:  map[string]string{"python/ghost": "no such container"},
	}},
	{name: "container-names-none-exist", want: expect{
		outcome: OutcomeSkipped, reason: "no target container could be instrumented",
		skipped: map[string]string{"python/ghost": "no such container"},
	}},
	{name: "container-names-namespace", want: expect{
		outcome:  OutcomeInjected,
		env:      map[string][]string{"worker": pythonEnv("web", stdAttrs("worker", "0.9.1")...)},
		injected: map[Language][]string{Python: {"worker"}},
	}},
	{name: "container-names-pod-overrides-namespace", want: expect{
		outcome:  OutcomeInjected,
		env:      map[string][]string{"app": pythonEnv("web", stdAttrs("app", "1.4.2")...)},
		injected: map[Language][]string{Python: {"app"}},
	}},
	{name: "python-container-names", want: expect{
		outcome:  OutcomeInjected,
		env:      map[string][]string{"app": pythonEnv("web", stdAttrs("app", "1.4.2")...)},
		injected: map[Language][]string{Python: {"app"}},
	}},
	{name: "python-container-names-multi-disabled", config: func(c *Config) { c.MultiInstrumentation = false }, want: expect{
		outcome:  OutcomeInjected,
		env:      map[string][]string{"sidecar": pythonEnv("web", stdAttrs("sidecar", "v1.30.1")...)},
		injected: map[Language][]string{Python: {"sidecar"}},
	}},
	{name: "container-names-invalid", want: expect{outcome: OutcomeError, reason: "not valid characters"}},
	{name: "python-container-names-invalid", want: expect{outcome: OutcomeError, reason: "not valid characters"}},
	{name: "python-and-sdk-without-container-names", want: expect{outcome: OutcomeSkipped,
		reason: "incorrect instrumentation configuration - please provide container names for all instrumentations"}},
	{name: "python-and-sdk-with-container-names", want: expect{
		outcome: OutcomeInjected,
		env: map[string][]string{
			"app":    pythonEnv("web", stdAttrs("app", "1.4.2")...),
			"helper": {eNodeIP, ePodIP, eService("web"), eEndpoint, ePodName, eNodeName, eRes(stdAttrs("helper", "0.3.0")...)},
		},
		injected:       map[Language][]string{Python: {"app"}, SDK: {"helper"}},
		initContainers: []string{wPyName},
		extra: func(t *testing.T, _, out *corev1.Pod, _ Report) {
			wantMounts(t, out, "helper")
		},
	}},
	{name: "duplicated-container-across-languages", want: expect{outcome: OutcomeSkipped, reason: "duplicated container names detected: [app]"}},
	{name: "duplicated-container-in-one-list", want: expect{outcome: OutcomeSkipped, reason: "duplicated container names detected: [app]"}},
	// §2.2: a language disabled in the operator config (Go, off by default)
	// gets a warning; the other languages proceed.
	{name: "go-disabled-and-python-with-container-names", want: expect{
		outcome:  OutcomeInjected,
		env:      map[string][]string{"app": pythonEnv("web", stdAttrs("app", "1.4.2")...)},
		injected: map[Language][]string{Python: {"app"}},
		warnings: []string{"InstrumentationRequestRejected: support for Go auto instrumentation is not enabled"},
	}},
	{name: "go-disabled-only", want: expect{
		outcome: OutcomeSkipped, reason: "disabled",
		warnings: []string{"InstrumentationRequestRejected: support for Go auto instrumentation is not enabled"},
	}},

	// ---------------------------------------------------------------- §2.1 otel-python-platform
	{name: "platform-musl", want: expect{
		outcome:  OutcomeInjected,
		env:      map[string][]string{"app": pythonEnv("web", stdAttrs("app", "1.4.2")...)},
		injected: map[Language][]string{Python: {"app"}},
		init:     &initWant{src: wMuslSrc},
	}},
	{name: "platform-glibc", want: expect{
		outcome: OutcomeInjected, injected: map[Language][]string{Python: {"app"}}, init: &initWant{src: wGlibcSrc},
	}},
	{name: "platform-unsupported", differences: []string{"no-init-container-without-target"}, want: expect{
		// Deliberate divergence (documented): no init container either.
		outcome: OutcomeSkipped, reason: "no target container could be instrumented",
		skipped: map[string]string{"python/app": "Skipping Python SDK injection: provided instrumentation.opentelemetry.io/otel-python-platform annotation value 'alpine' is not supported"},
	}},
	{name: "platform-namespace-musl", want: expect{
		outcome: OutcomeInjected, injected: map[Language][]string{Python: {"app"}}, init: &initWant{src: wMuslSrc},
	}},
	{name: "platform-pod-glibc-overrides-namespace-musl", want: expect{
		outcome: OutcomeInjected, injected: map[Language][]string{Python: {"app"}}, init: &initWant{src: wGlibcSrc},
	}},

	// ---------------------------------------------------------------- §2.4 PYTHONPATH and env order
	{name: "pythonpath-literal", want: expect{
		outcome: OutcomeInjected,
		env: map[string][]string{"app": {eNodeIP, ePodIP, "APP_MODE=prod",
			"PYTHONPATH=" + wPPPrefix + ":/app/lib:/app/vendor:" + wPPSuffix, "LOG_LEVEL=debug",
			eProtocol, eTraces, eMetrics, eLogs, eService("web"), eEndpoint, ePodName, eNodeName, eRes(stdAttrs("app", "1.4.2")...)}},
		injected: map[Language][]string{Python: {"app"}},
	}},
	{name: "pythonpath-valuefrom", differences: []string{"no-init-container-without-target"}, want: expect{
		outcome: OutcomeSkipped, reason: "no target container could be instrumented",
		skipped: map[string]string{"python/app": "Skipping Python SDK injection: the container defines env var value via ValueFrom, envVar: PYTHONPATH"},
	}},
	{name: "pythonpath-valuefrom-one-of-two", want: expect{
		outcome:  OutcomeInjected,
		env:      map[string][]string{"app": pythonEnv("web", stdAttrs("app", "1.4.2")...)},
		injected: map[Language][]string{Python: {"app"}},
		skipped:  map[string]string{"python/legacy": "envVar: PYTHONPATH"},
		// "the first target container's" securityContext (§2.4), even though
		// that container was skipped: upstream passes containers[0] too.
		init: &initWant{sc: &corev1.SecurityContext{RunAsUser: ptr.To[int64](1004)}},
	}},
	{name: "python-defaults-all-predefined", want: expect{
		outcome: OutcomeInjected,
		env: map[string][]string{"app": {eNodeIP, ePodIP,
			"OTEL_EXPORTER_OTLP_PROTOCOL=grpc", "OTEL_TRACES_EXPORTER=console", "OTEL_METRICS_EXPORTER=none", "OTEL_LOGS_EXPORTER=none",
			ePythonPath, eService("web"), eEndpoint, ePodName, eNodeName, eRes(stdAttrs("app", "1.4.2")...)}},
		injected: map[Language][]string{Python: {"app"}},
	}},
	{name: "python-defaults-some-predefined", want: expect{
		outcome: OutcomeInjected,
		env: map[string][]string{"app": {eNodeIP, ePodIP, "OTEL_METRICS_EXPORTER=none", "OTEL_EXPORTER_OTLP_PROTOCOL=http/json",
			ePythonPath, eTraces, eLogs, eService("web"), eEndpoint, ePodName, eNodeName, eRes(stdAttrs("app", "1.4.2")...)}},
		injected: map[Language][]string{Python: {"app"}},
	}},
	{name: "common-vars-predefined", want: expect{
		outcome: OutcomeInjected,
		env: map[string][]string{"app": {eNodeIP, ePodIP,
			"OTEL_SERVICE_NAME=my-service", "OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:4318", "OTEL_PROPAGATORS=b3",
			ePythonPath, eProtocol, eTraces, eMetrics, eLogs, ePodName, eNodeName, eRes(stdAttrs("app", "1.4.2")...)}},
		injected: map[Language][]string{Python: {"app"}},
	}},
	{name: "env-precedence", want: expect{
		outcome: OutcomeInjected,
		env: map[string][]string{"app": {eNodeIP, ePodIP,
			"VAR_X=container",                              // container env
			"VAR_Y=python", "OTEL_TRACES_EXPORTER=console", // spec.python.env (VAR_X already set)
			ePythonPath,
			"VAR_Z=spec", // spec.env (VAR_X, VAR_Y already set)
			"OTEL_EXPORTER_OTLP_ENDPOINT=http://from-spec-env:4318", // beats exporter.endpoint
			"OTEL_METRICS_EXPORTER=none",                            // beats the Python default
			eProtocol, eLogs,                                        // the remaining Python defaults
			eService("web"), ePodName, eNodeName, eRes(stdAttrs("app", "1.4.2")...)}},
		injected: map[Language][]string{Python: {"app"}},
	}},

	// ---------------------------------------------------------------- §3 user OTEL_RESOURCE_ATTRIBUTES
	{name: "resource-attributes-user-values", want: expect{
		outcome: OutcomeInjected,
		env: map[string][]string{
			"a": {eNodeIP, ePodIP, "APP=1", ePythonPath, eProtocol, eTraces, eMetrics, eLogs, eService("web"), eEndpoint, ePodName, eNodeName,
				"OTEL_RESOURCE_ATTRIBUTES=service.version=9.9.9,team=core,k8s.namespace.name=custom," +
					strings.Join([]string{"k8s.container.name=a", aNode, aPod, aInstance("demo", "a"), "service.namespace=demo"}, ",")},
			"b": {eNodeIP, ePodIP, ePythonPath, eProtocol, eTraces, eMetrics, eLogs, eService("web"), eEndpoint, ePodName, eNodeName,
				"OTEL_RESOURCE_ATTRIBUTES=team=core," + strings.Join(stdAttrs("b", "1.4.2"), ",")},
			// The user's k8s.pod.name key also hides the pod name from the
			// service.name chain (upstream computes both from the same map),
			// so the container name is used.
			"c": {eNodeIP, ePodIP, ePythonPath, eProtocol, eTraces, eMetrics, eLogs, eService("c"), eEndpoint, ePodName, eNodeName,
				"OTEL_RESOURCE_ATTRIBUTES=note.service.version.hint=x,k8s.pod.name=custom," + strings.Join(stdAttrs("c", ""), ",")},
		},
		injected: map[Language][]string{Python: {"a", "b", "c"}},
	}},

	// ---------------------------------------------------------------- §3 service.name
	{name: "service-name-annotation", want: expect{
		outcome:  OutcomeInjected,
		env:      map[string][]string{"app": pythonEnv("checkout-api", deployAttrs...)},
		injected: map[Language][]string{Python: {"app"}},
	}},
	{name: "service-name-label-instance", want: expect{
		outcome:  OutcomeInjected,
		env:      map[string][]string{"app": pythonEnv("shop-web", stdAttrs("app", "2.0.0")...)},
		injected: map[Language][]string{Python: {"app"}},
	}},
	{name: "service-name-label-name", want: expect{
		outcome:  OutcomeInjected,
		env:      map[string][]string{"app": pythonEnv("web-frontend", stdAttrs("app", "1.4.2")...)},
		injected: map[Language][]string{Python: {"app"}},
	}},
	{name: "service-name-deployment", want: expect{
		outcome:  OutcomeInjected,
		env:      map[string][]string{"app": pythonEnv("shop-frontend", deployAttrs...)},
		injected: map[Language][]string{Python: {"app"}},
	}},
	{name: "service-name-replicaset-without-deployment", want: expect{
		outcome:  OutcomeInjected,
		env:      map[string][]string{"app": pythonEnv(rsName, rsAttrs...)},
		injected: map[Language][]string{Python: {"app"}},
	}},
	{name: "service-name-replicaset-missing", want: expect{
		outcome: OutcomeInjected, reason: "owner ReplicaSet demo/" + rsName + " not readable",
		env:      map[string][]string{"app": pythonEnv(rsName, rsAttrs...)},
		injected: map[Language][]string{Python: {"app"}},
	}},
	{name: "service-name-statefulset", want: expect{
		outcome: OutcomeInjected,
		env: map[string][]string{"app": pythonEnv("db", "k8s.container.name=app", "k8s.namespace.name=demo", aNode, aPod,
			"k8s.statefulset.name=db", aInstance("demo", "app"), "service.namespace=demo", "service.version=5.1.0")},
		injected: map[Language][]string{Python: {"app"}},
	}},
	{name: "service-name-daemonset", want: expect{
		outcome: OutcomeInjected,
		env: map[string][]string{"app": pythonEnv("node-agent", "k8s.container.name=app", "k8s.daemonset.name=node-agent",
			"k8s.namespace.name=demo", aNode, aPod, aInstance("demo", "app"), "service.namespace=demo", "service.version=0.2.0")},
		injected: map[Language][]string{Python: {"app"}},
	}},
	{name: "service-name-cronjob", want: expect{
		outcome: OutcomeInjected,
		env: map[string][]string{"app": pythonEnv("report", "k8s.container.name=app", "k8s.cronjob.name=report",
			"k8s.job.name=report-28871234", "k8s.namespace.name=demo", aNode, aPod, aInstance("demo", "app"),
			"service.namespace=demo", "service.version=1.0.0")},
		injected: map[Language][]string{Python: {"app"}},
	}},
	{name: "service-name-job", want: expect{
		outcome: OutcomeInjected,
		env: map[string][]string{"app": pythonEnv("migrate-db", "k8s.container.name=app", "k8s.job.name=migrate-db",
			"k8s.namespace.name=demo", aNode, aPod, aInstance("demo", "app"), "service.namespace=demo", "service.version=1.0.0")},
		injected: map[Language][]string{Python: {"app"}},
	}},
	{name: "service-name-rollout-owner-ignored", want: expect{
		outcome:  OutcomeInjected,
		env:      map[string][]string{"app": pythonEnv("app", stdAttrs("app", "1.4.2")...)},
		injected: map[Language][]string{Python: {"app"}},
	}},
	{name: "service-name-container-fallback", want: expect{
		outcome:  OutcomeInjected,
		env:      map[string][]string{"app": pythonEnv("app", stdAttrs("app", "1.4.2")...)},
		injected: map[Language][]string{Python: {"app"}},
	}},

	// ---------------------------------------------------------------- §3 service.version, instance id, annotations
	{name: "service-version-digest", want: expect{
		outcome:  OutcomeInjected,
		env:      map[string][]string{"app": pythonEnv("web", stdAttrs("app", wDigest)...)},
		injected: map[Language][]string{Python: {"app"}},
	}},
	{name: "service-version-tag-and-digest", want: expect{
		outcome:  OutcomeInjected,
		env:      map[string][]string{"app": pythonEnv("web", stdAttrs("app", "1.4.2@"+wDigest)...)},
		injected: map[Language][]string{Python: {"app"}},
	}},
	{name: "service-version-untagged", want: expect{
		outcome: OutcomeInjected,
		env: map[string][]string{
			"a": pythonEnv("web", stdAttrs("a", "")...),
			"b": pythonEnv("web", stdAttrs("b", "")...),
		},
		injected: map[Language][]string{Python: {"a", "b"}},
	}},
	{name: "service-version-annotation", want: expect{
		outcome:  OutcomeInjected,
		env:      map[string][]string{"app": pythonEnv("web", stdAttrs("app", "2024.06")...)},
		injected: map[Language][]string{Python: {"app"}},
	}},
	{name: "service-instance-id-annotation", want: expect{
		outcome: OutcomeInjected,
		env: map[string][]string{"app": pythonEnv("web", "k8s.container.name=app", "k8s.namespace.name=demo", aNode, aPod,
			"service.instance.id=web-blue-1", "service.namespace=demo", "service.version=1.4.2")},
		injected: map[Language][]string{Python: {"app"}},
	}},
	{name: "resource-annotations", want: expect{
		outcome: OutcomeInjected,
		env: map[string][]string{"app": pythonEnv("web-svc", "deployment.environment=prod", "k8s.container.name=app",
			"k8s.namespace.name=shop-ns", aNode, aPod, aInstance("demo", "app"), "service.namespace=shop", "service.version=1.4.2")},
		injected: map[Language][]string{Python: {"app"}},
	}},
	{name: "resource-attributes-from-cr", want: expect{
		outcome: OutcomeInjected,
		env: map[string][]string{"app": pythonEnv("web", "deployment.environment=prod", "k8s.container.name=app",
			"k8s.namespace.name=demo", aNode, aPod, aInstance("demo", "app"), "service.namespace=demo", "service.version=1.4.2",
			"team=platform")},
		injected: map[Language][]string{Python: {"app"}},
	}},
	{name: "add-k8s-uid-attributes", want: expect{
		outcome: OutcomeInjected,
		env: map[string][]string{"app": {eNodeIP, ePodIP, ePythonPath, eProtocol, eTraces, eMetrics, eLogs,
			eService("shop-frontend"), eEndpoint, ePodName, ePodUID, eNodeName, eRes(
				"k8s.container.name=app", "k8s.deployment.name=shop-frontend", "k8s.deployment.uid=6f1c1d2e-0000-4000-8000-00000000d001",
				"k8s.namespace.name=demo", aNode, aPod, "k8s.pod.uid=$(OTEL_RESOURCE_ATTRIBUTES_POD_UID)",
				"k8s.replicaset.name="+rsName, "k8s.replicaset.uid=6f1c1d2e-0000-4000-8000-00000000a001",
				aInstance("demo", "app"), "service.namespace=demo", "service.version=1.4.2")}},
		injected: map[Language][]string{Python: {"app"}},
	}},

	// ---------------------------------------------------------------- §3 propagators, sampler, exporter
	{name: "propagators", want: expect{
		outcome: OutcomeInjected,
		env: map[string][]string{
			"a": insertEnv(pythonEnv("web", stdAttrs("a", "1.4.2")...), eRes(stdAttrs("a", "1.4.2")...), "OTEL_PROPAGATORS=tracecontext,baggage,b3"),
			"b": insertEnv(pythonEnv("web", stdAttrs("b", "1.4.2")...), ePythonPath, "OTEL_PROPAGATORS=xray"),
		},
		injected: map[Language][]string{Python: {"a", "b"}},
	}},
	{name: "sampler", want: expect{
		outcome: OutcomeInjected,
		env: map[string][]string{"app": insertEnv(pythonEnv("web", stdAttrs("app", "1.4.2")...), eRes(stdAttrs("app", "1.4.2")...),
			"OTEL_PROPAGATORS=tracecontext", "OTEL_TRACES_SAMPLER=parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG=0.25")},
		injected: map[Language][]string{Python: {"app"}},
	}},
	{name: "sampler-type-only", want: expect{
		outcome: OutcomeInjected,
		env: map[string][]string{"app": insertEnv(pythonEnv("web", stdAttrs("app", "1.4.2")...), eRes(stdAttrs("app", "1.4.2")...),
			"OTEL_TRACES_SAMPLER=always_on")},
		injected: map[Language][]string{Python: {"app"}},
	}},
	{name: "sampler-user-set", want: expect{
		outcome: OutcomeInjected,
		env: map[string][]string{
			"a": insertEnv(pythonEnv("web", stdAttrs("a", "1.4.2")...), ePythonPath, "OTEL_TRACES_SAMPLER_ARG=0.5"),
			"b": insertEnv(pythonEnv("web", stdAttrs("b", "1.4.2")...), ePythonPath, "OTEL_TRACES_SAMPLER=always_off"),
		},
		injected: map[Language][]string{Python: {"a", "b"}},
	}},
	{name: "exporter-no-endpoint", want: expect{
		outcome:  OutcomeInjected,
		env:      map[string][]string{"app": replaceEnv(pythonEnv("web", stdAttrs("app", "1.4.2")...), eEndpoint, "")},
		injected: map[Language][]string{Python: {"app"}},
	}},
	{name: "exporter-tls", want: expect{
		outcome: OutcomeInjected,
		env: map[string][]string{"app": insertEnv(replaceEnv(pythonEnv("web", stdAttrs("app", "1.4.2")...), eEndpoint,
			"OTEL_EXPORTER_OTLP_ENDPOINT=https://otel-collector.observability:4318"), ePodName,
			"OTEL_EXPORTER_OTLP_CERTIFICATE=/otel-auto-instrumentation-configmap-otel-ca/ca.crt", // CA from the ConfigMap
			"OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE=/otel-auto-instrumentation-secret-otel-client-tls/tls.crt",
			"OTEL_EXPORTER_OTLP_CLIENT_KEY=/otel-auto-instrumentation-secret-otel-client-tls/tls.key")},
		injected: map[Language][]string{Python: {"app"}},
		extra: func(t *testing.T, _, out *corev1.Pod, _ Report) {
			wantVolumes(t, out,
				corev1.Volume{Name: "otel-auto-secret-otel-client-tls", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "otel-client-tls"}}},
				corev1.Volume{Name: "otel-auto-configmap-otel-ca", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "otel-ca"}}}},
				defaultPythonVolume())
			wantMounts(t, out, "app",
				corev1.VolumeMount{Name: wPyName, MountPath: wMountPath},
				corev1.VolumeMount{Name: "otel-auto-secret-otel-client-tls", MountPath: "/otel-auto-instrumentation-secret-otel-client-tls", ReadOnly: true},
				corev1.VolumeMount{Name: "otel-auto-configmap-otel-ca", MountPath: "/otel-auto-instrumentation-configmap-otel-ca", ReadOnly: true})
		},
	}},
	{name: "exporter-tls-secret-absolute-long-name", want: expect{
		outcome:  OutcomeInjected,
		injected: map[Language][]string{Python: {"app"}},
		extra: func(t *testing.T, _, out *corev1.Pod, _ Report) {
			const secret = "otel-exporter-client-certificate-for-the-shop-frontend-team" // 59 characters
			// "otel-auto-secret-" + secret is 76 characters: the secret part is cut to
			// 46 characters ("...-shop-") and the trailing '-' trimmed, as upstream's
			// naming.Truncate does. The mount path is not a name and stays whole.
			const volume = "otel-auto-secret-otel-exporter-client-certificate-for-the-shop"
			if len(volume) > 63 {
				t.Fatalf("bad test: %d", len(volume))
			}
			wantEnvSubsequence(t, out, "app",
				eService("web"),
				"OTEL_EXPORTER_OTLP_ENDPOINT=https://otel-collector.observability:4318",
				"OTEL_EXPORTER_OTLP_CERTIFICATE=/otel-auto-instrumentation-secret-"+secret+"/ca.crt",
				"OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE=/etc/pki/client.crt",
				"OTEL_EXPORTER_OTLP_CLIENT_KEY=/otel-auto-instrumentation-secret-"+secret+"/tls.key",
				ePodName)
			wantVolumes(t, out,
				corev1.Volume{Name: volume, VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: secret}}},
				defaultPythonVolume())
			wantMounts(t, out, "app",
				corev1.VolumeMount{Name: wPyName, MountPath: wMountPath},
				corev1.VolumeMount{Name: volume, MountPath: "/otel-auto-instrumentation-secret-" + secret, ReadOnly: true})
		},
	}},
	{name: "exporter-tls-secret-missing", want: expect{outcome: OutcomeError, reason: "secret demo/otel-client-tls with certificates does not exist"}},
	{name: "exporter-tls-configmap-missing", want: expect{outcome: OutcomeError, reason: "configmap demo/otel-ca with CA certificate does not exist"}},

	// ---------------------------------------------------------------- §2.4 init container and volume
	{name: "init-container-settings", want: expect{
		outcome:  OutcomeInjected,
		env:      map[string][]string{"app": pythonEnv("web", stdAttrs("app", "1.4.2")...)},
		injected: map[Language][]string{Python: {"app"}},
		init: &initWant{
			pull: corev1.PullIfNotPresent,
			sc: &corev1.SecurityContext{RunAsNonRoot: ptr.To(true), RunAsUser: ptr.To[int64](65532),
				AllowPrivilegeEscalation: ptr.To(false), Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}},
			resources: corev1.ResourceRequirements{
				Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500m"), corev1.ResourceMemory: resource.MustParse("256Mi")},
				Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("50m"), corev1.ResourceMemory: resource.MustParse("64Mi")},
			},
		},
	}},
	{name: "init-container-copies-security-context", want: expect{
		outcome:  OutcomeInjected,
		injected: map[Language][]string{Python: {"app"}},
		init: &initWant{sc: &corev1.SecurityContext{RunAsUser: ptr.To[int64](1000), RunAsGroup: ptr.To[int64](3000),
			ReadOnlyRootFilesystem: ptr.To(true), AllowPrivilegeEscalation: ptr.To(false)}},
	}},
	{name: "volume-limit-size", want: expect{
		outcome: OutcomeInjected, injected: map[Language][]string{Python: {"app"}},
		volume: &corev1.Volume{Name: wPyName, VolumeSource: corev1.VolumeSource{
			EmptyDir: &corev1.EmptyDirVolumeSource{SizeLimit: ptr.To(resource.MustParse("500Mi"))}}},
	}},
	{name: "volume-claim-template", want: expect{
		outcome: OutcomeInjected, injected: map[Language][]string{Python: {"app"}},
		volume: &corev1.Volume{Name: wPyName, VolumeSource: corev1.VolumeSource{Ephemeral: &corev1.EphemeralVolumeSource{
			VolumeClaimTemplate: &corev1.PersistentVolumeClaimTemplate{Spec: corev1.PersistentVolumeClaimSpec{
				AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
				StorageClassName: ptr.To("standard"),
				Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{
					corev1.ResourceStorage: resource.MustParse("1Gi")}},
			}}}}},
	}},

	// ---------------------------------------------------------------- §2.3 idempotency, trivial cases
	{name: "already-injected-init-container", want: expect{outcome: OutcomeSkipped, reason: "already instrumented"}},
	{name: "already-has-node-name-env", want: expect{outcome: OutcomeSkipped, reason: "OTEL_RESOURCE_ATTRIBUTES_NODE_NAME"}},
	{name: "already-injected-go-sidecar", want: expect{outcome: OutcomeSkipped, reason: "already instrumented"}},
	{name: "otc-container-node-name-ignored", want: expect{
		outcome:  OutcomeInjected,
		env:      map[string][]string{"app": pythonEnv("web", stdAttrs("app", "1.4.2")...)},
		injected: map[Language][]string{Python: {"app"}},
	}},
	{name: "no-annotation", want: expect{outcome: OutcomeNotRequested}},
	{name: "inject-sdk-only", want: expect{
		outcome: OutcomeInjected, requested: "true", instrumentation: "demo/python-inst",
		env: map[string][]string{"app": {eNodeIP, ePodIP, "FLASK_ENV=production", eService("web"), eEndpoint, ePodName, eNodeName,
			"OTEL_PROPAGATORS=tracecontext,baggage", eRes(stdAttrs("app", "1.4.2")...)}},
		injected:       map[Language][]string{SDK: {"app"}},
		initContainers: []string{},
		extra: func(t *testing.T, _, out *corev1.Pod, _ Report) {
			if len(out.Spec.Volumes) != 0 {
				t.Errorf("inject-sdk added volumes: %v", out.Spec.Volumes)
			}
			wantMounts(t, out, "app")
		},
	}},
	{name: "pod-without-containers", want: expect{outcome: OutcomeSkipped, reason: "pod has no containers"}},

	// ---------------------------------------------------------------- the seed (see testdata/SEED-DIFFERENCES.md)
	{name: "seed-console-amd64", want: expect{
		outcome: OutcomeInjected, requested: "true", instrumentation: "example/python-instrumentation",
		env:            map[string][]string{"sample": seedEnv("console", "amd64")},
		injected:       map[Language][]string{Python: {"sample"}},
		initContainers: []string{wPyName},
		init:           seedInit(),
		extra:          seedExtra,
	}},
	{name: "seed-console-untagged", want: expect{
		outcome: OutcomeInjected, requested: "true", instrumentation: "example/python-instrumentation",
		env:            map[string][]string{"sample": seedEnv("console", "")},
		injected:       map[Language][]string{Python: {"sample"}},
		initContainers: []string{wPyName},
		init:           seedInit(),
		extra:          seedExtra,
	}},
	{name: "seed-otlp-amd64", want: expect{
		outcome: OutcomeInjected, requested: "true", instrumentation: "example/python-instrumentation",
		env:            map[string][]string{"sample": seedEnv("otlp_proto_http", "amd64")},
		injected:       map[Language][]string{Python: {"sample"}},
		initContainers: []string{wPyName},
		init:           seedInit(),
		extra:          seedExtra,
	}},
}

// seedEnv is what autotel must give the seed's container (§2.4 order).
func seedEnv(logsExporter, version string) []string {
	attrs := []string{"k8s.container.name=sample", "k8s.deployment.name=sample", "k8s.namespace.name=example", aNode, aPod,
		"k8s.replicaset.name=sample-656f58b97c", aInstance("example", "sample"), "service.namespace=example"}
	if version != "" {
		attrs = append(attrs, "service.version="+version)
	}
	return []string{eNodeIP, ePodIP,
		"OTEL_LOGS_EXPORTER=" + logsExporter, "OTEL_PYTHON_LOGGING_AUTO_INSTRUMENTATION_ENABLED=true", // spec.python.env
		ePythonPath, eProtocol, eTraces, eMetrics, // OTEL_LOGS_EXPORTER already set
		eService("sample"), "OTEL_EXPORTER_OTLP_ENDPOINT=http://otel-collector:4318", ePodName, eNodeName,
		"OTEL_PROPAGATORS=tracecontext,baggage", eRes(attrs...)}
}

func seedInit() *initWant {
	return &initWant{
		image: "ghcr.io/open-telemetry/opentelemetry-operator/autoinstrumentation-python:0.44b0",
		resources: corev1.ResourceRequirements{
			Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500m"), corev1.ResourceMemory: resource.MustParse("256Mi")},
			Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("50m"), corev1.ResourceMemory: resource.MustParse("64Mi")},
		},
	}
}

func seedExtra(t *testing.T, _, out *corev1.Pod, _ Report) {
	// The service account volume stays first; ours is appended.
	if got := volumeNames(out); !slices.Equal(got, []string{"kube-api-access-7xk2p", wPyName}) {
		t.Errorf("volumes = %v", got)
	}
	wantMounts(t, out, "sample",
		corev1.VolumeMount{Name: "kube-api-access-7xk2p", MountPath: "/var/run/secrets/kubernetes.io/serviceaccount", ReadOnly: true},
		corev1.VolumeMount{Name: wPyName, MountPath: wMountPath})
}

func TestMutate(t *testing.T) {
	seen := map[string]bool{}
	for _, tc := range allMutateCases() {
		if seen[tc.name] {
			t.Fatalf("duplicate case %s", tc.name)
		}
		seen[tc.name] = true
		t.Run(tc.name, func(t *testing.T) {
			f := loadFixture(t, filepath.Join("testdata", "cases", tc.name+".yaml"))
			cfg := DefaultConfig()
			if tc.config != nil {
				tc.config(&cfg)
			}
			inBefore, nsBefore := f.pod.DeepCopy(), f.ns.DeepCopy()

			out, r := mutateOrFail(t, cfg, f.ns, f.pod, f.lookup)

			if !equality.Semantic.DeepEqual(f.pod, inBefore) {
				t.Errorf("Mutate modified its input pod:\n%s", lineDiff(podYAML(t, inBefore), podYAML(t, f.pod)))
			}
			if !equality.Semantic.DeepEqual(f.ns, nsBefore) {
				t.Errorf("Mutate modified the namespace")
			}
			changed := !equality.Semantic.DeepEqual(out, inBefore)

			checkExpect(t, tc.want, inBefore, out, r)
			checkInvariants(t, f, inBefore, out, r, cfg, tc.want)

			// Same input, same output (attribute maps are iterated in order).
			again, r2 := mutateOrFail(t, cfg, f.ns, inBefore.DeepCopy(), f.lookup)
			if !equality.Semantic.DeepEqual(again, out) || r2.String() != r.String() {
				t.Errorf("a second run gave a different result")
			}

			compareGolden(t, filepath.Join("testdata", "golden", tc.name+".yaml"), renderGolden(t, r, out, changed))
		})
	}
}

// TestEveryFixtureHasACase keeps testdata/cases and the table in step.
func TestEveryFixtureHasACase(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "cases", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, tc := range allMutateCases() {
		names[tc.name] = true
	}
	for _, f := range files {
		if name := strings.TrimSuffix(filepath.Base(f), ".yaml"); !names[name] {
			t.Errorf("fixture %s has no case in mutateCases", f)
		}
	}
	goldens, _ := filepath.Glob(filepath.Join("testdata", "golden", "*.yaml"))
	for _, g := range goldens {
		if name := strings.TrimSuffix(filepath.Base(g), ".yaml"); !names[name] {
			t.Errorf("golden %s has no case in mutateCases (stale?)", g)
		}
	}
}

func checkExpect(t *testing.T, w expect, in, out *corev1.Pod, r Report) {
	t.Helper()
	if r.Outcome != w.outcome {
		t.Errorf("outcome = %q (reason %q), want %q", r.Outcome, r.Reason, w.outcome)
	}
	if w.reason == "" && r.Reason != "" {
		t.Errorf("reason = %q, want none", r.Reason)
	}
	if w.reason != "" && !strings.Contains(r.Reason, w.reason) {
		t.Errorf("reason = %q, want it to contain %q", r.Reason, w.reason)
	}
	if w.requested != "" || w.instrumentation != "" {
		if len(r.Languages) == 0 {
			t.Errorf("no language in the report")
		} else {
			if w.requested != "" && r.Languages[0].Requested != w.requested {
				t.Errorf("requested = %q, want %q", r.Languages[0].Requested, w.requested)
			}
			if w.instrumentation != "" && r.Languages[0].Instrumentation != w.instrumentation {
				t.Errorf("instrumentation = %q, want %q", r.Languages[0].Instrumentation, w.instrumentation)
			}
		}
	}
	for name, want := range w.env {
		c := findContainer(out, name)
		if c == nil {
			t.Errorf("container %s missing from the output", name)
			continue
		}
		if got := renderEnv(c.Env); !slices.Equal(got, want) {
			t.Errorf("env of %s:\n got: %s\nwant: %s\ndiff:\n%s", name, strings.Join(got, "\n      "), strings.Join(want, "\n      "),
				lineDiff(strings.Join(want, "\n"), strings.Join(got, "\n")))
		}
	}
	gotInjected := r.InjectedContainers()
	if w.injected == nil {
		w.injected = map[Language][]string{}
	}
	for _, lang := range Languages {
		if !slices.Equal(gotInjected[lang], w.injected[lang]) {
			t.Errorf("injected %s containers = %v, want %v", lang, gotInjected[lang], w.injected[lang])
		}
	}
	gotSkipped := map[string]string{}
	for _, l := range r.Languages {
		for _, c := range l.Containers {
			if !c.Injected {
				gotSkipped[string(l.Language)+"/"+c.Name] = c.Reason
			}
		}
	}
	for key, want := range w.skipped {
		if got, ok := gotSkipped[key]; !ok || !strings.Contains(got, want) {
			t.Errorf("skip reason of %s = %q, want it to contain %q", key, got, want)
		}
	}
	for key := range gotSkipped {
		if _, ok := w.skipped[key]; !ok {
			t.Errorf("unexpected skipped container %s: %q", key, gotSkipped[key])
		}
	}
	var warnings []string
	for _, x := range r.Warnings {
		warnings = append(warnings, x.Reason+": "+x.Message)
	}
	if !slices.Equal(warnings, w.warnings) {
		t.Errorf("warnings = %q, want %q", warnings, w.warnings)
	}
	if w.initContainers != nil {
		if got := containerNames(out.Spec.InitContainers); !slices.Equal(got, w.initContainers) {
			t.Errorf("init containers = %v, want %v", got, w.initContainers)
		}
	}
	if len(gotInjected[Python]) > 0 {
		checkPythonPod(t, w, in, out)
	}
	if w.containers != nil {
		if got := containerNames(out.Spec.Containers); !slices.Equal(got, w.containers) {
			t.Errorf("containers = %v, want %v", got, w.containers)
		}
	}
	for name, want := range w.exact {
		c := findContainer(out, name)
		if c == nil {
			t.Errorf("container %s missing from the output", name)
			continue
		}
		got := c.DeepCopy()
		if _, ok := w.env[name]; ok {
			got.Env, want.Env = nil, nil
		}
		if !equality.Semantic.DeepEqual(*got, want) {
			t.Errorf("container %s:\n%s", name, lineDiff(yamlOf(t, want), yamlOf(t, *got)))
		}
	}
	if w.volumes != nil {
		wantVolumes(t, out, w.volumes...)
	}
	for name, want := range w.mounts {
		wantMounts(t, out, name, want...)
	}
	if w.extra != nil {
		w.extra(t, in, out, r)
	}
}

// checkPythonPod checks the pod-level parts of §2.4: one volume, one init
// container with the exact fields, and the mount in every instrumented
// container (checked in checkInvariants).
func checkPythonPod(t *testing.T, w expect, in, out *corev1.Pod) {
	t.Helper()
	iw := initWant{}
	if w.init != nil {
		iw = *w.init
	}
	if iw.image == "" {
		iw.image = wImage
	}
	if iw.src == "" {
		iw.src = wGlibcSrc
	}
	wantIndex := len(in.Spec.InitContainers) // appended last
	if iw.index != nil {
		wantIndex = *iw.index
	}
	want := corev1.Container{
		Name:            wPyName,
		Image:           iw.image,
		Command:         []string{"cp", "-r", iw.src, wMountPath},
		Resources:       iw.resources,
		VolumeMounts:    []corev1.VolumeMount{{Name: wPyName, MountPath: wMountPath}},
		ImagePullPolicy: iw.pull,
		SecurityContext: iw.sc,
	}
	i := slices.IndexFunc(out.Spec.InitContainers, func(c corev1.Container) bool { return c.Name == wPyName })
	switch {
	case i < 0:
		t.Errorf("no %s init container", wPyName)
	case i != wantIndex:
		t.Errorf("%s is init container #%d, want #%d", wPyName, i, wantIndex)
	}
	if i >= 0 && !equality.Semantic.DeepEqual(out.Spec.InitContainers[i], want) {
		t.Errorf("init container:\n%s", lineDiff(yamlOf(t, want), yamlOf(t, out.Spec.InitContainers[i])))
	}
	wantVol := defaultPythonVolume()
	if w.volume != nil {
		wantVol = *w.volume
	}
	var vols []corev1.Volume
	for _, v := range out.Spec.Volumes {
		if v.Name == wPyName {
			vols = append(vols, v)
		}
	}
	if len(vols) != 1 {
		t.Errorf("%d volumes named %s, want 1", len(vols), wPyName)
	} else if !equality.Semantic.DeepEqual(vols[0], wantVol) {
		t.Errorf("python volume:\n%s", lineDiff(yamlOf(t, wantVol), yamlOf(t, vols[0])))
	}
}

func defaultPythonVolume() corev1.Volume {
	return corev1.Volume{Name: wPyName, VolumeSource: corev1.VolumeSource{
		EmptyDir: &corev1.EmptyDirVolumeSource{SizeLimit: ptr.To(resource.MustParse("200Mi"))}}}
}

func wantMounts(t *testing.T, pod *corev1.Pod, container string, want ...corev1.VolumeMount) {
	t.Helper()
	c := findContainer(pod, container)
	if c == nil {
		t.Errorf("no container %s", container)
		return
	}
	if len(want) == 0 && len(c.VolumeMounts) == 0 {
		return
	}
	if !equality.Semantic.DeepEqual(c.VolumeMounts, want) {
		t.Errorf("mounts of %s:\n%s", container, lineDiff(yamlOf(t, want), yamlOf(t, c.VolumeMounts)))
	}
}

func wantVolumes(t *testing.T, pod *corev1.Pod, want ...corev1.Volume) {
	t.Helper()
	if !equality.Semantic.DeepEqual(pod.Spec.Volumes, want) {
		t.Errorf("volumes:\n%s", lineDiff(yamlOf(t, want), yamlOf(t, pod.Spec.Volumes)))
	}
}

// wantEnvSubsequence checks that the entries appear consecutively, in order.
func wantEnvSubsequence(t *testing.T, pod *corev1.Pod, container string, want ...string) {
	t.Helper()
	c := findContainer(pod, container)
	if c == nil {
		t.Errorf("no container %s", container)
		return
	}
	got := renderEnv(c.Env)
	for i := 0; i+len(want) <= len(got); i++ {
		if slices.Equal(got[i:i+len(want)], want) {
			return
		}
	}
	t.Errorf("env of %s does not contain, in a row:\n  %s\ngot:\n  %s", container, strings.Join(want, "\n  "), strings.Join(got, "\n  "))
}

func volumeNames(pod *corev1.Pod) []string {
	var out []string
	for _, v := range pod.Spec.Volumes {
		out = append(out, v.Name)
	}
	return out
}
