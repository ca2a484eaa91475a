package instrumentation

import (
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// allMutateCases is the whole table: the Python/SDK cases of mutateCases
// and the cases of every other injection kind below.
func allMutateCases() []mutateCase {
	return slices.Concat(mutateCases, languageCases)
}

// Expected values for the other injection kinds, written out literally
// from docs/upstream-behaviour.md §3/§4 (as for Python in mutate_test.go).
const (
	wJavaImage   = "ghcr.io/open-telemetry/opentelemetry-operator/autoinstrumentation-java:2.30.0"
	wNodeImage   = "ghcr.io/open-telemetry/opentelemetry-operator/autoinstrumentation-nodejs:0.78.0"
	wDotNetImage = "ghcr.io/open-telemetry/opentelemetry-operator/autoinstrumentation-dotnet:1.16.0"
	wGoImage     = "ghcr.io/open-telemetry/opentelemetry-go-instrumentation/autoinstrumentation-go:v0.24.0"
	// §1.2: Nginx reuses the Apache HTTPD image.
	wWebServerImage = "ghcr.io/open-telemetry/opentelemetry-operator/autoinstrumentation-apache-httpd:1.0.4"

	wJavaName   = "opentelemetry-auto-instrumentation-java" // init container and volume
	wNodeName   = "opentelemetry-auto-instrumentation-nodejs"
	wDotNetName = "opentelemetry-auto-instrumentation-dotnet"
	wDotNetDir  = "/otel-auto-instrumentation-dotnet"

	// The web server modules speak OTLP/gRPC only (§2.5).
	wGRPCEndpoint = "http://otel-collector.observability:4317"
	eGRPCEndpoint = "OTEL_EXPORTER_OTLP_ENDPOINT=" + wGRPCEndpoint
	eTLSEndpoint  = "OTEL_EXPORTER_OTLP_ENDPOINT=https://otel-collector.observability:4318"

	eNodeOptions = "NODE_OPTIONS= --require /otel-auto-instrumentation-nodejs/autoinstrumentation.js"
	eLDPath      = "LD_LIBRARY_PATH=/opt/opentelemetry-webserver/agent/sdk_lib/lib"

	wAgentDir      = "/opt/opentelemetry-webserver/agent"
	wSourceConfDir = "/opt/opentelemetry-webserver/source-conf"
	wSID           = "<<SID-PLACEHOLDER>>"
)

// sdkTail is §2.4 step 5 for a container without prior variables:
// service name, endpoint (if any), pod and node name, attributes last.
func sdkTail(service, endpoint string, attrs ...string) []string {
	out := []string{eService(service)}
	if endpoint != "" {
		out = append(out, endpoint)
	}
	return append(out, ePodName, eNodeName, eRes(attrs...))
}

// javaAgentArg is what JAVA_TOOL_OPTIONS gets for container c (§4 Java).
func javaAgentArg(c string) string {
	return " -javaagent:/otel-auto-instrumentation-java-" + c + "/javaagent.jar"
}

// javaEnv is the env of Java container c that had none of its own.
func javaEnv(c, version string) []string {
	return slices.Concat([]string{eNodeIP, ePodIP, "JAVA_TOOL_OPTIONS=" + javaAgentArg(c)}, sdkTail("web", eEndpoint, stdAttrs(c, version)...))
}

func nodeEnv(c, version string) []string {
	return slices.Concat([]string{eNodeIP, ePodIP, eNodeOptions, eMetrics}, sdkTail("web", eEndpoint, stdAttrs(c, version)...))
}

// dotNetLoader is the §4 .NET variables in the order they are applied.
func dotNetLoader(profilerDir string) []string {
	return []string{
		"CORECLR_ENABLE_PROFILING=1",
		"CORECLR_PROFILER={918728DD-259F-4A6A-AC2B-B85E1B658318}",
		"CORECLR_PROFILER_PATH=" + wDotNetDir + "/" + profilerDir + "/OpenTelemetry.AutoInstrumentation.Native.so",
		"DOTNET_STARTUP_HOOKS=" + wDotNetDir + "/net/OpenTelemetry.AutoInstrumentation.StartupHook.dll",
		"DOTNET_ADDITIONAL_DEPS=" + wDotNetDir + "/AdditionalDeps",
		"OTEL_DOTNET_AUTO_HOME=" + wDotNetDir,
		"DOTNET_SHARED_STORE=" + wDotNetDir + "/store",
	}
}

func dotNetEnv(c, version, profilerDir string) []string {
	return slices.Concat([]string{eNodeIP, ePodIP}, dotNetLoader(profilerDir), sdkTail("web", eEndpoint, stdAttrs(c, version)...))
}

func sdkOnlyEnv(c, version string) []string {
	return slices.Concat([]string{eNodeIP, ePodIP}, sdkTail("web", eEndpoint, stdAttrs(c, version)...))
}

// goSidecarEnv: the target executable first (annotation), §2.4 step 3/5,
// attributes describing the app container.
func goSidecarEnv(exe, app, version string) []string {
	return slices.Concat([]string{eNodeIP, ePodIP, "OTEL_GO_AUTO_TARGET_EXE=" + exe}, sdkTail("web", eEndpoint, stdAttrs(app, version)...))
}

func emptyDirVolume(name, size string) corev1.Volume {
	v := corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}
	if size != "" {
		v.EmptyDir.SizeLimit = ptr.To(resource.MustParse(size))
	}
	return v
}

func copyInit(name, image string, command ...string) corev1.Container {
	dir := "/otel-auto-instrumentation-" + strings.TrimPrefix(name, "opentelemetry-auto-instrumentation-")
	return corev1.Container{Name: name, Image: image, Command: command, VolumeMounts: []corev1.VolumeMount{{Name: name, MountPath: dir}}}
}

func javaInit() corev1.Container {
	return copyInit(wJavaName, wJavaImage, "cp", "/javaagent.jar", "/otel-auto-instrumentation-java/javaagent.jar")
}

func javaExtensionInit(i, image, dir string) corev1.Container {
	return corev1.Container{
		Name: "opentelemetry-auto-instrumentation-extension-" + i, Image: image,
		Command:      []string{"cp", "-r", dir + "/.", "/otel-auto-instrumentation-java/extensions"},
		VolumeMounts: []corev1.VolumeMount{{Name: wJavaName, MountPath: "/otel-auto-instrumentation-java"}},
	}
}

func nodeInit() corev1.Container {
	return copyInit(wNodeName, wNodeImage, "cp", "-r", "/autoinstrumentation/.", "/otel-auto-instrumentation-nodejs")
}

func dotNetInit() corev1.Container {
	return copyInit(wDotNetName, wDotNetImage, "cp", "-r", "/autoinstrumentation/.", wDotNetDir)
}

func javaMount(c string) corev1.VolumeMount {
	return corev1.VolumeMount{Name: wJavaName, MountPath: "/otel-auto-instrumentation-java-" + c}
}

var (
	nodeMount   = corev1.VolumeMount{Name: wNodeName, MountPath: "/otel-auto-instrumentation-nodejs"}
	dotNetMount = corev1.VolumeMount{Name: wDotNetName, MountPath: wDotNetDir}
	pyMount     = corev1.VolumeMount{Name: wPyName, MountPath: wMountPath}
)

func goSidecar() corev1.Container {
	return corev1.Container{
		Name: wGoSidecar, Image: wGoImage,
		SecurityContext: &corev1.SecurityContext{RunAsUser: ptr.To[int64](0), Privileged: ptr.To(true)},
		VolumeMounts:    []corev1.VolumeMount{{Name: wKernelDebug, MountPath: "/sys/kernel/debug"}},
	}
}

var kernelDebugVolume = corev1.Volume{Name: wKernelDebug, VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/sys/kernel/debug"}}}

func resources(reqCPU, reqMem string) corev1.ResourceRequirements {
	return corev1.ResourceRequirements{
		Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500m"), corev1.ResourceMemory: resource.MustParse("256Mi")},
		Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(reqCPU), corev1.ResourceMemory: resource.MustParse(reqMem)},
	}
}

func with(c corev1.Container, f func(*corev1.Container)) corev1.Container {
	c = *c.DeepCopy()
	f(&c)
	return c
}

func shareProcessNamespace(t *testing.T, _, out *corev1.Pod, _ Report) {
	t.Helper()
	if out.Spec.ShareProcessNamespace == nil || !*out.Spec.ShareProcessNamespace {
		t.Errorf("shareProcessNamespace = %v, want true", out.Spec.ShareProcessNamespace)
	}
}

// ---- Apache HTTPD and Nginx (§4): the module configuration and init containers.

// apacheConf is the generated module configuration: the fixed loading
// lines, then "key value" attributes sorted by key.
func apacheConf(suffix string, attrs ...string) string {
	const lib = wAgentDir + "/sdk_lib/lib/libopentelemetry_"
	const mod = wAgentDir + "/WebServerModule/Apache/libmod_apache_otel"
	return "\n#Load the Otel Webserver SDK\n" +
		"LoadFile " + lib + "common.so\n" +
		"LoadFile " + lib + "resources.so\n" +
		"LoadFile " + lib + "trace.so\n" +
		"LoadFile " + lib + "otlp_recordable.so\n" +
		"LoadFile " + lib + "exporter_ostream_span.so\n" +
		"LoadFile " + lib + "exporter_otlp_grpc.so\n" +
		"#Load the Otel ApacheModule SDK\n" +
		"LoadFile " + lib + "webserver_sdk.so\n" +
		"#Load the Apache Module. In this example for Apache 2.4\n" +
		"#LoadModule otel_apache_module " + mod + ".so\n" +
		"#Load the Apache Module. In this example for Apache 2.2\n" +
		"#LoadModule otel_apache_module " + mod + "22.so\n" +
		"LoadModule otel_apache_module " + mod + suffix + ".so\n" +
		"#Attributes\n" +
		strings.Join(attrs, "\n") + "\n"
}

// apacheAttrs are the generated attributes, already in sorted order
// (ResolveBackends and TraceAsError carry upstream's double space).
func apacheAttrs(endpoint, service string) []string {
	return []string{
		"ApacheModuleEnabled ON",
		"ApacheModuleOtelExporterEndpoint " + endpoint,
		"ApacheModuleOtelSpanExporter otlp",
		"ApacheModuleResolveBackends  ON",
		"ApacheModuleServiceInstanceId " + wSID,
		"ApacheModuleServiceName " + service,
		"ApacheModuleServiceNamespace demo",
		"ApacheModuleTraceAsError  ON",
	}
}

func apacheClone(image, confDir string) corev1.Container {
	return corev1.Container{
		Name: wCloneName, Image: image,
		Command:      []string{"cp", "-r", confDir + "/.", wSourceConfDir},
		VolumeMounts: []corev1.VolumeMount{{Name: "otel-apache-conf-dir", MountPath: wSourceConfDir}},
	}
}

// ipEnv are OTEL_POD_IP and OTEL_NODE_IP as the agent init containers get
// them: after the Instrumentation's env, before the agent's variables
// (upstream v0.158, #5333).
var ipEnv = []corev1.EnvVar{
	{Name: "OTEL_POD_IP", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "status.podIP"}}},
	{Name: "OTEL_NODE_IP", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "status.hostIP"}}},
}

// userEnv is what an agent init container gets ahead of its own
// variables: spec.<lang>.env, spec.env (each name once), then ipEnv.
func userEnv(specEnv ...corev1.EnvVar) []corev1.EnvVar {
	return append(slices.Clone(specEnv), ipEnv...)
}

// scriptArgs is upstream's shape since v0.151 (#4925): the script, "--"
// (which becomes $0), then the user's path as $1.
func scriptArgs(script, path string) []string { return []string{script, "--", path} }

// apacheAttach: our wording of upstream's script (a documented
// difference: webserver-script-wording), with configPath as $1.
func apacheAttach(confDir, conf string, env ...corev1.EnvVar) corev1.Container {
	return corev1.Container{
		Name: "otel-agent-attach-apache", Image: wWebServerImage,
		Command: []string{"/bin/sh", "-c"},
		Args:    scriptArgs(apacheAttachScript, confDir),
		Env: append(userEnv(env...),
			corev1.EnvVar{Name: "OTEL_APACHE_AGENT_CONF", Value: conf},
			corev1.EnvVar{Name: "APACHE_SERVICE_INSTANCE_ID", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
		),
		VolumeMounts: []corev1.VolumeMount{
			{Name: "otel-apache-agent", MountPath: wAgentDir},
			{Name: "otel-apache-conf-dir", MountPath: wSourceConfDir},
		},
	}
}

func apacheAppMounts(confDir string, before ...corev1.VolumeMount) []corev1.VolumeMount {
	return append(before,
		corev1.VolumeMount{Name: "otel-apache-agent", MountPath: wAgentDir},
		corev1.VolumeMount{Name: "otel-apache-conf-dir", MountPath: confDir})
}

// nginxConf is "key value;" per line, sorted by key.
func nginxConf(attrs ...string) string {
	return strings.Join(attrs, ";\n") + ";\n"
}

func nginxAttrs(endpoint string) []string {
	return []string{
		"NginxModuleEnabled ON",
		"NginxModuleOtelExporterEndpoint " + endpoint,
		"NginxModuleOtelSpanExporter otlp",
		"NginxModuleResolveBackends ON",
		"NginxModuleServiceInstanceId " + wSID,
		"NginxModuleServiceName web",
		"NginxModuleServiceNamespace demo",
		"NginxModuleTraceAsError ON",
	}
}

func nginxClone(image, confDir string) corev1.Container {
	return corev1.Container{
		Name: wCloneName, Image: image,
		Command:      []string{"/bin/sh", "-c"},
		Args:         scriptArgs(nginxCloneScript, confDir),
		VolumeMounts: []corev1.VolumeMount{{Name: "otel-nginx-conf-dir", MountPath: wSourceConfDir}},
	}
}

func nginxAttach(confFile, conf string, env ...corev1.EnvVar) corev1.Container {
	return corev1.Container{
		Name: "otel-agent-attach-nginx", Image: wWebServerImage,
		Command: []string{"/bin/sh", "-c"},
		Args:    scriptArgs(nginxAttachScript, confFile),
		Env: append(userEnv(env...),
			corev1.EnvVar{Name: "OTEL_NGINX_AGENT_CONF", Value: conf},
			corev1.EnvVar{Name: "OTEL_NGINX_SERVICE_INSTANCE_ID", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
		),
		VolumeMounts: []corev1.VolumeMount{
			{Name: "otel-nginx-agent", MountPath: wAgentDir},
			{Name: "otel-nginx-conf-dir", MountPath: wSourceConfDir},
		},
	}
}

func nginxAppMounts(confDir string, before ...corev1.VolumeMount) []corev1.VolumeMount {
	return append(before,
		corev1.VolumeMount{Name: "otel-nginx-agent", MountPath: wAgentDir},
		corev1.VolumeMount{Name: "otel-nginx-conf-dir", MountPath: confDir})
}

func enable(langs ...Language) func(*Config) {
	return func(c *Config) {
		for _, l := range langs {
			c.Enabled[l] = true
		}
	}
}

var (
	secretTLSVolume = corev1.Volume{Name: "otel-auto-secret-otel-client-tls", VolumeSource: corev1.VolumeSource{
		Secret: &corev1.SecretVolumeSource{SecretName: "otel-client-tls"}}}
	secretTLSMount = corev1.VolumeMount{Name: "otel-auto-secret-otel-client-tls", MountPath: "/otel-auto-instrumentation-secret-otel-client-tls", ReadOnly: true}
	secretTLSEnv   = []string{
		"OTEL_EXPORTER_OTLP_CERTIFICATE=/otel-auto-instrumentation-secret-otel-client-tls/ca.crt",
		"OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE=/otel-auto-instrumentation-secret-otel-client-tls/tls.crt",
		"OTEL_EXPORTER_OTLP_CLIENT_KEY=/otel-auto-instrumentation-secret-otel-client-tls/tls.key",
	}
)

var languageCases = []mutateCase{
	// ================================================================ Java (§4)
	{name: "java-inject-true", want: expect{
		outcome: OutcomeInjected, requested: "true", instrumentation: "demo/java-inst",
		env: map[string][]string{"app": slices.Concat([]string{eNodeIP, ePodIP, "SERVER_PORT=8080", "JAVA_TOOL_OPTIONS=" + javaAgentArg("app")},
			sdkTail("web", eEndpoint, stdAttrs("app", "1.4.2")...))},
		injected:       map[Language][]string{Java: {"app"}},
		initContainers: []string{wJavaName},
		exact:          map[string]corev1.Container{wJavaName: javaInit()},
		volumes:        []corev1.Volume{emptyDirVolume(wJavaName, "200Mi")},
		mounts:         map[string][]corev1.VolumeMount{"app": {javaMount("app")}},
	}},
	{name: "java-tool-options-literal", want: expect{
		outcome: OutcomeInjected,
		env: map[string][]string{"app": slices.Concat([]string{eNodeIP, ePodIP,
			"JAVA_TOOL_OPTIONS=-Xmx512m -Dfile.encoding=UTF-8" + javaAgentArg("app"), "LOG_LEVEL=info"},
			sdkTail("web", eEndpoint, stdAttrs("app", "1.4.2")...))},
		injected: map[Language][]string{Java: {"app"}},
	}},
	{name: "java-tool-options-valuefrom", differences: []string{"no-init-container-without-target"}, want: expect{
		outcome: OutcomeSkipped, reason: "no target container could be instrumented",
		skipped: map[string]string{"java/app": "Skipping Java SDK injection: the container defines env var value via ValueFrom, envVar: JAVA_TOOL_OPTIONS"},
	}},
	{name: "java-tool-options-valuefrom-one-of-two", want: expect{
		outcome:        OutcomeInjected,
		env:            map[string][]string{"app": javaEnv("app", "1.4.2")},
		injected:       map[Language][]string{Java: {"app"}},
		skipped:        map[string]string{"java/legacy": "envVar: JAVA_TOOL_OPTIONS"},
		initContainers: []string{wJavaName},
		exact: map[string]corev1.Container{wJavaName: with(javaInit(), func(c *corev1.Container) {
			c.SecurityContext = &corev1.SecurityContext{RunAsUser: ptr.To[int64](1004)}
		})},
		mounts: map[string][]corev1.VolumeMount{"app": {javaMount("app")}},
	}},
	{name: "java-extensions", want: expect{
		outcome: OutcomeInjected,
		env: map[string][]string{"app": slices.Concat([]string{eNodeIP, ePodIP,
			"JAVA_TOOL_OPTIONS=" + javaAgentArg("app") + " -Dotel.javaagent.extensions=/otel-auto-instrumentation-java-app/extensions"},
			sdkTail("web", eEndpoint, stdAttrs("app", "1.4.2")...))},
		injected:       map[Language][]string{Java: {"app"}},
		initContainers: []string{wJavaName, "opentelemetry-auto-instrumentation-extension-0", "opentelemetry-auto-instrumentation-extension-1"},
		exact: func() map[string]corev1.Container {
			settings := func(c *corev1.Container) {
				c.ImagePullPolicy = corev1.PullIfNotPresent
				c.SecurityContext = &corev1.SecurityContext{RunAsNonRoot: ptr.To(true), RunAsUser: ptr.To[int64](65532)}
				c.Resources = resources("50m", "64Mi")
			}
			return map[string]corev1.Container{
				wJavaName: with(javaInit(), settings),
				"opentelemetry-auto-instrumentation-extension-0": with(javaExtensionInit("0", "registry.example.com/otel/ext-a:1.0.0", "/extensions"), settings),
				"opentelemetry-auto-instrumentation-extension-1": with(javaExtensionInit("1", "registry.example.com/otel/ext-b:2.0.0", "/opt/ext"), settings),
			}
		}(),
		volumes: []corev1.Volume{emptyDirVolume(wJavaName, "200Mi")},
		mounts:  map[string][]corev1.VolumeMount{"app": {javaMount("app")}},
	}},
	{name: "java-multi-container", want: expect{
		outcome: OutcomeInjected,
		env: map[string][]string{
			"frontend": javaEnv("frontend", "1.4.2"),
			"backend":  javaEnv("backend", "2.0.0"),
		},
		injected:       map[Language][]string{Java: {"frontend", "backend"}},
		initContainers: []string{wJavaName},
		exact:          map[string]corev1.Container{wJavaName: javaInit()},
		volumes:        []corev1.Volume{emptyDirVolume(wJavaName, "200Mi")},
		mounts: map[string][]corev1.VolumeMount{
			"frontend": {javaMount("frontend")},
			"backend":  {javaMount("backend")},
			"proxy":    {},
		},
	}},
	{name: "java-init-container-target", want: expect{
		outcome: OutcomeInjected,
		env: map[string][]string{
			"setup": javaEnv("setup", "1.1.0"),
			"app":   javaEnv("app", "1.4.2"),
		},
		injected:       map[Language][]string{Java: {"setup", "app"}},
		initContainers: []string{"migrate", wJavaName, "setup"},
		exact: map[string]corev1.Container{wJavaName: with(javaInit(), func(c *corev1.Container) {
			c.SecurityContext = &corev1.SecurityContext{RunAsUser: ptr.To[int64](1003)}
		})},
		mounts: map[string][]corev1.VolumeMount{"setup": {javaMount("setup")}, "app": {javaMount("app")}},
	}},
	{name: "java-env-precedence", want: expect{
		outcome: OutcomeInjected,
		env: map[string][]string{"app": {eNodeIP, ePodIP,
			"VAR_X=container", // the container's own
			"JAVA_TOOL_OPTIONS=-Dotel.instrumentation.jdbc.enabled=false" + javaAgentArg("app"), // spec.java.env, agent appended
			"OTEL_INSTRUMENTATION_COMMON_DEFAULT_ENABLED=true",                                  // spec.java.env
			"VAR_Y=spec", "OTEL_EXPORTER_OTLP_ENDPOINT=http://from-spec-env:4318", // spec.env beats exporter.endpoint
			eService("web"), ePodName, eNodeName, eRes(stdAttrs("app", "1.4.2")...)}},
		injected: map[Language][]string{Java: {"app"}},
	}},
	{name: "java-volume-claim-template", want: expect{
		outcome:  OutcomeInjected,
		env:      map[string][]string{"app": javaEnv("app", "1.4.2")},
		injected: map[Language][]string{Java: {"app"}},
		volumes: []corev1.Volume{{Name: wJavaName, VolumeSource: corev1.VolumeSource{Ephemeral: &corev1.EphemeralVolumeSource{
			VolumeClaimTemplate: &corev1.PersistentVolumeClaimTemplate{Spec: corev1.PersistentVolumeClaimSpec{
				AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
				StorageClassName: ptr.To("standard"),
				Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{
					corev1.ResourceStorage: resource.MustParse("1Gi")}},
			}}}}}},
	}},
	{name: "java-exporter-tls", want: expect{
		outcome: OutcomeInjected,
		env: map[string][]string{"app": slices.Concat([]string{eNodeIP, ePodIP, "JAVA_TOOL_OPTIONS=" + javaAgentArg("app"),
			eService("web"), eTLSEndpoint}, secretTLSEnv, []string{ePodName, eNodeName, eRes(stdAttrs("app", "1.4.2")...)})},
		injected: map[Language][]string{Java: {"app"}},
		volumes:  []corev1.Volume{secretTLSVolume, emptyDirVolume(wJavaName, "200Mi")},
		mounts:   map[string][]corev1.VolumeMount{"app": {javaMount("app"), secretTLSMount}},
	}},
	{name: "java-resource-attributes-valuefrom", differences: []string{"valuefrom-skip"}, want: expect{
		outcome:  OutcomeInjected,
		env:      map[string][]string{"app": javaEnv("app", "1.4.2")},
		injected: map[Language][]string{Java: {"app"}},
		skipped: map[string]string{"java/legacy": "Skipping Java SDK injection: the container defines env var value via ValueFrom, " +
			"envVar: OTEL_RESOURCE_ATTRIBUTES"},
		mounts: map[string][]corev1.VolumeMount{"app": {javaMount("app")}, "legacy": {}},
	}},
	{name: "java-tool-options-valuefrom-spec-env", differences: []string{"no-init-container-without-target", "valuefrom-skip"}, want: expect{
		outcome: OutcomeSkipped, reason: "no target container could be instrumented",
		skipped: map[string]string{"java/app": "envVar: JAVA_TOOL_OPTIONS"},
	}},
	{name: "java-disabled", config: func(c *Config) { c.Enabled[Java] = false }, want: expect{
		outcome: OutcomeSkipped, reason: "disabled",
		warnings: []string{"InstrumentationRequestRejected: support for Java auto instrumentation is not enabled"},
	}},
	{name: "already-injected-java-init-container", want: expect{outcome: OutcomeSkipped, reason: "already instrumented: init container opentelemetry-auto-instrumentation-java present"}},

	// ================================================================ Node.js (§4)
	{name: "nodejs-inject-true", want: expect{
		outcome: OutcomeInjected, requested: "true", instrumentation: "demo/nodejs-inst",
		env: map[string][]string{"app": slices.Concat([]string{eNodeIP, ePodIP, "NODE_ENV=production", eNodeOptions, eMetrics},
			sdkTail("web", eEndpoint, stdAttrs("app", "1.4.2")...))},
		injected:       map[Language][]string{NodeJS: {"app"}},
		initContainers: []string{wNodeName},
		exact:          map[string]corev1.Container{wNodeName: nodeInit()},
		volumes:        []corev1.Volume{emptyDirVolume(wNodeName, "200Mi")},
		mounts:         map[string][]corev1.VolumeMount{"app": {nodeMount}},
	}},
	{name: "nodejs-node-options-literal", want: expect{
		outcome: OutcomeInjected,
		env: map[string][]string{"app": slices.Concat([]string{eNodeIP, ePodIP,
			"NODE_OPTIONS=--max-old-space-size=512 --require /otel-auto-instrumentation-nodejs/autoinstrumentation.js", eMetrics},
			sdkTail("web", eEndpoint, stdAttrs("app", "1.4.2")...))},
		injected: map[Language][]string{NodeJS: {"app"}},
	}},
	{name: "nodejs-node-options-valuefrom", differences: []string{"no-init-container-without-target"}, want: expect{
		outcome: OutcomeSkipped, reason: "no target container could be instrumented",
		skipped: map[string]string{"nodejs/app": "Skipping NodeJS SDK injection: the container defines env var value via ValueFrom, envVar: NODE_OPTIONS"},
	}},
	{name: "nodejs-node-options-valuefrom-spec-env", differences: []string{"no-init-container-without-target", "valuefrom-skip"}, want: expect{
		outcome: OutcomeSkipped, reason: "no target container could be instrumented",
		skipped: map[string]string{"nodejs/app": "envVar: NODE_OPTIONS"},
	}},
	{name: "nodejs-metrics-exporter-preset", want: expect{
		outcome: OutcomeInjected,
		env: map[string][]string{"app": slices.Concat([]string{eNodeIP, ePodIP,
			"OTEL_METRICS_EXPORTER=prometheus", "OTEL_NODE_RESOURCE_DETECTORS=env,host,os", eNodeOptions},
			sdkTail("web", eEndpoint, stdAttrs("app", "1.4.2")...))},
		injected: map[Language][]string{NodeJS: {"app"}},
	}},
	{name: "nodejs-init-settings", want: expect{
		outcome:  OutcomeInjected,
		env:      map[string][]string{"app": nodeEnv("app", "1.4.2")},
		injected: map[Language][]string{NodeJS: {"app"}},
		exact: map[string]corev1.Container{wNodeName: with(nodeInit(), func(c *corev1.Container) {
			c.ImagePullPolicy = corev1.PullAlways
			c.SecurityContext = &corev1.SecurityContext{RunAsNonRoot: ptr.To(true), RunAsUser: ptr.To[int64](1000),
				AllowPrivilegeEscalation: ptr.To(false), Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}}
			c.Resources = resources("50m", "128Mi")
		})},
		volumes: []corev1.Volume{emptyDirVolume(wNodeName, "300Mi")},
	}},
	{name: "nodejs-resource-attributes-valuefrom", differences: []string{"no-init-container-without-target", "valuefrom-skip"}, want: expect{
		outcome: OutcomeSkipped, reason: "no target container could be instrumented",
		skipped: map[string]string{"nodejs/app": "Skipping NodeJS SDK injection: the container defines env var value via ValueFrom, envVar: OTEL_RESOURCE_ATTRIBUTES"},
	}},
	{name: "nodejs-common-and-language-names", want: expect{
		outcome:  OutcomeInjected,
		env:      map[string][]string{"a": nodeEnv("a", "1.0.0"), "b": nodeEnv("b", "2.0.0")},
		injected: map[Language][]string{NodeJS: {"a", "b"}},
		mounts:   map[string][]corev1.VolumeMount{"a": {nodeMount}, "b": {nodeMount}, "c": {}},
	}},

	// ================================================================ .NET (§4)
	{name: "dotnet-inject-true", want: expect{
		outcome: OutcomeInjected, requested: "true", instrumentation: "demo/dotnet-inst",
		env: map[string][]string{"app": slices.Concat([]string{eNodeIP, ePodIP, "ASPNETCORE_URLS=http://+:8080"}, dotNetLoader("linux"),
			sdkTail("web", eEndpoint, stdAttrs("app", "1.4.2")...))},
		injected:       map[Language][]string{DotNet: {"app"}},
		initContainers: []string{wDotNetName},
		exact:          map[string]corev1.Container{wDotNetName: dotNetInit()},
		volumes:        []corev1.Volume{emptyDirVolume(wDotNetName, "200Mi")},
		mounts:         map[string][]corev1.VolumeMount{"app": {dotNetMount}},
	}},
	{name: "dotnet-runtime-musl", want: expect{
		outcome:  OutcomeInjected,
		env:      map[string][]string{"app": dotNetEnv("app", "1.4.2", "linux-musl")},
		injected: map[Language][]string{DotNet: {"app"}},
		exact:    map[string]corev1.Container{wDotNetName: dotNetInit()}, // one image, both libcs
	}},
	{name: "dotnet-runtime-linux-x64", want: expect{
		outcome:  OutcomeInjected,
		env:      map[string][]string{"app": dotNetEnv("app", "1.4.2", "linux")},
		injected: map[Language][]string{DotNet: {"app"}},
	}},
	{name: "dotnet-runtime-namespace-musl", want: expect{
		outcome:  OutcomeInjected,
		env:      map[string][]string{"app": dotNetEnv("app", "1.4.2", "linux-musl")},
		injected: map[Language][]string{DotNet: {"app"}},
	}},
	{name: "dotnet-runtime-unsupported", differences: []string{"no-init-container-without-target"}, want: expect{
		outcome: OutcomeSkipped, reason: "no target container could be instrumented",
		skipped: map[string]string{"dotnet/app": "Skipping .NET SDK injection: provided instrumentation.opentelemetry.io/otel-dotnet-auto-runtime " +
			"annotation value 'linux-arm64' is not supported"},
	}},
	{name: "dotnet-preset-vars", want: expect{
		outcome: OutcomeInjected,
		env: map[string][]string{"app": slices.Concat([]string{eNodeIP, ePodIP,
			"CORECLR_PROFILER_PATH=/custom/profiler.so", // a single value: the app's is kept
			"DOTNET_STARTUP_HOOKS=/app/StartupHook.dll:" + wDotNetDir + "/net/OpenTelemetry.AutoInstrumentation.StartupHook.dll",
			"DOTNET_ADDITIONAL_DEPS=/app/deps:" + wDotNetDir + "/AdditionalDeps",
			"DOTNET_SHARED_STORE=/app/store:" + wDotNetDir + "/store",
			"CORECLR_ENABLE_PROFILING=1", "CORECLR_PROFILER={918728DD-259F-4A6A-AC2B-B85E1B658318}",
			"OTEL_DOTNET_AUTO_HOME=" + wDotNetDir},
			sdkTail("web", eEndpoint, stdAttrs("app", "1.4.2")...))},
		injected: map[Language][]string{DotNet: {"app"}},
	}},
	{name: "dotnet-auto-home-container", differences: []string{"no-init-container-without-target"}, want: expect{
		outcome: OutcomeSkipped, reason: "no target container could be instrumented",
		skipped: map[string]string{"dotnet/app": "Skipping .NET SDK injection: OTEL_DOTNET_AUTO_HOME environment variable is already set in the container"},
	}},
	{name: "dotnet-auto-home-spec", differences: []string{"no-init-container-without-target"}, want: expect{
		outcome: OutcomeSkipped, reason: "no target container could be instrumented",
		skipped: map[string]string{"dotnet/app": "Skipping .NET SDK injection: OTEL_DOTNET_AUTO_HOME environment variable is already set in the .NET instrumentation spec"},
	}},
	{name: "dotnet-startup-hooks-valuefrom", differences: []string{"no-init-container-without-target"}, want: expect{
		outcome: OutcomeSkipped, reason: "no target container could be instrumented",
		skipped: map[string]string{"dotnet/app": "Skipping .NET SDK injection: the container defines env var value via ValueFrom, envVar: DOTNET_STARTUP_HOOKS"},
	}},

	{name: "dotnet-startup-hooks-valuefrom-spec-env", differences: []string{"no-init-container-without-target", "valuefrom-skip"}, want: expect{
		outcome: OutcomeSkipped, reason: "no target container could be instrumented",
		skipped: map[string]string{"dotnet/app": "envVar: DOTNET_STARTUP_HOOKS"},
	}},

	// ================================================================ Go (§4; disabled by default, enabled here)
	{name: "go-target-exe-annotation", config: enable(Go), want: expect{
		outcome: OutcomeInjected, requested: "true", instrumentation: "demo/go-inst",
		env:        map[string][]string{wGoSidecar: goSidecarEnv("/app/server", "app", "2.1.0")},
		injected:   map[Language][]string{Go: {"app"}},
		containers: []string{"app", wGoSidecar},
		exact:      map[string]corev1.Container{wGoSidecar: goSidecar()},
		volumes:    []corev1.Volume{kernelDebugVolume},
		mounts:     map[string][]corev1.VolumeMount{"app": {}},
		extra:      shareProcessNamespace,
	}},
	{name: "go-target-exe-spec-env", config: enable(Go), want: expect{
		outcome: OutcomeInjected,
		env: map[string][]string{wGoSidecar: slices.Concat([]string{eNodeIP, ePodIP,
			"OTEL_GO_AUTO_TARGET_EXE=/usr/bin/server", "OTEL_GO_AUTO_INCLUDE_DB_STATEMENT=true", // spec.go.env
			"OTEL_LOG_LEVEL=debug"}, // spec.env
			sdkTail("web", eEndpoint, stdAttrs("app", "2.1.0")...))},
		injected: map[Language][]string{Go: {"app"}},
		extra:    shareProcessNamespace,
	}},
	{name: "go-target-exe-annotation-overrides-env", config: enable(Go), want: expect{
		outcome:  OutcomeInjected,
		env:      map[string][]string{wGoSidecar: goSidecarEnv("/app/server", "app", "2.1.0")},
		injected: map[Language][]string{Go: {"app"}},
	}},
	{name: "go-target-exe-missing", config: enable(Go), want: expect{
		outcome: OutcomeSkipped, reason: "no target container could be instrumented",
		skipped: map[string]string{"go/app": "Skipping Go SDK injection: OTEL_GO_AUTO_TARGET_EXE not set"},
	}},
	{name: "go-target-exe-namespace-annotation-ignored", config: enable(Go), want: expect{
		outcome: OutcomeSkipped, reason: "no target container could be instrumented",
		skipped: map[string]string{"go/app": "OTEL_GO_AUTO_TARGET_EXE not set"},
	}},
	{name: "go-share-process-namespace-false", config: enable(Go), want: expect{
		outcome: OutcomeSkipped, reason: "no target container could be instrumented",
		skipped: map[string]string{"go/app": "Skipping Go SDK injection: shared process namespace has been explicitly disabled"},
	}},
	{name: "go-settings-and-tls", config: enable(Go), want: expect{
		outcome: OutcomeInjected,
		env: map[string][]string{wGoSidecar: slices.Concat([]string{eNodeIP, ePodIP, "OTEL_GO_AUTO_TARGET_EXE=/app/server",
			eService("web"), eTLSEndpoint}, secretTLSEnv, []string{ePodName, eNodeName, eRes(stdAttrs("app", "2.1.0")...)})},
		injected:   map[Language][]string{Go: {"app"}},
		containers: []string{"app", wGoSidecar},
		exact: map[string]corev1.Container{wGoSidecar: with(goSidecar(), func(c *corev1.Container) {
			c.ImagePullPolicy = corev1.PullIfNotPresent
			c.Resources = resources("50m", "64Mi")
			c.SecurityContext = &corev1.SecurityContext{RunAsUser: ptr.To[int64](0), Privileged: ptr.To(false),
				Capabilities: &corev1.Capabilities{Add: []corev1.Capability{"SYS_PTRACE", "BPF", "PERFMON"}}}
			c.VolumeMounts = append(c.VolumeMounts, secretTLSMount)
		})},
		volumes: []corev1.Volume{secretTLSVolume, kernelDebugVolume},
		mounts:  map[string][]corev1.VolumeMount{"app": {}},
		extra:   shareProcessNamespace,
	}},
	{name: "go-init-container-target", config: enable(Go), want: expect{
		outcome: OutcomeSkipped, reason: "no target container could be instrumented",
		skipped: map[string]string{"go/setup": "Skipping Go SDK injection: is init container"},
	}},
	{name: "go-multiple-containers-multi-off", config: func(c *Config) { c.Enabled[Go] = true; c.MultiInstrumentation = false }, want: expect{
		outcome: OutcomeSkipped, reason: "no target container could be instrumented",
		skipped: map[string]string{"go/app": "Skipping Go SDK injection: go instrumentation cannot be injected into a pod, multiple containers configured"},
	}},
	{name: "go-multiple-containers-go-names", config: enable(Go), want: expect{
		outcome: OutcomeSkipped, reason: "no target container could be instrumented",
		skipped: map[string]string{"go/app": "multiple containers configured"},
	}},
	// Mutate must never fail; with no target left, goInjector indexes
	// targets[0] of an empty slice and panics (expected to fail until
	// fixed; the golden is hand-written: pod unchanged, name reported).
	{name: "go-container-names-missing", config: enable(Go), want: expect{
		outcome: OutcomeSkipped, reason: "no target container could be instrumented",
		skipped: map[string]string{"go/ghost": "no such container in the pod"},
	}},
	{name: "go-second-container", config: enable(Go), want: expect{
		outcome:    OutcomeInjected,
		env:        map[string][]string{wGoSidecar: goSidecarEnv("/app/server", "worker", "3.2.1")},
		injected:   map[Language][]string{Go: {"worker"}},
		containers: []string{"app", "worker", wGoSidecar},
		extra:      shareProcessNamespace,
	}},

	// ================================================================ Apache HTTPD (§4)
	{name: "apache-inject-true", differences: []string{"webserver-script-wording"}, want: expect{
		outcome: OutcomeInjected, requested: "true", instrumentation: "demo/apache-inst",
		env: map[string][]string{"httpd": slices.Concat([]string{eNodeIP, ePodIP, "SERVER_NAME=shop.example.com"},
			sdkTail("web", eGRPCEndpoint, stdAttrs("httpd", "2.4.62")...))},
		injected:       map[Language][]string{ApacheHttpd: {"httpd"}},
		initContainers: []string{wCloneName, "otel-agent-attach-apache"},
		exact: map[string]corev1.Container{
			wCloneName: with(apacheClone("registry.example.com/shop/httpd:2.4.62", "/usr/local/apache2/conf"), func(c *corev1.Container) {
				c.Env = []corev1.EnvVar{{Name: "SERVER_NAME", Value: "shop.example.com"}}
				c.EnvFrom = []corev1.EnvFromSource{{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "httpd-env"}}}}
				c.VolumeMounts = slices.Insert(c.VolumeMounts, 0, corev1.VolumeMount{Name: "static", MountPath: "/usr/local/apache2/htdocs"})
				c.ImagePullPolicy = corev1.PullAlways // the app's: the clone runs the app's image
			}),
			"otel-agent-attach-apache": apacheAttach("/usr/local/apache2/conf", apacheConf("", apacheAttrs(wGRPCEndpoint, "web")...)),
		},
		volumes: []corev1.Volume{emptyDirVolume("static", ""), emptyDirVolume("otel-apache-conf-dir", "200Mi"), emptyDirVolume("otel-apache-agent", "200Mi")},
		mounts: map[string][]corev1.VolumeMount{"httpd": apacheAppMounts("/usr/local/apache2/conf",
			corev1.VolumeMount{Name: "static", MountPath: "/usr/local/apache2/htdocs"})},
	}},
	{name: "apache-version-22-attrs-configpath", differences: []string{"webserver-script-wording"}, want: expect{
		outcome: OutcomeInjected,
		env: map[string][]string{"httpd": slices.Concat([]string{eNodeIP, ePodIP, "APACHE_LOG_LEVEL=info"},
			sdkTail("shop-httpd", eGRPCEndpoint, stdAttrs("httpd", "2.4.62")...))},
		injected: map[Language][]string{ApacheHttpd: {"httpd"}},
		exact: map[string]corev1.Container{
			wCloneName: with(apacheClone("registry.example.com/shop/httpd:2.4.62", "/etc/httpd/conf"), func(c *corev1.Container) {
				c.Env = []corev1.EnvVar{{Name: "APACHE_LOG_LEVEL", Value: "info"}}
			}),
			"otel-agent-attach-apache": apacheAttach("/etc/httpd/conf", apacheConf("22",
				"ApacheModuleEnabled ON",
				"ApacheModuleOtelExporterEndpoint http://apache-collector.observability:4317", // attrs override
				"ApacheModuleOtelSpanExporter otlp",
				"ApacheModuleResolveBackends  ON",
				"ApacheModuleSegmentParameter 15,1,6,7", // attrs add
				"ApacheModuleSegmentType custom",
				"ApacheModuleServiceInstanceId "+wSID,
				"ApacheModuleServiceName shop-httpd",
				"ApacheModuleServiceNamespace demo",
				"ApacheModuleTraceAsError  ON"),
				corev1.EnvVar{Name: "APACHE_LOG_LEVEL", Value: "info"}), // spec.apacheHttpd.env first
		},
		mounts: map[string][]corev1.VolumeMount{"httpd": apacheAppMounts("/etc/httpd/conf")},
	}},
	{name: "apache-config-mount-removed", differences: []string{"webserver-script-wording"}, want: expect{
		outcome: OutcomeInjected,
		env: map[string][]string{"httpd": slices.Concat([]string{eNodeIP, ePodIP},
			sdkTail("web", eGRPCEndpoint, stdAttrs("httpd", "2.4.62")...))},
		injected: map[Language][]string{ApacheHttpd: {"httpd"}},
		volumes: []corev1.Volume{
			{Name: "httpd-config", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "httpd-config"}}}},
			emptyDirVolume("logs", ""), emptyDirVolume("otel-apache-conf-dir", "200Mi"), emptyDirVolume("otel-apache-agent", "200Mi"),
		},
		mounts: map[string][]corev1.VolumeMount{
			"httpd": apacheAppMounts("/usr/local/apache2/conf", corev1.VolumeMount{Name: "logs", MountPath: "/var/log/apache2"}),
			wCloneName: {
				{Name: "httpd-config", MountPath: "/usr/local/apache2/conf/httpd.conf", SubPath: "httpd.conf"},
				{Name: "logs", MountPath: "/var/log/apache2"},
				{Name: "otel-apache-conf-dir", MountPath: wSourceConfDir},
			},
		},
	}},
	{name: "apache-init-container-target", differences: []string{"webserver-script-wording"}, want: expect{
		outcome:        OutcomeInjected,
		env:            map[string][]string{"httpd": slices.Concat([]string{eNodeIP, ePodIP}, sdkTail("web", eGRPCEndpoint, stdAttrs("httpd", "2.4.62")...))},
		injected:       map[Language][]string{ApacheHttpd: {"httpd"}},
		skipped:        map[string]string{"apache-httpd/warmup": "Skipping Apache HTTPD injection: is init container"},
		initContainers: []string{"warmup", wCloneName, "otel-agent-attach-apache"},
	}},
	{name: "apache-settings", differences: []string{"webserver-script-wording"}, want: expect{
		outcome: OutcomeInjected,
		env: map[string][]string{"httpd": slices.Concat([]string{eNodeIP, ePodIP, "OTEL_LOG_LEVEL=debug"},
			sdkTail("web", eGRPCEndpoint, stdAttrs("httpd", "2.4.62")...))},
		injected: map[Language][]string{ApacheHttpd: {"httpd"}},
		exact: func() map[string]corev1.Container {
			settings := func(c *corev1.Container) {
				c.SecurityContext = &corev1.SecurityContext{RunAsNonRoot: ptr.To(true), RunAsUser: ptr.To[int64](33)}
				c.Resources = resources("1m", "128Mi")
			}
			return map[string]corev1.Container{
				wCloneName: with(apacheClone("registry.example.com/shop/httpd:2.4.62", "/usr/local/apache2/conf"), func(c *corev1.Container) {
					settings(c)
					c.ImagePullPolicy = corev1.PullNever
				}),
				"otel-agent-attach-apache": with(apacheAttach("/usr/local/apache2/conf", apacheConf("", apacheAttrs(wGRPCEndpoint, "web")...),
					corev1.EnvVar{Name: "OTEL_LOG_LEVEL", Value: "debug"}), func(c *corev1.Container) { // spec.env
					settings(c)
					c.ImagePullPolicy = corev1.PullIfNotPresent
				}),
			}
		}(),
		volumes: []corev1.Volume{emptyDirVolume("otel-apache-conf-dir", "100Mi"), emptyDirVolume("otel-apache-agent", "100Mi")},
	}},
	// §1.1: init containers copy "the first target container's"
	// securityContext. The implementation (like upstream's code) sets it
	// again for every target, so the last one's wins: expected to fail
	// until fixed (the golden holds the spec's value, runAsUser 33).
	{name: "apache-two-containers", differences: []string{"webserver-script-wording"}, want: expect{
		outcome: OutcomeInjected,
		env: map[string][]string{
			"httpd":        slices.Concat([]string{eNodeIP, ePodIP}, sdkTail("web", eGRPCEndpoint, stdAttrs("httpd", "2.4.62")...)),
			"httpd-canary": slices.Concat([]string{eNodeIP, ePodIP}, sdkTail("web", eGRPCEndpoint, stdAttrs("httpd-canary", "2.4.63")...)),
		},
		injected: map[Language][]string{ApacheHttpd: {"httpd", "httpd-canary"}},
		exact: map[string]corev1.Container{
			wCloneName: with(apacheClone("registry.example.com/shop/httpd:2.4.62", "/usr/local/apache2/conf"), func(c *corev1.Container) {
				c.SecurityContext = &corev1.SecurityContext{RunAsUser: ptr.To[int64](33)}
			}),
			"otel-agent-attach-apache": with(apacheAttach("/usr/local/apache2/conf", apacheConf("", apacheAttrs(wGRPCEndpoint, "web")...)), func(c *corev1.Container) {
				c.SecurityContext = &corev1.SecurityContext{RunAsUser: ptr.To[int64](33)}
			}),
		},
		mounts: map[string][]corev1.VolumeMount{"httpd": apacheAppMounts("/usr/local/apache2/conf"), "httpd-canary": {}},
	}},
	{name: "apache-no-endpoint-labels", differences: []string{"webserver-script-wording"}, want: expect{
		outcome: OutcomeInjected,
		env: map[string][]string{"httpd": slices.Concat([]string{eNodeIP, ePodIP},
			sdkTail("storefront", "", stdAttrs("httpd", "2.4.62")...))},
		injected: map[Language][]string{ApacheHttpd: {"httpd"}},
		exact: map[string]corev1.Container{
			"otel-agent-attach-apache": apacheAttach("/usr/local/apache2/conf", apacheConf("", apacheAttrs("http://localhost:4317/", "storefront")...)),
		},
	}},
	// Upstream v0.158 #5333: $(OTEL_NODE_IP) in the endpoint. The agent
	// init container lists spec.apacheHttpd.env, spec.env (its
	// OTEL_NODE_IP once), OTEL_POD_IP, then the agent's variables, so the
	// kubelet expands the reference in OTEL_APACHE_AGENT_CONF.
	{name: "apache-endpoint-node-ip", differences: []string{"webserver-script-wording"}, want: expect{
		outcome:  OutcomeInjected,
		injected: map[Language][]string{ApacheHttpd: {"httpd"}},
		exact: map[string]corev1.Container{
			"otel-agent-attach-apache": with(apacheAttach("/usr/local/apache2/conf", apacheConf("",
				"ApacheModuleEnabled ON",
				"ApacheModuleOtelExporterEndpoint http://$(OTEL_NODE_IP):4317",
				"ApacheModuleOtelMaxQueueSize 4096",
				"ApacheModuleOtelSpanExporter otlp",
				"ApacheModuleResolveBackends  ON",
				"ApacheModuleServiceInstanceId "+wSID,
				"ApacheModuleServiceName web",
				"ApacheModuleServiceNamespace demo",
				"ApacheModuleTraceAsError  ON")), func(c *corev1.Container) {
				c.Env = slices.Concat([]corev1.EnvVar{
					{Name: "APACHE_LOG_LEVEL", Value: "info"},
					{Name: "OTEL_NODE_IP", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "status.hostIP"}}},
					{Name: "OTEL_EXPORTER_OTLP_ENDPOINT", Value: "http://$(OTEL_NODE_IP):4317"},
					{Name: "OTEL_TRACES_SAMPLER", Value: "always_on"},
					ipEnv[0], // OTEL_POD_IP; OTEL_NODE_IP came from spec.env
				}, c.Env[len(c.Env)-2:])
			}),
		},
	}},
	{name: "apache-volume-claim-template-metadata", differences: []string{"webserver-script-wording"}, want: expect{
		outcome:  OutcomeInjected,
		injected: map[Language][]string{ApacheHttpd: {"httpd"}},
		volumes: []corev1.Volume{emptyDirVolume("otel-apache-conf-dir", "200Mi"), {Name: "otel-apache-agent", VolumeSource: corev1.VolumeSource{Ephemeral: &corev1.EphemeralVolumeSource{
			VolumeClaimTemplate: &corev1.PersistentVolumeClaimTemplate{
				ObjectMeta: metav1.ObjectMeta{
					Labels:      map[string]string{"team": "shop", "backup.example.com/skip": "true"},
					Annotations: map[string]string{"example.com/owner": "web-team"},
				},
				Spec: corev1.PersistentVolumeClaimSpec{
					AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
					StorageClassName: ptr.To("standard"),
					Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{
						corev1.ResourceStorage: resource.MustParse("1Gi")}},
				}}}}}},
	}},
	{name: "already-injected-apache-clone", want: expect{outcome: OutcomeSkipped, reason: "already instrumented: init container otel-agent-source-container-clone present"}},

	// ================================================================ Nginx (§4; disabled by default, enabled here)
	{name: "nginx-inject-true", differences: []string{"webserver-script-wording"}, config: enable(Nginx), want: expect{
		outcome: OutcomeInjected, requested: "true", instrumentation: "demo/nginx-inst",
		env: map[string][]string{"nginx": slices.Concat([]string{eNodeIP, ePodIP, "NGINX_PORT=8080", eLDPath},
			sdkTail("web", eGRPCEndpoint, stdAttrs("nginx", "1.27.3")...))},
		injected:       map[Language][]string{Nginx: {"nginx"}},
		initContainers: []string{wCloneName, "otel-agent-attach-nginx"},
		exact: map[string]corev1.Container{
			wCloneName: with(nginxClone("registry.example.com/shop/nginx:1.27.3", "/etc/nginx"), func(c *corev1.Container) {
				c.Env = []corev1.EnvVar{{Name: "NGINX_PORT", Value: "8080"}}
			}),
			"otel-agent-attach-nginx": nginxAttach("nginx.conf", nginxConf(nginxAttrs(wGRPCEndpoint)...)),
		},
		// Upstream gives Nginx's volumes no size limit.
		volumes: []corev1.Volume{emptyDirVolume("otel-nginx-conf-dir", ""), emptyDirVolume("otel-nginx-agent", "")},
		mounts:  map[string][]corev1.VolumeMount{"nginx": nginxAppMounts("/etc/nginx")},
	}},
	{name: "nginx-config-file-attrs-ld-library-path", differences: []string{"webserver-script-wording"}, config: enable(Nginx), want: expect{
		outcome: OutcomeInjected,
		env: map[string][]string{"nginx": slices.Concat([]string{eNodeIP, ePodIP,
			"LD_LIBRARY_PATH=/usr/local/lib:/opt/opentelemetry-webserver/agent/sdk_lib/lib", "NGINX_ENTRYPOINT_QUIET_LOGS=1"},
			sdkTail("web", eGRPCEndpoint, stdAttrs("nginx", "1.27.3")...))},
		injected: map[Language][]string{Nginx: {"nginx"}},
		exact: map[string]corev1.Container{
			wCloneName: with(nginxClone("registry.example.com/shop/nginx:1.27.3", "/etc/nginx/custom"), func(c *corev1.Container) {
				// Upstream's clone shares the app's env list, so the app's
				// own LD_LIBRARY_PATH shows the in-place extension there too.
				c.Env = []corev1.EnvVar{{Name: "LD_LIBRARY_PATH", Value: "/usr/local/lib:/opt/opentelemetry-webserver/agent/sdk_lib/lib"}, {Name: "NGINX_ENTRYPOINT_QUIET_LOGS", Value: "1"}}
				c.SecurityContext = &corev1.SecurityContext{RunAsUser: ptr.To[int64](101)}
			}),
			"otel-agent-attach-nginx": with(nginxAttach("main.conf", nginxConf(
				"NginxModuleEnabled ON",
				"NginxModuleOtelExporterEndpoint http://nginx-collector.observability:4317",
				"NginxModuleOtelSpanExporter otlp",
				"NginxModuleRequestHeaders X-Request-Id",
				"NginxModuleResolveBackends ON",
				"NginxModuleServiceInstanceId "+wSID,
				"NginxModuleServiceName web",
				"NginxModuleServiceNamespace demo",
				"NginxModuleTraceAsError ON"),
				corev1.EnvVar{Name: "NGINX_ENTRYPOINT_QUIET_LOGS", Value: "1"}), func(c *corev1.Container) { // spec.nginx.env
				c.SecurityContext = &corev1.SecurityContext{RunAsUser: ptr.To[int64](101)}
				c.ImagePullPolicy = corev1.PullIfNotPresent
			}),
		},
		mounts: map[string][]corev1.VolumeMount{"nginx": nginxAppMounts("/etc/nginx/custom")},
	}},
	// As apache-endpoint-node-ip for Nginx; the app's own LD_LIBRARY_PATH
	// is extended in place, so the clone (sharing upstream's env list)
	// shows the extended value too.
	{name: "nginx-endpoint-node-ip", config: enable(Nginx), differences: []string{"webserver-script-wording"}, want: expect{
		outcome:  OutcomeInjected,
		injected: map[Language][]string{Nginx: {"nginx"}},
		exact: map[string]corev1.Container{
			wCloneName: with(nginxClone("registry.example.com/shop/nginx:1.27.3", "/etc/nginx"), func(c *corev1.Container) {
				c.Env = []corev1.EnvVar{{Name: "LD_LIBRARY_PATH", Value: "/opt:/opt/opentelemetry-webserver/agent/sdk_lib/lib"}}
			}),
			"otel-agent-attach-nginx": with(nginxAttach("nginx.conf", nginxConf(
				"NginxModuleEnabled ON",
				"NginxModuleOtelExporterEndpoint http://$(OTEL_NODE_IP):4317",
				"NginxModuleOtelSpanExporter otlp",
				"NginxModuleResolveBackends ON",
				"NginxModuleServiceInstanceId "+wSID,
				"NginxModuleServiceName web",
				"NginxModuleServiceNamespace demo",
				"NginxModuleTraceAsError ON")), func(c *corev1.Container) {
				c.Env = slices.Concat([]corev1.EnvVar{
					{Name: "OTEL_NODE_IP", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "status.hostIP"}}},
					{Name: "OTEL_EXPORTER_OTLP_ENDPOINT", Value: "http://$(OTEL_NODE_IP):4317"},
					ipEnv[0],
				}, c.Env[len(c.Env)-2:])
			}),
		},
	}},
	{name: "nginx-disabled", want: expect{
		outcome: OutcomeSkipped, reason: "disabled",
		warnings: []string{"InstrumentationRequestRejected: support for Nginx auto instrumentation is not enabled"},
	}},
	{name: "nginx-init-container-target", config: enable(Nginx), want: expect{
		outcome: OutcomeSkipped, reason: "no target container could be instrumented",
		skipped: map[string]string{"nginx/setup": "Skipping Nginx injection: is init container"},
	}},
	{name: "nginx-config-mount-removed", differences: []string{"webserver-script-wording"}, config: enable(Nginx), want: expect{
		outcome: OutcomeInjected,
		env: map[string][]string{"nginx": slices.Concat([]string{eNodeIP, ePodIP, eLDPath},
			sdkTail("web", eGRPCEndpoint, stdAttrs("nginx", "1.27.3")...))},
		injected: map[Language][]string{Nginx: {"nginx"}},
		volumes: []corev1.Volume{
			{Name: "nginx-confd", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "nginx-confd"}}}},
			emptyDirVolume("otel-nginx-conf-dir", ""), emptyDirVolume("otel-nginx-agent", ""),
		},
		mounts: map[string][]corev1.VolumeMount{
			"nginx": nginxAppMounts("/etc/nginx"),
			wCloneName: {
				{Name: "nginx-confd", MountPath: "/etc/nginx/conf.d"},
				{Name: "otel-nginx-conf-dir", MountPath: wSourceConfDir},
			},
		},
	}},

	{name: "nginx-ld-library-path-valuefrom", differences: []string{"valuefrom-skip"}, config: enable(Nginx), want: expect{
		outcome: OutcomeSkipped, reason: "no target container could be instrumented",
		skipped: map[string]string{"nginx/nginx": "envVar: LD_LIBRARY_PATH"},
	}},

	// ================================================================ SDK only (§4)
	{name: "sdk-container-names", want: expect{
		outcome: OutcomeInjected, requested: "true", instrumentation: "demo/sdk-inst",
		env: map[string][]string{
			"a": {eNodeIP, ePodIP, eService("web"), eEndpoint, ePodName, eNodeName, "OTEL_PROPAGATORS=tracecontext,baggage", eRes(stdAttrs("a", "1.0.0")...)},
			"b": {eNodeIP, ePodIP, "OTEL_SERVICE_NAME=b-service", eEndpoint, ePodName, eNodeName, "OTEL_PROPAGATORS=tracecontext,baggage", eRes(stdAttrs("b", "2.0.0")...)},
		},
		injected:       map[Language][]string{SDK: {"a", "b"}},
		initContainers: []string{},
		volumes:        []corev1.Volume{},
		mounts:         map[string][]corev1.VolumeMount{"a": {}, "b": {}},
	}},
	{name: "sdk-exporter-tls", want: expect{
		outcome: OutcomeInjected,
		env: map[string][]string{"app": {eNodeIP, ePodIP, eService("web"), eTLSEndpoint,
			"OTEL_EXPORTER_OTLP_CERTIFICATE=/otel-auto-instrumentation-configmap-otel-ca/ca.crt",
			ePodName, eNodeName, eRes(stdAttrs("app", "1.4.2")...)}},
		injected:       map[Language][]string{SDK: {"app"}},
		initContainers: []string{},
		volumes: []corev1.Volume{{Name: "otel-auto-configmap-otel-ca", VolumeSource: corev1.VolumeSource{
			ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "otel-ca"}}}}},
		mounts: map[string][]corev1.VolumeMount{"app": {{Name: "otel-auto-configmap-otel-ca", MountPath: "/otel-auto-instrumentation-configmap-otel-ca", ReadOnly: true}}},
	}},
	// §2.3 "any container other than otc-container already has
	// OTEL_RESOURCE_ATTRIBUTES_NODE_NAME": alreadyInstrumented reads
	// regular containers only, so this pod (SDK env in an init container,
	// nothing else to recognise it by) is instrumented again on a second
	// admission (the idempotency invariant fails until fixed).
	{name: "sdk-init-container-target", want: expect{
		outcome:        OutcomeInjected,
		env:            map[string][]string{"setup": sdkOnlyEnv("setup", "1.1.0")},
		injected:       map[Language][]string{SDK: {"setup"}},
		initContainers: []string{"setup"},
		volumes:        []corev1.Volume{},
	}},

	// ================================================================ valueFrom in the Instrumentation's env
	// The loader variable arrives with valueFrom from spec.<lang>.env or
	// spec.env instead of the container: the implementation checks only
	// the container's own env, then extends the variable, producing one
	// with both value and valueFrom that the API server rejects with the
	// whole pod. These expect the same skip as for the container's own
	// variable (Python here; the Java, Node.js, .NET and Nginx
	// LD_LIBRARY_PATH cases sit with their languages); their goldens are
	// hand-written in the existing skip wording.
	{name: "python-pythonpath-valuefrom-spec-env", differences: []string{"no-init-container-without-target", "valuefrom-skip"}, want: expect{
		outcome: OutcomeSkipped, reason: "no target container could be instrumented",
		skipped: map[string]string{"python/app": "envVar: PYTHONPATH"},
	}},

	// ================================================================ multi-instrumentation (§2.1, §2.2, §4 order)
	{name: "multi-every-copy-language", want: expect{
		outcome: OutcomeInjected,
		env: map[string][]string{
			"java-app":   javaEnv("java-app", "1.0.0"),
			"node-app":   nodeEnv("node-app", "2.0.0"),
			"py-app":     pythonEnv("web", stdAttrs("py-app", "3.0.0")...),
			"dotnet-app": dotNetEnv("dotnet-app", "4.0.0", "linux"),
			"sdk-app":    sdkOnlyEnv("sdk-app", "5.0.0"),
		},
		injected: map[Language][]string{Java: {"java-app"}, NodeJS: {"node-app"}, Python: {"py-app"}, DotNet: {"dotnet-app"}, SDK: {"sdk-app"}},
		// Java, Node.js, Python, .NET: the operator's language order.
		initContainers: []string{wJavaName, wNodeName, wPyName, wDotNetName},
		init:           &initWant{index: ptr.To(2)},
		exact:          map[string]corev1.Container{wJavaName: javaInit(), wNodeName: nodeInit(), wDotNetName: dotNetInit()},
		volumes: []corev1.Volume{emptyDirVolume(wJavaName, "200Mi"), emptyDirVolume(wNodeName, "200Mi"),
			defaultPythonVolume(), emptyDirVolume(wDotNetName, "200Mi")},
		mounts: map[string][]corev1.VolumeMount{
			"java-app": {javaMount("java-app")}, "node-app": {nodeMount}, "py-app": {pyMount}, "dotnet-app": {dotNetMount}, "sdk-app": {},
		},
	}},
	{name: "multi-init-container-targets", want: expect{
		outcome: OutcomeInjected,
		env: map[string][]string{
			"setup": javaEnv("setup", "1.1.0"), "app": javaEnv("app", "1.4.2"),
			"seed": nodeEnv("seed", "1.2.0"), "worker": nodeEnv("worker", "0.9.1"),
		},
		injected:       map[Language][]string{Java: {"setup", "app"}, NodeJS: {"seed", "worker"}},
		initContainers: []string{"migrate", wNodeName, "seed", wJavaName, "setup"},
		volumes:        []corev1.Volume{emptyDirVolume(wJavaName, "200Mi"), emptyDirVolume(wNodeName, "200Mi")},
	}},
	{name: "multi-go-and-java", config: enable(Go), want: expect{
		outcome: OutcomeInjected,
		env: map[string][]string{
			"java-app": javaEnv("java-app", "1.0.0"),
			wGoSidecar: goSidecarEnv("/app/server", "go-app", "2.0.0"),
		},
		injected:       map[Language][]string{Java: {"java-app"}, Go: {"go-app"}},
		containers:     []string{"java-app", "go-app", wGoSidecar},
		initContainers: []string{wJavaName},
		volumes:        []corev1.Volume{emptyDirVolume(wJavaName, "200Mi"), kernelDebugVolume},
		mounts:         map[string][]corev1.VolumeMount{"go-app": {}},
		extra:          shareProcessNamespace,
	}},
	{name: "multi-nginx-quirky-annotation", differences: []string{"webserver-script-wording"}, config: enable(Nginx), want: expect{
		outcome: OutcomeInjected,
		env: map[string][]string{
			"api":   javaEnv("api", "2.0.0"),
			"nginx": slices.Concat([]string{eNodeIP, ePodIP, eLDPath}, sdkTail("web", eEndpoint, stdAttrs("nginx", "1.27.3")...)),
		},
		injected:       map[Language][]string{Java: {"api"}, Nginx: {"nginx"}},
		initContainers: []string{wJavaName, wCloneName, "otel-agent-attach-nginx"},
		volumes: []corev1.Volume{emptyDirVolume(wJavaName, "200Mi"),
			emptyDirVolume("otel-nginx-conf-dir", ""), emptyDirVolume("otel-nginx-agent", "")},
	}},
	{name: "multi-nginx-plain-annotation-ignored", config: enable(Nginx), want: expect{
		outcome: OutcomeSkipped, reason: "incorrect instrumentation configuration - please provide container names for all instrumentations",
	}},
	{name: "multi-apache-and-python", differences: []string{"webserver-script-wording"}, want: expect{
		outcome: OutcomeInjected,
		env: map[string][]string{
			"app":   pythonEnv("web", stdAttrs("app", "1.4.2")...),
			"httpd": slices.Concat([]string{eNodeIP, ePodIP}, sdkTail("web", eEndpoint, stdAttrs("httpd", "2.4.62")...)),
		},
		injected:       map[Language][]string{Python: {"app"}, ApacheHttpd: {"httpd"}},
		initContainers: []string{wPyName, wCloneName, "otel-agent-attach-apache"},
		exact: map[string]corev1.Container{
			// The Instrumentation's endpoint (4318 here) goes to the module
			// verbatim (§2.5: the operator never rewrites endpoints).
			"otel-agent-attach-apache": apacheAttach("/usr/local/apache2/conf", apacheConf("", apacheAttrs(wEndpoint, "web")...)),
		},
		volumes: []corev1.Volume{defaultPythonVolume(), emptyDirVolume("otel-apache-conf-dir", "200Mi"), emptyDirVolume("otel-apache-agent", "200Mi")},
	}},
	{name: "multi-missing-names", want: expect{
		outcome: OutcomeSkipped, reason: "incorrect instrumentation configuration - please provide container names for all instrumentations",
	}},
	{name: "multi-duplicate-across-languages", want: expect{outcome: OutcomeSkipped, reason: "duplicated container names detected: [app]"}},
	{name: "multi-disabled-two-languages", config: func(c *Config) { c.MultiInstrumentation = false }, want: expect{
		outcome: OutcomeInjected,
		// Both languages configure java-app; Node.js's common configuration
		// finds every attribute key already set, so only the forced pod and
		// node name come again (§3 quirk).
		env: map[string][]string{"java-app": {eNodeIP, ePodIP, "JAVA_TOOL_OPTIONS=" + javaAgentArg("java-app"),
			eService("web"), eEndpoint, ePodName, eNodeName,
			eNodeOptions, eMetrics, ePodName, eNodeName,
			eRes(append(stdAttrs("java-app", "1.0.0"), aNode, aPod)...)}},
		duplicateEnvQuirk: true,
		injected:          map[Language][]string{Java: {"java-app"}, NodeJS: {"java-app"}},
		initContainers:    []string{wJavaName, wNodeName},
		mounts:            map[string][]corev1.VolumeMount{"java-app": {javaMount("java-app"), nodeMount}, "node-app": {}},
	}},
	{name: "multi-disabled-duplicate-container-names", differences: []string{"container-names-once"}, config: func(c *Config) { c.MultiInstrumentation = false }, want: expect{
		outcome:        OutcomeInjected,
		env:            map[string][]string{"app": javaEnv("app", "1.4.2"), "worker": javaEnv("worker", "0.9.1")},
		injected:       map[Language][]string{Java: {"app", "worker"}},
		initContainers: []string{wJavaName},
		mounts:         map[string][]corev1.VolumeMount{"app": {javaMount("app")}, "worker": {javaMount("worker")}},
	}},
	{name: "multi-language-disabled", config: func(c *Config) { c.Enabled[DotNet] = false }, want: expect{
		outcome:  OutcomeInjected,
		env:      map[string][]string{"app": javaEnv("app", "1.4.2")},
		injected: map[Language][]string{Java: {"app"}},
		warnings: []string{"InstrumentationRequestRejected: support for .NET auto instrumentation is not enabled"},
	}},
}
