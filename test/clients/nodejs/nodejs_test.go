package nodejs_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/autotel/autotel/api/v1alpha1"
	"github.com/autotel/autotel/test/clients/clienttest"
	"github.com/autotel/autotel/test/clients/otlpreceiver"
	"github.com/autotel/autotel/test/clients/sandbox"
	"github.com/autotel/autotel/testkit/syncbuf"
)

const (
	initContainer = "opentelemetry-auto-instrumentation-nodejs"
	// Where the Node.js image keeps its files; its init container copies
	// from here.
	imageDir = "/autoinstrumentation"
)

// install runs install.sh (the app's own packages), which is a no-op when
// the cache is current.
func install(t *testing.T) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, "bash", "install.sh")
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("installing the app's packages from npm failed (%v).\n%s\n"+
			"To fix: make sure node (>= 20.6) and npm are on PATH and that `npm ping` works, then run test/clients/nodejs/install.sh and rerun the tests.",
			err, stderr.String())
	}
	dir := strings.TrimSpace(stdout.String())
	if _, err := os.Stat(filepath.Join(dir, "app/node_modules/pino/package.json")); err != nil {
		t.Fatalf("install.sh reported %s but: %v", dir, err)
	}
	return dir
}

// imageRoot unpacks the autoinstrumentation-nodejs image (upstream's
// packages and layout, images/sdk/nodejs) with `autotel-image rootfs`, the
// builder the demo and the e2e tier use, and returns the folder.
func imageRoot(t *testing.T) string {
	t.Helper()
	root := clienttest.ImageRoot(t, "autoinstrumentation-nodejs")
	for _, f := range []string{"autoinstrumentation/autoinstrumentation.js", "autoinstrumentation/node_modules/@opentelemetry/sdk-node/package.json"} {
		if _, err := os.Stat(filepath.Join(root, f)); err != nil {
			t.Fatalf("the autoinstrumentation-nodejs image lacks %s: %v", f, err)
		}
	}
	return root
}

// A Node.js app in a Deployment's pod annotated inject-nodejs, set up by
// the injected init container and run with exactly the environment the
// kubelet would build from the injected pod, exports its spans, logs and
// metrics with the identity the injector derived.
func TestInjectNodeJSWithUpstreamAutoInstrumentation(t *testing.T) {
	cache := install(t)
	image := imageRoot(t)
	t.Run("app without OpenTelemetry settings", func(t *testing.T) {
		runNodeApp(t, cache, image, nil)
	})
	// The injector appends its --require to the app's NODE_OPTIONS and its
	// attributes to the app's OTEL_RESOURCE_ATTRIBUTES: node must accept
	// the joined options and the SDK must keep the app's attribute.
	t.Run("app with its own NODE_OPTIONS and resource attributes", func(t *testing.T) {
		runNodeApp(t, cache, image, []corev1.EnvVar{
			{Name: "NODE_OPTIONS", Value: "--max-old-space-size=192"},
			{Name: "OTEL_RESOURCE_ATTRIBUTES", Value: "deployment.environment.name=staging"},
		})
	})
}

func runNodeApp(t *testing.T, cache, image string, appEnv []corev1.EnvVar) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatal(err)
	}
	began := time.Now()

	// The app's "image": its source and its own dependencies (pino).
	appDir := t.TempDir()
	for _, f := range []string{"server.js", "package.json"} {
		data, err := os.ReadFile(filepath.Join("app", f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(appDir, f), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(filepath.Join(cache, "app", "node_modules"), filepath.Join(appDir, "node_modules")); err != nil {
		t.Fatal(err)
	}

	s := clienttest.Inject(t, clienttest.Workload{
		Namespace:       "shop",
		Deployment:      "checkout",
		PodTemplateHash: "7d9f8b6c5",
		Container: corev1.Container{Name: "web", Image: "example.com/shop/checkout:1.4.2",
			Command: []string{"node", "server.js"}, WorkingDir: appDir, Env: appEnv},
		Annotations: map[string]string{"instrumentation.opentelemetry.io/inject-nodejs": "true"},
		Instrumentation: v1alpha1.Instrumentation{
			ObjectMeta: metav1.ObjectMeta{Name: "autotel"},
			Spec: v1alpha1.InstrumentationSpec{
				Exporter:    v1alpha1.Exporter{Endpoint: "http://127.0.0.1:4318"},
				Resource:    v1alpha1.Resource{AddK8sUIDAttributes: true},
				Propagators: []v1alpha1.Propagator{v1alpha1.TraceContext, v1alpha1.Baggage},
				Sampler:     v1alpha1.Sampler{Type: v1alpha1.ParentBasedTraceIDRatio, Argument: "1"},
				NodeJS:      v1alpha1.NodeJS{Image: "example.com/autoinstrumentation-nodejs:0.78.0"},
			},
		},
	})
	app := s.Container(t, "web")
	env := s.Env(t, app.Name)
	injected := clienttest.CheckInjectedIdentity(t, env, s.Identity(true))
	for _, e := range appEnv {
		if e.Name == "OTEL_RESOURCE_ATTRIBUTES" {
			if k, v, _ := strings.Cut(e.Value, "="); injected[k] != v {
				t.Errorf("the app's own resource attribute %s was not kept: %v", e.Value, injected)
			}
		}
		if e.Name == "NODE_OPTIONS" && !strings.HasPrefix(env["NODE_OPTIONS"], e.Value+" --require ") {
			t.Errorf("NODE_OPTIONS=%q does not keep the app's options first", env["NODE_OPTIONS"])
		}
	}

	pod, err := sandbox.NewPod()
	if err != nil {
		t.Fatal(err)
	}
	defer pod.Close()
	receiver := clienttest.ListenWhereTold(t, pod, env)
	path := filepath.Dir(node) + ":/usr/local/bin:/usr/bin:/bin"

	// The pod's agent volume is an emptyDir: a fresh directory.
	vi := slices.IndexFunc(s.Mutated.Spec.Volumes, func(v corev1.Volume) bool { return v.Name == initContainer })
	if vi < 0 || s.Mutated.Spec.Volumes[vi].EmptyDir == nil {
		t.Fatalf("mutated pod has no emptyDir volume %s: %v", initContainer, s.Mutated.Spec.Volumes)
	}
	volume := s.Mutated.Spec.Volumes[vi]
	emptyDir := t.TempDir()
	mountsOf := func(c *corev1.Container) []sandbox.Mount {
		var mounts []sandbox.Mount
		for _, m := range c.VolumeMounts {
			if m.Name != volume.Name {
				t.Fatalf("container %s mounts volume %s, which this test does not provide", c.Name, m.Name)
			}
			mounts = append(mounts, sandbox.Mount{Source: emptyDir, Target: m.MountPath, ReadOnly: m.ReadOnly})
		}
		return mounts
	}

	// The init container, verbatim: its command against the image's files
	// and the volume at the injected mount path.
	initC := s.Container(t, initContainer)
	var initOut bytes.Buffer
	initProc, err := pod.Start(sandbox.Container{
		Argv:   append(slices.Clone(initC.Command), initC.Args...),
		Env:    clienttest.ProcessEnv(s.Env(t, initC.Name), "/usr/bin:/bin", "/root"),
		Mounts: append([]sandbox.Mount{{Source: filepath.Join(image, "autoinstrumentation"), Target: imageDir, ReadOnly: true}}, mountsOf(initC)...),
		Stdout: &initOut, Stderr: &initOut,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := initProc.Wait(2 * time.Minute); err != nil {
		t.Fatalf("init container %v: %v\n%s", initC.Command, err, initOut.String())
	}
	initDone := time.Now()

	procEnv := clienttest.ProcessEnv(env, path, "/root")
	stdout, stderr := clienttest.NewLines(), &syncbuf.Buffer{}
	proc, err := pod.Start(sandbox.Container{
		Argv:   append(slices.Clone(app.Command), app.Args...),
		Env:    procEnv,
		Dir:    app.WorkingDir,
		Mounts: mountsOf(app),
		Stdout: stdout, Stderr: stderr,
	})
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	defer func() {
		if !stopped {
			_ = proc.Stop(10 * time.Second)
		}
	}()
	fail := func(format string, args ...any) {
		t.Helper()
		t.Fatalf(format+"\nstdout: %s\nstderr: %s", append(args, strings.Join(stdout.All(), "\n"), stderr.String())...)
	}

	if _, err := stdout.WaitPrefix("READY ", 60*time.Second); err != nil {
		fail("app did not start: %v", err)
	}
	ready := time.Now()
	line, _ := stdout.WaitPrefix("ENV ", time.Second)
	var gotEnv map[string]string
	if err := json.Unmarshal([]byte(line), &gotEnv); err != nil {
		fail("no ENV line: %v", err)
	}
	if want := envMap(procEnv); !maps.Equal(gotEnv, want) {
		t.Errorf("the app ran with\n%q\nwant exactly\n%q", gotEnv, want)
	}

	port, _ := stdout.WaitPrefix("READY ", time.Second)
	client := pod.HTTPClient(10 * time.Second)
	orders := []int{7, 8, 9}
	for _, id := range orders {
		resp, err := client.Get(fmt.Sprintf("http://127.0.0.1:%s/orders/%d", port, id))
		if err != nil {
			fail("GET /orders/%d: %v", id, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(body), `"status":"shipped"`) {
			fail("GET /orders/%d: %d %s", id, resp.StatusCode, body)
		}
	}

	// Stopped as the kubelet stops a container; the SDK flushes on SIGTERM.
	stopping := time.Now()
	stopErr := proc.Stop(20 * time.Second)
	stopped = true
	stoppedAt := time.Now()
	_ = stdout.Close()
	if stopErr != nil || proc.ExitCode() != 0 {
		fail("app did not shut down cleanly on SIGTERM: %v (exit code %d)", stopErr, proc.ExitCode())
	}
	if pids, _ := pod.Processes(); len(pids) != 0 {
		t.Errorf("processes left in the pod: %v", pids)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err = receiver.WaitFor(ctx, func(r *otlpreceiver.Receiver) bool {
		return len(serverSpans(r.Spans())) >= len(orders) && len(lookups(r.LogRecords())) >= len(orders) && len(r.MetricResources()) > 0
	})
	if err != nil {
		fail("telemetry missing: %v\nspans %d, log records %d, metric exports %d", err,
			len(receiver.Spans()), len(receiver.LogRecords()), len(receiver.MetricResources()))
	}

	spans, logs := serverSpans(receiver.Spans()), lookups(receiver.LogRecords())
	if len(spans) != len(orders) || len(logs) != len(orders) {
		t.Errorf("%d requests gave %d server spans and %d log records, want one each", len(orders), len(spans), len(logs))
	}
	traces := map[string]bool{}
	for i, sp := range spans {
		clienttest.CheckResource(t, fmt.Sprintf("span %d (%s)", i, sp.Name), s.Workload.Deployment, injected, sp.Resource)
		traces[hex.EncodeToString(sp.TraceId)] = true
	}
	for i, l := range logs {
		clienttest.CheckResource(t, fmt.Sprintf("log record %d", i), s.Workload.Deployment, injected, l.Resource)
		// The pino bridge puts the record in the request's trace.
		if !traces[hex.EncodeToString(l.TraceId)] {
			t.Errorf("log record %d is in trace %x, which is none of the server spans' %v", i, l.TraceId, slices.Collect(maps.Keys(traces)))
		}
	}
	for i, m := range receiver.MetricResources() {
		clienttest.CheckResource(t, fmt.Sprintf("metric export %d", i), s.Workload.Deployment, injected, m.Resource)
	}
	for _, r := range receiver.Requests() {
		if r.ContentType != "application/x-protobuf" {
			t.Errorf("%s came as %s; the Node.js SDK's default is http/protobuf", r.Path, r.ContentType)
		}
	}
	t.Logf("received %d server spans, %d pino log records, %d metric exports; requests: %v", len(spans), len(logs), len(receiver.MetricResources()), receiver.Requests())
	t.Logf("timings: init container %s, node start %s, requests %s, SIGTERM to exit %s",
		initDone.Sub(began).Round(time.Millisecond), ready.Sub(initDone).Round(time.Millisecond),
		stopping.Sub(ready).Round(time.Millisecond), stoppedAt.Sub(stopping).Round(time.Millisecond))
}

func serverSpans(spans []otlpreceiver.Span) []otlpreceiver.Span {
	var out []otlpreceiver.Span
	for _, s := range spans {
		if s.Scope == "@opentelemetry/instrumentation-http" && s.Kind.String() == "SPAN_KIND_SERVER" {
			out = append(out, s)
		}
	}
	return out
}

func lookups(records []otlpreceiver.LogRecord) []otlpreceiver.LogRecord {
	var out []otlpreceiver.LogRecord
	for _, r := range records {
		if r.Body.GetStringValue() == "order looked up" {
			out = append(out, r)
		}
	}
	return out
}

func envMap(environ []string) map[string]string {
	m := map[string]string{}
	for _, kv := range environ {
		k, v, _ := strings.Cut(kv, "=")
		m[k] = v
	}
	return m
}
