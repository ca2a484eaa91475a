package integration

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/autotel/autotel/api/v1alpha1"
	"github.com/autotel/autotel/internal/testenv"
)

const injectPython = "instrumentation.opentelemetry.io/inject-python"

func seedInstrumentation(t testing.TB, file string) *v1alpha1.Instrumentation {
	t.Helper()
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(root, "testdata", "seed", file))
	if err != nil {
		t.Fatal(err)
	}
	var inst v1alpha1.Instrumentation
	if err := yaml.UnmarshalStrict(raw, &inst); err != nil {
		t.Fatalf("decoding %s: %v", file, err)
	}
	return &inst
}

// newNamespace creates a namespace unique to the test.
func newNamespace(t testing.TB, annotations map[string]string) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "it-", Annotations: annotations}}
	if err := k8sClient().Create(ctx(t), ns); err != nil {
		t.Fatalf("creating namespace: %v", err)
	}
	return ns.Name
}

func createInstrumentation(t testing.TB, namespace string, inst *v1alpha1.Instrumentation) {
	t.Helper()
	inst = inst.DeepCopy()
	inst.Namespace = namespace
	if err := k8sClient().Create(ctx(t), inst); err != nil {
		t.Fatalf("creating Instrumentation %s: %v", inst.Name, err)
	}
	// The webhook reads Instrumentations from the operator's cache; wait
	// until the operator can see it, as a user would wait for readiness.
	waitCached(t, namespace, inst.Name)
}

func waitCached(t testing.TB, namespace, name string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var got v1alpha1.Instrumentation
		if err := env.CachedClient.Get(ctx(t), types.NamespacedName{Namespace: namespace, Name: name}, &got); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("operator cache never saw Instrumentation %s/%s", namespace, name)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func samplePod(namespace string, annotations map[string]string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "sample", Namespace: namespace, Annotations: annotations, Labels: map[string]string{"app": "sample"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: "sample", Image: "sample:amd64", ImagePullPolicy: corev1.PullAlways,
		}}},
	}
}

func createPod(t *testing.T, pod *corev1.Pod) *corev1.Pod {
	t.Helper()
	if err := k8sClient().Create(ctx(t), pod); err != nil {
		t.Fatalf("creating pod: %v", err)
	}
	var stored corev1.Pod
	if err := k8sClient().Get(ctx(t), client.ObjectKeyFromObject(pod), &stored); err != nil {
		t.Fatalf("reading pod back: %v", err)
	}
	return &stored
}

func envNames(c corev1.Container) []string {
	var names []string
	for _, e := range c.Env {
		names = append(names, e.Name)
	}
	return names
}

func envValue(t *testing.T, c corev1.Container, name string) string {
	t.Helper()
	for _, e := range c.Env {
		if e.Name == name {
			return e.Value
		}
	}
	t.Fatalf("container %s has no %s; env: %v", c.Name, name, envNames(c))
	return ""
}

func TestCRDIsExplained(t *testing.T) {
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	if err := env.WriteKubeconfig(kubeconfig); err != nil {
		t.Fatal(err)
	}
	// The API server publishes a new CRD's OpenAPI schema asynchronously,
	// so explain may need a few seconds after installation.
	var out []byte
	var err error
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(250 * time.Millisecond) {
		out, err = exec.Command(filepath.Join(env.BinaryDir, "kubectl"), "--kubeconfig", kubeconfig, "explain", "instrumentation.spec.python").CombinedOutput()
		if err == nil || time.Now().After(deadline) {
			break
		}
	}
	if err != nil {
		t.Fatalf("kubectl explain: %v\n%s", err, out)
	}
	for _, want := range []string{"KIND:       Instrumentation", "VERSION:    v1alpha1", "image\t<string>", "resourceRequirements\t<Object>", "volumeLimitSize", "env\t<[]Object>"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("kubectl explain output lacks %q:\n%s", want, out)
		}
	}
	out, err = exec.Command(filepath.Join(env.BinaryDir, "kubectl"), "--kubeconfig", kubeconfig, "version").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "Server Version: v1.35.4") {
		t.Errorf("kube-apiserver should report v1.35.4: %v\n%s", err, out)
	}
}

func TestInstrumentationDefaulted(t *testing.T) {
	ns := newNamespace(t, nil)
	createInstrumentation(t, ns, seedInstrumentation(t, "instrumentation-console.yaml"))
	var got v1alpha1.Instrumentation
	if err := k8sClient().Get(ctx(t), types.NamespacedName{Namespace: ns, Name: "python-instrumentation"}, &got); err != nil {
		t.Fatal(err)
	}
	if want := "ghcr.io/open-telemetry/opentelemetry-operator/autoinstrumentation-python:0.64b0"; got.Spec.Python.Image != want {
		t.Errorf("python image = %q, want %q", got.Spec.Python.Image, want)
	}
	if got.Spec.Python.Resources.Limits.Memory().String() != "256Mi" || got.Spec.Python.Resources.Requests.Memory().String() != "64Mi" {
		t.Errorf("python init container resources not defaulted: %+v", got.Spec.Python.Resources)
	}
	if got.Annotations["instrumentation.opentelemetry.io/default-auto-instrumentation-python-image"] != got.Spec.Python.Image {
		t.Errorf("default image annotation missing: %v", got.Annotations)
	}
	if got.Spec.ApacheHttpd.ConfigPath != "/usr/local/apache2/conf" || got.Spec.Nginx.ConfigFile != "/etc/nginx/nginx.conf" {
		t.Errorf("web server defaults missing: %q %q", got.Spec.ApacheHttpd.ConfigPath, got.Spec.Nginx.ConfigFile)
	}
}

func TestInvalidInstrumentationRejected(t *testing.T) {
	ns := newNamespace(t, nil)
	cases := []struct {
		name string
		mut  func(*v1alpha1.Instrumentation)
		want string
	}{
		{"ratio not a number", func(i *v1alpha1.Instrumentation) {
			i.Spec.Sampler = v1alpha1.Sampler{Type: v1alpha1.TraceIDRatio, Argument: "half"}
		}, "spec.sampler.argument is not a number: half"},
		{"ratio out of range", func(i *v1alpha1.Instrumentation) {
			i.Spec.Sampler = v1alpha1.Sampler{Type: v1alpha1.ParentBasedTraceIDRatio, Argument: "1.5"}
		}, "spec.sampler.argument should be in rage [0..1]: 1.5"},
		{"sampler not in the CRD enum", func(i *v1alpha1.Instrumentation) {
			i.Spec.Sampler = v1alpha1.Sampler{Type: v1alpha1.ParentBasedJaegerRemote}
		}, "spec.sampler.type"},
		{"unknown propagator", func(i *v1alpha1.Instrumentation) {
			i.Spec.Propagators = []v1alpha1.Propagator{"w3c"}
		}, "spec.propagators[0]"},
		{"claim and size limit", func(i *v1alpha1.Instrumentation) {
			q := resourceQuantity(t, "1Gi")
			i.Spec.Python.VolumeSizeLimit = &q
			i.Spec.Python.VolumeClaimTemplate = corev1.PersistentVolumeClaimTemplate{Spec: corev1.PersistentVolumeClaimSpec{AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce}}}
		}, "spec.python.volumeClaimTemplate and spec.python.volumeSizeLimit cannot both be defined"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			inst := seedInstrumentation(t, "instrumentation-otlp.yaml")
			inst.Namespace = ns
			tc.mut(inst)
			err := k8sClient().Create(ctx(t), inst)
			if err == nil {
				t.Fatalf("API server accepted an invalid Instrumentation; want error containing %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not name the problem %q", err, tc.want)
			}
		})
	}
}

func TestPodCreatedDirectlyIsInjected(t *testing.T) {
	ns := newNamespace(t, nil)
	createInstrumentation(t, ns, seedInstrumentation(t, "instrumentation-console.yaml"))
	pod := createPod(t, samplePod(ns, map[string]string{injectPython: "true"}))

	if len(pod.Spec.InitContainers) != 1 {
		t.Fatalf("want the Python init container, got %d init containers", len(pod.Spec.InitContainers))
	}
	ic := pod.Spec.InitContainers[0]
	if ic.Name != "opentelemetry-auto-instrumentation-python" ||
		strings.Join(ic.Command, " ") != "cp -r /autoinstrumentation/. /otel-auto-instrumentation-python" ||
		ic.Image != "ghcr.io/open-telemetry/opentelemetry-operator/autoinstrumentation-python:0.64b0" {
		t.Errorf("init container = %s %v %s", ic.Name, ic.Command, ic.Image)
	}
	var vol *corev1.Volume
	for i := range pod.Spec.Volumes {
		if pod.Spec.Volumes[i].Name == "opentelemetry-auto-instrumentation-python" {
			vol = &pod.Spec.Volumes[i]
		}
	}
	if vol == nil || vol.EmptyDir == nil || vol.EmptyDir.SizeLimit.String() != "200Mi" {
		t.Errorf("want a 200Mi emptyDir volume, got %+v", vol)
	}
	c := pod.Spec.Containers[0]
	want := []string{
		"OTEL_NODE_IP", "OTEL_POD_IP", "OTEL_LOGS_EXPORTER", "OTEL_PYTHON_LOGGING_AUTO_INSTRUMENTATION_ENABLED",
		"PYTHONPATH", "OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_TRACES_EXPORTER", "OTEL_METRICS_EXPORTER",
		"OTEL_SERVICE_NAME", "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_RESOURCE_ATTRIBUTES_POD_NAME",
		"OTEL_RESOURCE_ATTRIBUTES_NODE_NAME", "OTEL_PROPAGATORS", "OTEL_RESOURCE_ATTRIBUTES",
	}
	if got := envNames(c); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("env order\n got %v\nwant %v", got, want)
	}
	if got := envValue(t, c, "OTEL_LOGS_EXPORTER"); got != "console" {
		t.Errorf("python.env must win over the default: OTEL_LOGS_EXPORTER=%q", got)
	}
	wantAttrs := "k8s.container.name=sample,k8s.namespace.name=" + ns +
		",k8s.node.name=$(OTEL_RESOURCE_ATTRIBUTES_NODE_NAME),k8s.pod.name=$(OTEL_RESOURCE_ATTRIBUTES_POD_NAME)" +
		",service.instance.id=" + ns + ".$(OTEL_RESOURCE_ATTRIBUTES_POD_NAME).sample,service.namespace=" + ns + ",service.version=amd64"
	if got := envValue(t, c, "OTEL_RESOURCE_ATTRIBUTES"); got != wantAttrs {
		t.Errorf("OTEL_RESOURCE_ATTRIBUTES\n got %s\nwant %s", got, wantAttrs)
	}
	if len(c.VolumeMounts) == 0 || c.VolumeMounts[0].MountPath != "/otel-auto-instrumentation-python" {
		t.Errorf("app container mounts = %+v", c.VolumeMounts)
	}
}

// TestOwnerChain: pods made by a ReplicaSet of a Deployment (and a Job of
// a CronJob) are named after the workload; the webhook reads the owners
// from the API server to find it. There is no controller-manager here, so
// the test creates the owners and the pod the way the controllers would.
func TestOwnerChain(t *testing.T) {
	ns := newNamespace(t, nil)
	createInstrumentation(t, ns, seedInstrumentation(t, "instrumentation-otlp.yaml"))
	c := k8sClient()
	labels := map[string]string{"app": "sample"}
	template := corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: labels, Annotations: map[string]string{injectPython: "true"}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "sample", Image: "sample"}}},
	}

	dep := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "sample", Namespace: ns},
		Spec: appsv1.DeploymentSpec{Selector: &metav1.LabelSelector{MatchLabels: labels}, Template: template}}
	if err := c.Create(ctx(t), dep); err != nil {
		t.Fatal(err)
	}
	rs := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: "sample-656f58b97c", Namespace: ns, Labels: labels,
		OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "Deployment", Name: dep.Name, UID: dep.UID, Controller: ptr.To(true)}}},
		Spec: appsv1.ReplicaSetSpec{Selector: &metav1.LabelSelector{MatchLabels: labels}, Template: template}}
	if err := c.Create(ctx(t), rs); err != nil {
		t.Fatal(err)
	}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{GenerateName: rs.Name + "-", Namespace: ns, Labels: labels, Annotations: template.Annotations,
		OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: rs.Name, UID: rs.UID, Controller: ptr.To(true)}}},
		Spec: *template.Spec.DeepCopy()}
	stored := createPod(t, pod)
	app := stored.Spec.Containers[0]
	if got := envValue(t, app, "OTEL_SERVICE_NAME"); got != "sample" {
		t.Errorf("OTEL_SERVICE_NAME = %q, want the Deployment's name", got)
	}
	attrs := envValue(t, app, "OTEL_RESOURCE_ATTRIBUTES")
	for _, want := range []string{"k8s.deployment.name=sample", "k8s.replicaset.name=sample-656f58b97c"} {
		if !strings.Contains(attrs, want) {
			t.Errorf("OTEL_RESOURCE_ATTRIBUTES lacks %s: %s", want, attrs)
		}
	}
	if strings.Contains(attrs, "service.version") {
		t.Errorf("untagged image must not yield service.version: %s", attrs)
	}

	cron := &batchv1.CronJob{ObjectMeta: metav1.ObjectMeta{Name: "nightly", Namespace: ns},
		Spec: batchv1.CronJobSpec{Schedule: "0 3 * * *", JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{
			Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever, Containers: []corev1.Container{{Name: "job", Image: "job:1.0"}}}}}}}}
	if err := c.Create(ctx(t), cron); err != nil {
		t.Fatal(err)
	}
	job := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "nightly-29000000", Namespace: ns,
		OwnerReferences: []metav1.OwnerReference{{APIVersion: "batch/v1", Kind: "CronJob", Name: cron.Name, UID: cron.UID, Controller: ptr.To(true)}}},
		Spec: *cron.Spec.JobTemplate.Spec.DeepCopy()}
	if err := c.Create(ctx(t), job); err != nil {
		t.Fatal(err)
	}
	jobPod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{GenerateName: job.Name + "-", Namespace: ns, Annotations: map[string]string{injectPython: "true"},
		OwnerReferences: []metav1.OwnerReference{{APIVersion: "batch/v1", Kind: "Job", Name: job.Name, UID: job.UID, Controller: ptr.To(true)}}},
		Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever, Containers: []corev1.Container{{Name: "job", Image: "job:1.0"}}}}
	jc := createPod(t, jobPod).Spec.Containers[0]
	if got := envValue(t, jc, "OTEL_SERVICE_NAME"); got != "nightly" {
		t.Errorf("Job pod OTEL_SERVICE_NAME = %q, want the CronJob's name", got)
	}
	if attrs := envValue(t, jc, "OTEL_RESOURCE_ATTRIBUTES"); !strings.Contains(attrs, "k8s.cronjob.name=nightly") || !strings.Contains(attrs, "k8s.job.name=nightly-29000000") || !strings.Contains(attrs, "service.version=1.0") {
		t.Errorf("Job pod attributes: %s", attrs)
	}
}

// TestFailOpen: when the pod's request cannot be resolved the pod is still
// created, exactly as submitted.
func TestFailOpen(t *testing.T) {
	cases := []struct {
		name  string
		insts int
		value string
	}{
		{"no Instrumentation in the namespace", 0, "true"},
		{"two Instrumentations and inject true", 2, "true"},
		{"named Instrumentation missing", 1, "does-not-exist"},
		{"Instrumentation in another namespace missing", 0, "elsewhere/python"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ns := newNamespace(t, nil)
			for i := 0; i < tc.insts; i++ {
				inst := seedInstrumentation(t, "instrumentation-otlp.yaml")
				inst.Name = inst.Name + "-" + string(rune('a'+i))
				createInstrumentation(t, ns, inst)
			}
			submitted := samplePod(ns, map[string]string{injectPython: tc.value})
			stored := createPod(t, submitted.DeepCopy())
			if len(stored.Spec.InitContainers) != 0 || len(stored.Spec.Containers[0].Env) != 0 || len(stored.Spec.Volumes) != 0 {
				t.Errorf("pod was mutated although the request could not be resolved: init=%d env=%v volumes=%d",
					len(stored.Spec.InitContainers), envNames(stored.Spec.Containers[0]), len(stored.Spec.Volumes))
			}
		})
	}
}

// TestNamespaceAnnotation: the namespace can ask for injection for all its
// pods, and a pod can opt out.
func TestNamespaceAnnotation(t *testing.T) {
	ns := newNamespace(t, map[string]string{injectPython: "true"})
	createInstrumentation(t, ns, seedInstrumentation(t, "instrumentation-otlp.yaml"))
	in := createPod(t, samplePod(ns, nil))
	if len(in.Spec.InitContainers) != 1 {
		t.Errorf("namespace annotation should inject the pod")
	}
	out := samplePod(ns, map[string]string{injectPython: "false"})
	out.Name = "opted-out"
	if got := createPod(t, out); len(got.Spec.InitContainers) != 0 {
		t.Errorf("pod annotation false must win over the namespace")
	}
}
