package instrumentation

import (
	"context"
	"fmt"
	"runtime/debug"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/autotel/autotel/api/v1alpha1"
)

// FuzzMutate builds a namespace, a pod, a set of Instrumentations and an
// operator Config from the fuzz bytes and checks what must hold for every
// input, as a webhook sees arbitrary pods:
//
//   - Mutate never panics and never modifies the pod it was given;
//   - unless it reports an injection, it returns the pod unchanged;
//   - the pod it returns passes the API server's basic checks whenever the
//     input did: container names unique across init and regular containers,
//     env var names non-empty, volume names unique, every volume mount names
//     an existing volume, mount paths unique within a container;
//   - it is idempotent: mutating the returned pod again changes nothing
//     (webhook reinvocation, or two operators).
//
// `go test` runs the seeds in testdata/fuzz/FuzzMutate (plus those added
// below). To search for new inputs, e.g. for five minutes:
//
//	go test -run '^$' -fuzz '^FuzzMutate$' -fuzztime 5m ./internal/instrumentation/
//
// A failing input is written to testdata/fuzz/FuzzMutate; commit it with the
// fix so it stays a regression test.
func FuzzMutate(f *testing.F) {
	f.Add([]byte{})
	// Java requested on the pod, one Instrumentation, one container.
	f.Add([]byte{1, 1, 1, 0, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 1, 0, 1})
	f.Add([]byte("python nodejs apache nginx go dotnet sdk: every language at once"))
	f.Fuzz(func(t *testing.T, data []byte) {
		in := &fuzzInput{data: data}
		cfg, ns, pod, lookup := in.scenario()
		if err := basicPodErrors(pod); err != nil {
			t.Fatalf("generator bug: the input pod is invalid: %v", err)
		}
		before := pod.DeepCopy()

		out, r := fuzzMutate(t, cfg, ns, pod, lookup)
		if !equality.Semantic.DeepEqual(pod, before) {
			t.Fatalf("Mutate modified its input pod (outcome %s)", r.Outcome)
		}
		if r.Outcome != OutcomeInjected && !equality.Semantic.DeepEqual(out, before) {
			t.Fatalf("outcome %s (%s) but the returned pod differs from the input", r.Outcome, r.Reason)
		}
		if err := basicPodErrors(out); err != nil {
			t.Fatalf("outcome %s: the mutated pod would be refused by the API server: %v\nreport: %+v", r.Outcome, err, r)
		}

		again, r2 := fuzzMutate(t, cfg, ns, out.DeepCopy(), lookup)
		if !equality.Semantic.DeepEqual(again, out) {
			t.Fatalf("not idempotent: mutating the mutated pod changed it again (first %s, then %s: %s)", r.Outcome, r2.Outcome, r2.Reason)
		}
	})
}

func fuzzMutate(t *testing.T, cfg Config, ns *corev1.Namespace, pod *corev1.Pod, lookup Lookup) (out *corev1.Pod, r Report) {
	t.Helper()
	defer func() {
		if p := recover(); p != nil {
			t.Fatalf("Mutate panicked (it must never fail): %v\n%s", p, debug.Stack())
		}
	}()
	return Mutator{Config: cfg}.Mutate(context.Background(), ns, pod, lookup)
}

// basicPodErrors is the part of the API server's pod validation that
// injection can break.
func basicPodErrors(pod *corev1.Pod) error {
	volumes := map[string]bool{}
	for _, v := range pod.Spec.Volumes {
		if volumes[v.Name] {
			return fmt.Errorf("volume %q defined twice", v.Name)
		}
		volumes[v.Name] = true
	}
	names := map[string]bool{}
	all := append(append([]corev1.Container{}, pod.Spec.InitContainers...), pod.Spec.Containers...)
	for _, c := range all {
		if c.Name == "" {
			return fmt.Errorf("a container has no name")
		}
		if names[c.Name] {
			return fmt.Errorf("container name %q used twice", c.Name)
		}
		names[c.Name] = true
		for i, e := range c.Env {
			if e.Name == "" {
				return fmt.Errorf("container %q: env[%d] has no name", c.Name, i)
			}
		}
		paths := map[string]bool{}
		for _, m := range c.VolumeMounts {
			if !volumes[m.Name] {
				return fmt.Errorf("container %q mounts volume %q, which the pod does not define", c.Name, m.Name)
			}
			if paths[m.MountPath] {
				return fmt.Errorf("container %q: mount path %q used twice", c.Name, m.MountPath)
			}
			paths[m.MountPath] = true
		}
	}
	return nil
}

// fuzzInput turns fuzz bytes into choices. Once the bytes run out every
// choice is the first option, so short inputs stay meaningful and the
// fuzzer's mutations map to small changes of the scenario.
type fuzzInput struct{ data []byte }

func (f *fuzzInput) next() byte {
	if len(f.data) == 0 {
		return 0
	}
	b := f.data[0]
	f.data = f.data[1:]
	return b
}

func (f *fuzzInput) intn(n int) int { return int(f.next()) % n }
func (f *fuzzInput) bool() bool     { return f.next()&1 == 1 }

func (f *fuzzInput) pick(options ...string) string { return options[f.intn(len(options))] }

// str mostly picks from options, sometimes takes raw fuzz bytes (any string,
// invalid UTF-8 included).
func (f *fuzzInput) str(options ...string) string {
	b := f.next()
	if b < 0xf0 {
		return options[int(b)%len(options)]
	}
	n := min(int(b-0xf0), len(f.data))
	s := string(f.data[:n])
	f.data = f.data[n:]
	return s
}

var (
	fuzzContainerNames = []string{"app", "web", "worker", "sidecar", "opentelemetry-auto-instrumentation-python", wGoSidecar, wCloneName}
	fuzzVolumeNames    = []string{"data", "conf", "opentelemetry-auto-instrumentation-java", "otel-nginx-conf-dir", wKernelDebug}
	fuzzMountPaths     = []string{"/data", "/etc/nginx", "/usr/local/apache2/conf", "/otel-auto-instrumentation-python", "/otel-auto-instrumentation-java", "/sys/kernel/debug", "/var/log"}
	fuzzEnvNames       = []string{"OTEL_SERVICE_NAME", "OTEL_RESOURCE_ATTRIBUTES", "JAVA_TOOL_OPTIONS", "NODE_OPTIONS", "PYTHONPATH", "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_PROPAGATORS", "OTEL_TRACES_SAMPLER", "CORECLR_ENABLE_PROFILING", "LD_PRELOAD", "OTEL_LOGS_EXPORTER", "OTEL_NODE_IP", "A"}
	fuzzEnvValues      = []string{"", "x", "true", "$(A)", "a=b,c=d", "-javaagent:/x.jar", "/opt/app", "--require x", "otlp"}
	fuzzInstRefs       = []string{"true", "false", "inst-a", "inst-b", "ns/inst-a", "other/inst-b", "missing", "TRUE"}
	fuzzImages         = []string{"", "registry.local/agent:1", "agent@sha256:0000000000000000000000000000000000000000000000000000000000000000"}
)

func (f *fuzzInput) env(max int) []corev1.EnvVar {
	var out []corev1.EnvVar
	for n := f.intn(max + 1); n > 0; n-- {
		e := corev1.EnvVar{Name: f.str(fuzzEnvNames...)}
		if e.Name == "" {
			e.Name = "EMPTY"
		}
		if f.intn(4) == 0 {
			e.ValueFrom = &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}
		} else {
			e.Value = f.str(fuzzEnvValues...)
		}
		out = append(out, e)
	}
	return out
}

func (f *fuzzInput) annotations(dst map[string]string) {
	for _, lang := range Languages {
		if f.intn(3) == 0 {
			dst[lang.InjectAnnotation()] = f.str(fuzzInstRefs...)
		}
		if f.intn(4) == 0 {
			dst[lang.ContainerNamesAnnotation()] = f.containerList()
		}
	}
	if f.intn(3) == 0 {
		dst[AnnotationContainerNames] = f.containerList()
	}
	if f.intn(4) == 0 {
		dst[AnnotationPythonPlatform] = f.str("glibc", "musl", "windows")
	}
	if f.intn(4) == 0 {
		dst[AnnotationDotNetRuntime] = f.str("linux-x64", "linux-musl-x64", "arm")
	}
	if f.intn(4) == 0 {
		dst[AnnotationGoTargetExe] = f.str("/app/server", "")
	}
	if f.intn(4) == 0 {
		dst[AnnotationLogs] = f.str(LogsOTLP, LogsStdout, "syslog")
	}
	if f.intn(4) == 0 {
		dst[ResourceAttributeAnnotationPrefix+f.str("service.name", "team", "")] = f.str("shop", "")
	}
}

func (f *fuzzInput) containerList() string {
	s := ""
	for n := f.intn(4); n > 0; n-- {
		if s != "" {
			s += f.pick(",", ", ", ",,")
		}
		s += f.str(fuzzContainerNames...)
	}
	return s
}

func (f *fuzzInput) container(name string, volumes []string) corev1.Container {
	c := corev1.Container{Name: name, Image: f.pick("app:1", "nginx:1.27", "httpd:2.4", "")}
	c.Env = f.env(4)
	if f.intn(3) == 0 {
		c.Command = []string{f.str("python", "java", "/bin/sh")}
	}
	used := map[string]bool{}
	for n := f.intn(3); n > 0 && len(volumes) > 0; n-- {
		path := f.pick(fuzzMountPaths...)
		if used[path] {
			continue
		}
		used[path] = true
		c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: volumes[f.intn(len(volumes))], MountPath: path})
	}
	if f.intn(4) == 0 {
		c.SecurityContext = &corev1.SecurityContext{RunAsUser: ptr.To(int64(f.intn(2000)))}
	}
	return c
}

func (f *fuzzInput) instrumentation() v1alpha1.Instrumentation {
	inst := v1alpha1.Instrumentation{ObjectMeta: metav1.ObjectMeta{
		Name:      f.pick("inst-a", "inst-b", "default"),
		Namespace: f.pick("ns", "other"),
	}}
	if f.intn(3) == 0 {
		inst.Labels = map[string]string{DefaultLabel: f.pick("true", "false")}
	}
	if f.intn(4) == 0 {
		inst.Annotations = map[string]string{RolloutAnnotation: "true"}
	}
	s := &inst.Spec
	s.Endpoint = f.str("", "http://collector:4318", "http://collector:4317", "https://collector:4318")
	if f.intn(4) == 0 {
		s.TLS = &v1alpha1.TLS{SecretName: f.pick("", "tls", "missing"), ConfigMapName: f.pick("", "ca", "missing"),
			CA: f.pick("", "ca.crt", "/abs/ca.crt"), Cert: f.pick("", "tls.crt"), Key: f.pick("", "tls.key")}
	}
	for n := f.intn(3); n > 0; n-- {
		s.Propagators = append(s.Propagators, v1alpha1.Propagator(f.pick("tracecontext", "baggage", "b3", "xray", "none")))
	}
	if f.bool() {
		s.Sampler = v1alpha1.Sampler{Type: v1alpha1.SamplerType(f.pick("always_on", "traceidratio", "parentbased_traceidratio")), Argument: f.str("0.5", "", "x")}
	}
	if f.intn(3) == 0 {
		s.Resource.Attributes = map[string]string{f.str("team", "service.name", "k8s.pod.name"): f.str("a", "")}
	}
	s.Resource.AddK8sUIDAttributes = f.bool()
	s.Defaults.UseLabelsForResourceAttributes = f.bool()
	s.Env = f.env(2)
	limit := func() *resource.Quantity {
		if f.intn(4) != 0 {
			return nil
		}
		q := resource.MustParse(f.pick("200Mi", "1Gi"))
		return &q
	}
	s.Java.Image, s.Java.Env, s.Java.VolumeSizeLimit = f.pick(fuzzImages...), f.env(2), limit()
	for n := f.intn(3); n > 0; n-- {
		s.Java.Extensions = append(s.Java.Extensions, v1alpha1.Extensions{Image: f.pick(fuzzImages...), Dir: f.pick("/ext", "")})
	}
	s.NodeJS.Image, s.NodeJS.Env, s.NodeJS.VolumeSizeLimit = f.pick(fuzzImages...), f.env(2), limit()
	s.Python.Image, s.Python.Env, s.Python.VolumeSizeLimit = f.pick(fuzzImages...), f.env(2), limit()
	s.DotNet.Image, s.DotNet.Env = f.pick(fuzzImages...), f.env(2)
	s.Go.Image, s.Go.Env = f.pick(fuzzImages...), f.env(1)
	s.ApacheHttpd.Image, s.ApacheHttpd.Env = f.pick(fuzzImages...), f.env(1)
	s.ApacheHttpd.Version, s.ApacheHttpd.ConfigPath = f.pick("", "2.4", "2.2"), f.pick("", "/usr/local/apache2/conf", "/etc/httpd/conf")
	s.Nginx.Image, s.Nginx.Env = f.pick(fuzzImages...), f.env(1)
	s.Nginx.ConfigFile = f.pick("", "/etc/nginx/nginx.conf", "nginx.conf", "/etc/nginx/")
	if f.intn(3) == 0 {
		s.InitContainerSecurityContext = &corev1.SecurityContext{RunAsNonRoot: ptr.To(f.bool())}
	}
	return inst
}

// scenario builds everything Mutate takes. The pod is valid by construction
// (FuzzMutate checks that too): invalid pods are refused by the API server
// whatever the webhook does, so only a valid input can show a webhook bug.
func (f *fuzzInput) scenario() (Config, *corev1.Namespace, *corev1.Pod, *StaticLookup) {
	cfg := DefaultConfig()
	for _, lang := range Languages {
		if f.intn(4) == 0 {
			cfg.Enabled[lang] = !cfg.Enabled[lang]
		}
	}
	cfg.MultiInstrumentation = !f.bool()
	cfg.PodStatusAnnotations = f.bool()

	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "ns", Annotations: map[string]string{}}}
	if f.intn(3) == 0 {
		f.annotations(ns.Annotations)
	}

	lookup := &StaticLookup{}
	for n := f.intn(4); n > 0; n-- {
		lookup.Instrumentations = append(lookup.Instrumentations, f.instrumentation())
	}
	if f.bool() {
		lookup.Secrets = append(lookup.Secrets, corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "tls"}})
		lookup.ConfigMaps = append(lookup.ConfigMaps, corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "ca"}})
	}

	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Annotations: map[string]string{}, Labels: map[string]string{}}}
	if f.bool() {
		pod.Name = "p"
	} else {
		pod.GenerateName = "shop-7d4b9c-"
	}
	if f.intn(3) == 0 {
		pod.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "shop-7d4b9c", Controller: ptr.To(true)}}
		if f.bool() {
			rs := appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "shop-7d4b9c",
				OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "Deployment", Name: "shop", Controller: ptr.To(true)}}}}
			lookup.ReplicaSets = append(lookup.ReplicaSets, rs)
		}
	}
	if f.intn(3) == 0 {
		pod.Labels[f.pick("app.kubernetes.io/name", "app.kubernetes.io/version", "app")] = f.str("shop", "1.0", "")
	}
	f.annotations(pod.Annotations)

	var volumes []string
	seen := map[string]bool{}
	for n := f.intn(3); n > 0; n-- {
		name := f.pick(fuzzVolumeNames...)
		if seen[name] {
			continue
		}
		seen[name] = true
		volumes = append(volumes, name)
		pod.Spec.Volumes = append(pod.Spec.Volumes, corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}})
	}
	used := map[string]bool{}
	for n := f.intn(3); n > 0; n-- {
		name := f.pick(fuzzContainerNames...) + "-init"
		if used[name] {
			continue
		}
		used[name] = true
		pod.Spec.InitContainers = append(pod.Spec.InitContainers, f.container(name, volumes))
	}
	for n := 1 + f.intn(4); n > 0; n-- {
		name := f.str(fuzzContainerNames...)
		if name == "" || used[name] {
			continue
		}
		used[name] = true
		pod.Spec.Containers = append(pod.Spec.Containers, f.container(name, volumes))
	}
	return cfg, ns, pod, lookup
}
