//go:build e2e

// Package e2e runs autotel against a real one-node cluster (hack/cluster.sh:
// etcd, kube-apiserver, controller-manager, scheduler, containerd and a
// kubelet on this machine), where pods actually run. It brings the cluster
// up, runs every check, and tears it down, failing if anything is left.
//
//	go test -tags e2e -timeout 40m -count=1 ./test/e2e/...
//
// Needs root. The first run builds the kubelet and friends (minutes); later
// runs reuse ~/.cache/autotel.
package e2e

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/autotel/autotel/testkit/ports"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"
)

const (
	flaskImage = "autotel.local/examples/flask:dev"
	agentImage = "autotel.local/autoinstrumentation-python:dev"
	toolImage  = "autotel.local/busybox:dev"
	initName   = "opentelemetry-auto-instrumentation-python"
	agentMount = "/otel-auto-instrumentation-python"
)

func TestE2E(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("the e2e tier runs a kubelet and containerd, which need root; run it as root")
	}
	c := startCluster(t)
	c.importImages(t, "busybox", "examples-flask", "examples-gunicorn", "examples-uvicorn", "python-agent", "collector",
		"autoinstrumentation-python", "autoinstrumentation-java", "autoinstrumentation-nodejs", "examples-java", "examples-nodejs",
		"python-agent-exits")

	for _, s := range samples {
		t.Run("SampleRunsAndLogsInCRIFormat/"+s.name, func(t *testing.T) { testSampleDeployment(t, c, s) })
	}
	t.Run("InitContainerEmptyDirAndDownwardAPI", func(t *testing.T) { testInitContainerDownwardAPI(t, c) })

	// The seed's story, each step building on the one before: the store
	// on the host, the collector on the node, the operator, the injected
	// workloads, their logs in the store, a rollout.
	r := &seedRun{c: c, store: startStore(t, c.root), workloads: seedWorkloads()}
	var collector *corev1.Pod
	t.Cleanup(func() {
		if t.Failed() && collector != nil {
			logTail(t, "collector", podLogFile(collector, "collector"), 80)
		}
	})
	if !t.Run("CollectorDaemonSet", func(t *testing.T) { collector = deployCollector(t, c, r.store) }) {
		t.Fatal("the collector did not start; the seed's steps need it")
	}
	// The operator serves every later step, so it stops with this test.
	startOperator(t, c)
	for _, s := range []struct {
		name string
		run  func(*testing.T, *seedRun)
	}{
		{"SeedInstrumentationInjectsWorkloads", testSeedInjection},
		{"LogsReachTheStoreOncePerPath", testLogsReachTheStore},
		{"RolloutOnInstrumentationChange", testRollout},
		{"RealSDKsTracesAndLogs", testRealSDKs}, // sdk_test.go
		{"RollbackOfFailingInstrumentation", func(t *testing.T, r *seedRun) { testRollback(t, r.c) }},
	} {
		if !t.Run(s.name, func(t *testing.T) { s.run(t, r) }) {
			t.Fatalf("step %s failed; the later steps depend on it", s.name)
		}
	}
	t.Logf("memory after the seed's story: %s; collector %d MiB; VictoriaLogs %d MiB; all pods' processes %d MiB",
		c.memory(), rssKiB(c.containerPID(t, collector, "collector"))/1024, rssKiB(r.store.Proc.Pid())/1024, podsRSSKiB()/1024)
	t.Run("CollectorResourceReplacesDaemonSet", func(t *testing.T) { testCollectorResource(t, r) })
}

// sample is one of the seed's three apps (examples/), with the env that
// binds it to loopback on a port and the logger name its INFO line carries.
type sample struct {
	name, image, logger string
	bind                func(port int) []corev1.EnvVar
}

var samples = []sample{
	{"flask", flaskImage, "app", func(port int) []corev1.EnvVar {
		return []corev1.EnvVar{{Name: "FLASK_RUN_HOST", Value: "127.0.0.1"}, {Name: "FLASK_RUN_PORT", Value: fmt.Sprint(port)}}
	}},
	{"gunicorn", "autotel.local/examples/gunicorn:dev", "sample", func(port int) []corev1.EnvVar {
		return []corev1.EnvVar{{Name: "GUNICORN_CMD_ARGS", Value: fmt.Sprintf("--bind=127.0.0.1:%d", port)}}
	}},
	{"uvicorn", "autotel.local/examples/uvicorn:dev", "root", func(port int) []corev1.EnvVar {
		return []corev1.EnvVar{{Name: "UVICORN_HOST", Value: "127.0.0.1"}, {Name: "UVICORN_PORT", Value: fmt.Sprint(port)}}
	}},
}

// A Deployment makes a ReplicaSet makes a pod that runs the sample; its
// routes answer, and its logging, print() output and traceback land in the
// kubelet's CRI log file under /var/log/pods.
func testSampleDeployment(t *testing.T, c *cluster, s sample) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	ns := "e2e-" + s.name
	c.createNamespace(t, ctx, ns)
	port := ports.Free(t)
	dep := sampleDeployment(ns, s.name, s.image, s.bind(port))
	if err := c.client.Create(ctx, dep); err != nil {
		t.Fatalf("creating Deployment: %v", err)
	}
	pod := c.waitPod(t, ctx, ns, client.MatchingLabels{"app": s.name}, "Running", running)

	code, body := get(t, ctx, fmt.Sprintf("http://127.0.0.1:%d/hello", port))
	if code != 200 || body != "world!" {
		t.Fatalf("GET /hello = %d %q, want 200 \"world!\"", code, body)
	}
	if code, _ := get(t, ctx, fmt.Sprintf("http://127.0.0.1:%d/error", port)); code != 500 {
		t.Fatalf("GET /error = %d, want 500", code)
	}
	log := podLogFile(pod, "sample")
	waitLogLine(t, ctx, log, "stderr", "INFO:"+s.logger+":hello called")
	waitLogLine(t, ctx, log, "stdout", "print: hello called")
	waitLogLine(t, ctx, log, "stderr", "ERROR:"+s.logger+":error called; raising")
	waitLogLine(t, ctx, log, "stderr", "RuntimeError: sample error")
}

// One pod: an init container writes into an emptyDir, the app container
// reads it and prints downward-API values, one through a $(VAR) reference.
// Its log is read back through the API server, which asks the kubelet.
func testInitContainerDownwardAPI(t *testing.T, c *cluster) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	ns := "e2e-downward"
	c.createNamespace(t, ctx, ns)
	fieldEnv := func(name, path string) corev1.EnvVar {
		return corev1.EnvVar{Name: name, ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: path}}}
	}
	mount := []corev1.VolumeMount{{Name: "work", MountPath: "/work"}}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "downward", Namespace: ns, Labels: map[string]string{"app": "downward"}},
		Spec: corev1.PodSpec{
			HostNetwork:   true,
			RestartPolicy: corev1.RestartPolicyNever,
			Volumes:       []corev1.Volume{{Name: "work", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}},
			InitContainers: []corev1.Container{{
				Name: "init", Image: toolImage, ImagePullPolicy: corev1.PullNever, VolumeMounts: mount,
				Command: []string{"sh", "-c", "echo written-by-init > /work/msg"},
			}},
			Containers: []corev1.Container{{
				Name: "main", Image: toolImage, ImagePullPolicy: corev1.PullNever, VolumeMounts: mount,
				Env: []corev1.EnvVar{
					fieldEnv("POD_NAME", "metadata.name"),
					fieldEnv("NODE_NAME", "spec.nodeName"),
					fieldEnv("HOST_IP", "status.hostIP"),
					{Name: "GREETING", Value: "pod=$(POD_NAME) node=$(NODE_NAME)"},
				},
				Command: []string{"sh", "-c", `echo "msg=$(cat /work/msg)"; echo "greeting=$GREETING host_ip=$HOST_IP"`},
			}},
		},
	}
	if err := c.client.Create(ctx, pod); err != nil {
		t.Fatalf("creating pod: %v", err)
	}
	done := c.waitPod(t, ctx, ns, client.MatchingLabels{"app": "downward"}, "Succeeded", func(p *corev1.Pod) bool {
		return p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed
	})
	if done.Status.Phase != corev1.PodSucceeded {
		c.dump(t, ns)
		t.Fatalf("pod ended %s, want Succeeded", done.Status.Phase)
	}
	raw, err := c.clientset.CoreV1().Pods(ns).GetLogs("downward", &corev1.PodLogOptions{Container: "main"}).DoRaw(ctx)
	if err != nil {
		t.Fatalf("reading the pod's log through the API server: %v", err)
	}
	want := fmt.Sprintf("msg=written-by-init\ngreeting=pod=downward node=%s host_ip=127.0.0.1\n", c.env["NODE_NAME"])
	if string(raw) != want {
		t.Fatalf("log = %q, want %q", raw, want)
	}
}

// sampleDeployment runs a sample app on the host network with env.
func sampleDeployment(ns, app, image string, env []corev1.EnvVar) *appsv1.Deployment {
	labels := map[string]string{"app": app}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: app, Namespace: ns},
		Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					HostNetwork: true,
					Containers: []corev1.Container{{
						Name: "sample", Image: image, ImagePullPolicy: corev1.PullIfNotPresent, Env: env,
					}},
				},
			},
		},
	}
}

func readYAML(t *testing.T, path string, into any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading %s: %v", path, err)
	}
	if err := yaml.Unmarshal(b, into); err != nil {
		t.Fatalf("decoding %s: %v", path, err)
	}
}

func readUnstructured(t *testing.T, path string) *unstructured.Unstructured {
	t.Helper()
	u := &unstructured.Unstructured{}
	readYAML(t, path, &u.Object)
	return u
}
