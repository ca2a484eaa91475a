package instrumentation

import (
	_ "embed"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/autotel/autotel/api/v1alpha1"
)

// Apache HTTPD and Nginx are instrumented by a server module that reads a
// configuration file, not environment variables. The module must be
// loaded by the server's own configuration, which belongs to the app
// image. So: an init container cloned from the app copies the app's
// configuration into a volume, a second init container (the agent image)
// copies the module and edits that copy to load it, and the app mounts the
// edited copy over its configuration folder.
const (
	webServerAgentDir       = "/opt/opentelemetry-webserver/agent"
	webServerConfDir        = "/opt/opentelemetry-webserver/source-conf"
	webServerCloneContainer = "otel-agent-source-container-clone"
	// The file name carries upstream's typo; agent images and docs use it.
	webServerAgentConfFile = "opentemetry_agent.conf"
	sidPlaceholder         = "<<SID-PLACEHOLDER>>"
	defaultGRPCEndpoint    = "http://localhost:4317/"
)

// The init containers' scripts. User paths (configPath, configFile) are
// never pasted into them: they are passed after "--" as $1, as upstream
// does since v0.151 (#4925), so no quoting in a path can reach the shell.
var (
	//go:embed scripts/apache_attach.sh
	apacheAttachScript string
	//go:embed scripts/nginx_clone.sh
	nginxCloneScript string
	//go:embed scripts/nginx_attach.sh
	nginxAttachScript string
)

// attachEnv is the env of the agent ("attach") init container: the
// language's env, then the Instrumentation's env and the pod and node IPs,
// then the agent's own variables. The kubelet expands $(VAR) in a literal
// value only against variables listed before it, so an exporter endpoint
// like http://$(OTEL_NODE_IP):4317 rendered into the module configuration
// becomes a real address only with those first. Upstream does this since
// v0.158 (#5333, initContainerUserEnv in internal/instrumentation/helper.go).
func attachEnv(inst *v1alpha1.Instrumentation, s webServerSpec, agent ...corev1.EnvVar) []corev1.EnvVar {
	env := appendIfAbsent(nil, s.Env...)
	env = appendIfAbsent(env, inst.Spec.Env...)
	env = appendIfAbsent(env, fieldRefEnv(envPodIP, "status.podIP"), fieldRefEnv(envNodeIP, "status.hostIP"))
	return append(env, agent...)
}

// attachInitContainer is the agent ("attach") init container of either
// server: it runs script in the agent's image with arg as its one
// positional argument ($1 after "--", so the shell never parses it), and
// sees the agent volume and the configuration copy.
func attachInitContainer(inst *v1alpha1.Instrumentation, s webServerSpec, name, agentVolume, confVolume, script, arg string, agentEnv ...corev1.EnvVar) corev1.Container {
	return corev1.Container{
		Name:      name,
		Image:     s.Image,
		Command:   []string{"/bin/sh", "-c"},
		Args:      []string{script, "--", arg},
		Env:       attachEnv(inst, s, agentEnv...),
		Resources: *s.Resources.DeepCopy(),
		VolumeMounts: []corev1.VolumeMount{
			{Name: agentVolume, MountPath: webServerAgentDir},
			{Name: confVolume, MountPath: webServerConfDir},
		},
		ImagePullPolicy: inst.Spec.ImagePullPolicy,
	}
}

// webServer describes one server kind.
type webServer struct {
	language        Language
	attachContainer string
	confVolume      string
	agentVolume     string
	spec            func(*v1alpha1.Instrumentation) webServerSpec
	// cloneCommand and attachContainerFor build the two init containers.
	cloneCommand func(s webServerSpec) (command, args []string)
	attach       func(inst *v1alpha1.Instrumentation, s webServerSpec, agentConf string) corev1.Container
	// moduleConfig renders the module's attributes file.
	moduleConfig func(s webServerSpec, endpoint, serviceName, serviceNamespace string) string
	// fallbackNamespace names the service namespace when the pod has none.
	fallbackNamespace string
	// afterAttach lets Nginx add its library path to the app.
	afterAttach func(pod *corev1.Pod, c *corev1.Container)
}

// webServerSpec is the part of ApacheHttpd and Nginx specs injection uses.
type webServerSpec struct {
	Image     string
	Volume    v1alpha1.VolumeSpec
	Env       []corev1.EnvVar
	Attrs     []corev1.EnvVar
	Resources corev1.ResourceRequirements
	ConfDir   string // the server's configuration folder in the app image
	ConfFile  string // Nginx only: the main configuration file's name
	Version   string // Apache only: 2.4 or 2.2
}

func (w webServer) inject(sdk sdkEnv, req request, pod *corev1.Pod, targets []*corev1.Container) []ContainerReport {
	var reports []ContainerReport
	spec := w.spec(req.inst)
	var firstTarget *corev1.Container
	for _, c := range targets {
		if slices.ContainsFunc(pod.Spec.InitContainers, func(ic corev1.Container) bool { return ic.Name == c.Name }) {
			reports = append(reports, ContainerReport{Name: c.Name, Reason: fmt.Sprintf("Skipping %s injection: is init container", w.language.displayName())})
			continue
		}
		err := checkCommon(req.inst, c, spec.Env)
		if err == nil && w.language == Nginx {
			err = literalOnly(mergedEnv(c, spec.Env), "LD_LIBRARY_PATH")
		}
		if err != nil {
			reports = append(reports, ContainerReport{Name: c.Name, Reason: fmt.Sprintf("Skipping %s injection: %v", w.language.displayName(), err)})
			continue
		}
		if firstTarget == nil {
			firstTarget = c
		}
		res := sdk.resourceMap(req.inst, pod, c)
		c.Env = appendIfAbsent(c.Env, spec.Env...)

		if !hasInitContainer(pod, webServerCloneContainer) {
			pod.Spec.Volumes = append(pod.Spec.Volumes, corev1.Volume{Name: w.confVolume, VolumeSource: corev1.VolumeSource{
				EmptyDir: &corev1.EmptyDirVolumeSource{SizeLimit: w.confVolumeSize(spec)},
			}})
			command, args := w.cloneCommand(spec)
			pod.Spec.InitContainers = append(pod.Spec.InitContainers, corev1.Container{
				Name:            webServerCloneContainer,
				Image:           c.Image,
				Command:         command,
				Args:            args,
				Env:             slices.Clone(c.Env),
				EnvFrom:         slices.Clone(c.EnvFrom),
				VolumeMounts:    append(slices.Clone(c.VolumeMounts), corev1.VolumeMount{Name: w.confVolume, MountPath: webServerConfDir}),
				Resources:       *spec.Resources.DeepCopy(),
				ImagePullPolicy: c.ImagePullPolicy,
			})
			// A mount carrying the app's configuration would hide the
			// edited copy; only the clone keeps it.
			if i := slices.IndexFunc(c.VolumeMounts, func(m corev1.VolumeMount) bool { return strings.Contains(m.MountPath, spec.ConfDir) }); i >= 0 {
				c.VolumeMounts = slices.Delete(c.VolumeMounts, i, i+1)
			}
			c.VolumeMounts = append(c.VolumeMounts,
				corev1.VolumeMount{Name: w.agentVolume, MountPath: webServerAgentDir},
				corev1.VolumeMount{Name: w.confVolume, MountPath: spec.ConfDir})
		}
		if !hasInitContainer(pod, w.attachContainer) {
			pod.Spec.Volumes = append(pod.Spec.Volumes, w.agentVolumeFor(spec))
			endpoint := req.inst.Spec.Exporter.Endpoint
			if endpoint == "" {
				endpoint = defaultGRPCEndpoint // the module speaks OTLP/gRPC only
			}
			namespace := pod.Namespace
			if namespace == "" {
				namespace = res[attrNamespace]
			}
			if namespace == "" {
				namespace = w.fallbackNamespace
			}
			conf := w.moduleConfig(spec, endpoint, chooseServiceName(pod, req.inst.Spec.Defaults.UseLabelsForResourceAttributes, res, c), namespace)
			pod.Spec.InitContainers = append(pod.Spec.InitContainers, w.attach(req.inst, spec, conf))
			if w.afterAttach != nil {
				w.afterAttach(pod, c)
			}
		}
		injectCommonEnv(req.inst, c)
		sdk.injectCommonSDKConfig(req.inst, pod, c, c)
		// The first instrumented container decides, as for every language.
		sc := initSecurityContext(req.inst.Spec, firstTarget)
		for i := range pod.Spec.InitContainers {
			if n := pod.Spec.InitContainers[i].Name; n == webServerCloneContainer || n == w.attachContainer {
				pod.Spec.InitContainers[i].SecurityContext = sc.DeepCopy()
			}
		}
		reports = append(reports, ContainerReport{Name: c.Name, Injected: true})
	}
	return reports
}

func (w webServer) confVolumeSize(s webServerSpec) *resource.Quantity {
	if w.language != ApacheHttpd {
		return nil // upstream gives Nginx's folders no size limit
	}
	size := defaultVolumeSize.DeepCopy()
	if s.Volume.VolumeSizeLimit != nil {
		size = s.Volume.VolumeSizeLimit.DeepCopy()
	}
	return &size
}

func (w webServer) agentVolumeFor(s webServerSpec) corev1.Volume {
	if w.language == ApacheHttpd {
		return agentVolume(s.Volume, w.agentVolume)
	}
	return corev1.Volume{Name: w.agentVolume, VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}
}

// moduleAttrs are the module directives both servers' modules take, named
// with the module's prefix, with the user's attrs over them. on is the value
// of ResolveBackends and TraceAsError as upstream renders it.
func moduleAttrs(prefix, on, endpoint, serviceName, serviceNamespace string, user []corev1.EnvVar) map[string]string {
	attrs := map[string]string{
		prefix + "Enabled":              "ON",
		prefix + "OtelSpanExporter":     "otlp",
		prefix + "OtelExporterEndpoint": endpoint,
		prefix + "ServiceName":          serviceName,
		prefix + "ServiceNamespace":     serviceNamespace,
		prefix + "ServiceInstanceId":    sidPlaceholder,
		prefix + "ResolveBackends":      on,
		prefix + "TraceAsError":         on,
	}
	for _, a := range user {
		attrs[a.Name] = a.Value
	}
	return attrs
}

// sortedDirectives renders key/value attributes in sorted key order, so a
// pod's configuration is stable across admissions.
func sortedDirectives(attrs map[string]string, format string) string {
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(attrs)) {
		fmt.Fprintf(&b, format, k, attrs[k])
	}
	return b.String()
}

var apacheInjector = webServer{
	language:          ApacheHttpd,
	attachContainer:   "otel-agent-attach-apache",
	confVolume:        "otel-apache-conf-dir",
	agentVolume:       "otel-apache-agent",
	fallbackNamespace: "apache-httpd",
	spec: func(inst *v1alpha1.Instrumentation) webServerSpec {
		s := inst.Spec.ApacheHttpd
		dir := strings.TrimSuffix(s.ConfigPath, "/")
		if s.ConfigPath == "" {
			dir = "/usr/local/apache2/conf"
		}
		return webServerSpec{Image: s.Image, Volume: s.VolumeSpec, Env: s.Env, Attrs: s.Attrs, Resources: s.Resources, ConfDir: dir, Version: s.Version}
	},
	cloneCommand: func(s webServerSpec) ([]string, []string) {
		// The trailing "/." copies the folder's content, hidden files too.
		return []string{"cp", "-r", s.ConfDir + "/.", webServerConfDir}, nil
	},
	moduleConfig: func(s webServerSpec, endpoint, serviceName, serviceNamespace string) string {
		suffix := "" // Apache 2.2 has its own build of the module
		if s.Version == "2.2" {
			suffix = "22"
		}
		var b strings.Builder
		b.WriteString("\n#Load the Otel Webserver SDK\n")
		for _, lib := range []string{"common", "resources", "trace", "otlp_recordable", "exporter_ostream_span", "exporter_otlp_grpc", "webserver_sdk"} {
			if lib == "webserver_sdk" {
				b.WriteString("#Load the Otel ApacheModule SDK\n")
			}
			fmt.Fprintf(&b, "LoadFile %s/sdk_lib/lib/libopentelemetry_%s.so\n", webServerAgentDir, lib)
		}
		fmt.Fprintf(&b, "#Load the Apache Module. In this example for Apache 2.4\n#LoadModule otel_apache_module %[1]s/WebServerModule/Apache/libmod_apache_otel.so\n"+
			"#Load the Apache Module. In this example for Apache 2.2\n#LoadModule otel_apache_module %[1]s/WebServerModule/Apache/libmod_apache_otel22.so\n"+
			"LoadModule otel_apache_module %[1]s/WebServerModule/Apache/libmod_apache_otel%[2]s.so\n#Attributes\n", webServerAgentDir, suffix)
		// Upstream renders ResolveBackends and TraceAsError with a double
		// space; kept so the generated file is identical.
		attrs := moduleAttrs("ApacheModule", " ON", endpoint, serviceName, serviceNamespace, s.Attrs)
		b.WriteString(sortedDirectives(attrs, "%s %s\n"))
		return b.String()
	},
	attach: func(inst *v1alpha1.Instrumentation, s webServerSpec, conf string) corev1.Container {
		// The configuration folder is a positional argument ($1 after
		// "--", which becomes $0): the shell never parses it.
		return attachInitContainer(inst, s, "otel-agent-attach-apache", "otel-apache-agent", "otel-apache-conf-dir",
			apacheAttachScript, s.ConfDir,
			corev1.EnvVar{Name: "OTEL_APACHE_AGENT_CONF", Value: conf},
			fieldRefEnv("APACHE_SERVICE_INSTANCE_ID", "metadata.name"))
	},
}

var nginxInjector = webServer{
	language:          Nginx,
	attachContainer:   "otel-agent-attach-nginx",
	confVolume:        "otel-nginx-conf-dir",
	agentVolume:       "otel-nginx-agent",
	fallbackNamespace: "nginx",
	spec: func(inst *v1alpha1.Instrumentation) webServerSpec {
		s := inst.Spec.Nginx
		file := s.ConfigFile
		if file == "" {
			file = "/etc/nginx/nginx.conf"
		}
		return webServerSpec{Image: s.Image, Volume: s.VolumeSpec, Env: s.Env, Attrs: s.Attrs, Resources: s.Resources,
			ConfDir: filepath.Dir(file), ConfFile: filepath.Base(file)}
	},
	cloneCommand: func(s webServerSpec) ([]string, []string) {
		// The module is built per Nginx version; the clone (the app image)
		// is the only place that knows it, so it leaves it in a file. The
		// folder is a positional argument the shell never parses.
		return []string{"/bin/sh", "-c"}, []string{nginxCloneScript, "--", s.ConfDir}
	},
	moduleConfig: func(s webServerSpec, endpoint, serviceName, serviceNamespace string) string {
		return sortedDirectives(moduleAttrs("NginxModule", "ON", endpoint, serviceName, serviceNamespace, s.Attrs), "%s %s;\n")
	},
	attach: func(inst *v1alpha1.Instrumentation, s webServerSpec, conf string) corev1.Container {
		// Nginx hides the environment from its workers unless told with
		// `env`, so the script declares OTEL_RESOURCE_ATTRIBUTES in the
		// configuration too. The file name is a positional argument.
		return attachInitContainer(inst, s, "otel-agent-attach-nginx", "otel-nginx-agent", "otel-nginx-conf-dir",
			nginxAttachScript, s.ConfFile,
			corev1.EnvVar{Name: "OTEL_NGINX_AGENT_CONF", Value: conf},
			fieldRefEnv("OTEL_NGINX_SERVICE_INSTANCE_ID", "metadata.name"))
	},
	afterAttach: func(pod *corev1.Pod, c *corev1.Container) {
		// The module's SDK libraries live beside it, not in the image.
		const lib = webServerAgentDir + "/sdk_lib/lib"
		i := envIndex(c.Env, "LD_LIBRARY_PATH")
		if i < 0 {
			c.Env = append(c.Env, corev1.EnvVar{Name: "LD_LIBRARY_PATH", Value: lib})
			return
		}
		c.Env[i].Value += ":" + lib
		// Upstream's clone shares the app's env list (Env: container.Env),
		// so this in-place edit of a variable the app already had shows in
		// the clone too; an appended one does not. Same pods: the clone
		// gets the extended value (harmless: it only copies files and runs
		// `nginx -v`). Difference nginx-clone-env-snapshot covers the rest.
		for j := range pod.Spec.InitContainers {
			clone := &pod.Spec.InitContainers[j]
			if clone.Name != webServerCloneContainer {
				continue
			}
			if k := envIndex(clone.Env, "LD_LIBRARY_PATH"); k >= 0 && clone.Env[k].ValueFrom == nil {
				clone.Env[k].Value = c.Env[i].Value
			}
		}
	},
}
