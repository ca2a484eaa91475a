// Package pythonsdk runs the seed's Flask app with upstream-equivalent
// Python auto-instrumentation: the autoinstrumentation-python image of
// internal/imagebuild's table (the operator's 0.64b0 package set, installed
// from the lock with pip), copied by the injected init container's own
// command run by the image's busybox, loaded through the injected
// PYTHONPATH into the examples-flask image (Debian's Python 3.11 and Flask,
// the demo's app), each run inside its image's unpacked root filesystem.
package pythonsdk

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"os"
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
)

const initContainer = "opentelemetry-auto-instrumentation-python"

// The seed's Flask app in a Deployment's pod annotated inject-python, with
// the seed's Instrumentation (OTLP logs, logging auto-instrumentation on),
// run with exactly the environment the kubelet would build from the
// injected pod: each GET /hello gives a Flask server span and the app's
// "hello called" log record inside it, all with service.name from the
// owner chain and the injected resource attributes.
func TestInjectPythonWithUpstreamAutoInstrumentation(t *testing.T) {
	agentRoot := clienttest.ImageRoot(t, "autoinstrumentation-python")
	appRoot := clienttest.ImageRoot(t, "examples-flask")

	s := clienttest.Inject(t, clienttest.Workload{
		Namespace:       "shop",
		Deployment:      "greeter",
		PodTemplateHash: "5c8d7f9b6",
		// The examples-flask row's command, working directory and image
		// environment (a runtime puts the image's ENV first; the test has
		// no runtime, so the pod spec carries it).
		Container: corev1.Container{Name: "web", Image: "example.com/shop/greeter:3.2.0",
			Command:    []string{"python3", "-m", "flask", "--app", "app", "run"},
			WorkingDir: "/app",
			Env:        []corev1.EnvVar{{Name: "PYTHONUNBUFFERED", Value: "1"}, {Name: "FLASK_RUN_HOST", Value: "0.0.0.0"}, {Name: "FLASK_RUN_PORT", Value: "5000"}},
		},
		Annotations: map[string]string{"instrumentation.opentelemetry.io/inject-python": "true"},
		Instrumentation: v1alpha1.Instrumentation{
			ObjectMeta: metav1.ObjectMeta{Name: "python-instrumentation"},
			Spec: v1alpha1.InstrumentationSpec{
				Exporter:    v1alpha1.Exporter{Endpoint: "http://127.0.0.1:4318"},
				Propagators: []v1alpha1.Propagator{v1alpha1.TraceContext, v1alpha1.Baggage},
				Python: v1alpha1.Python{
					Image: "example.com/autoinstrumentation-python:0.64b0",
					// The seed's Instrumentation (instrumentation-otlp.yaml).
					Env: []corev1.EnvVar{
						{Name: "OTEL_LOGS_EXPORTER", Value: "otlp_proto_http"},
						{Name: "OTEL_PYTHON_LOGGING_AUTO_INSTRUMENTATION_ENABLED", Value: "true"},
					},
				},
			},
		},
	})
	app := s.Container(t, "web")
	env := s.Env(t, app.Name)
	injected := clienttest.CheckInjectedIdentity(t, env, s.Identity(false))
	if !strings.HasPrefix(env["PYTHONPATH"], "/otel-auto-instrumentation-python/") {
		t.Fatalf("PYTHONPATH=%q does not load the agent from the volume", env["PYTHONPATH"])
	}

	pod, err := sandbox.NewPod()
	if err != nil {
		t.Fatal(err)
	}
	defer pod.Close()
	receiver := clienttest.ListenWhereTold(t, pod, env)

	vi := slices.IndexFunc(s.Mutated.Spec.Volumes, func(v corev1.Volume) bool { return v.Name == initContainer })
	if vi < 0 || s.Mutated.Spec.Volumes[vi].EmptyDir == nil {
		t.Fatalf("mutated pod has no emptyDir volume %s: %v", initContainer, s.Mutated.Spec.Volumes)
	}
	// The init container, verbatim (`cp -r /autoinstrumentation/. <volume>`),
	// run by the image's own busybox inside the image.
	vol := clienttest.RunInit(t, pod, s, initContainer, agentRoot)
	if _, err := os.Stat(filepath.Join(vol.Dir, "opentelemetry", "instrumentation", "auto_instrumentation", "sitecustomize.py")); err != nil {
		t.Fatalf("after the init container the volume has no sitecustomize.py: %v", err)
	}

	procEnv := clienttest.ProcessEnv(env, clienttest.ImagePath, "/root")
	stdout, stderr := clienttest.NewLines(), clienttest.NewLines()
	proc, err := pod.Start(sandbox.Container{
		Argv: clienttest.InRoot(appRoot, app.WorkingDir, append(slices.Clone(app.Command), app.Args...)...), Env: procEnv,
		Mounts: append(clienttest.RuntimeMounts(appRoot), vol.MountsOf(t, app, appRoot)...), Stdout: stdout, Stderr: stderr,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = proc.Stop(10 * time.Second) }()
	fail := func(format string, args ...any) {
		t.Helper()
		t.Fatalf(format+"\nstdout: %s\nstderr: %s", append(args, strings.Join(stdout.All(), "\n"), strings.Join(stderr.All(), "\n"))...)
	}
	// Flask's development server says where it listens on stderr.
	if _, err := stderr.WaitPrefix(" * Running on http://127.0.0.1:5000", 60*time.Second); err != nil {
		fail("app did not start: %v", err)
	}

	client := pod.HTTPClient(10 * time.Second)
	const requests = 3
	for i := 0; i < requests; i++ {
		resp, err := client.Get("http://127.0.0.1:5000/hello")
		if err != nil {
			fail("GET /hello: %v", err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(body) != "world!" {
			fail("GET /hello: %d %q", resp.StatusCode, body)
		}
	}

	// The SDK's batch processors export within seconds (spans every 5 s,
	// logs every 1 s); the development server dies on SIGTERM without
	// flushing, so the test waits before stopping it.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err = receiver.WaitFor(ctx, func(r *otlpreceiver.Receiver) bool {
		return len(serverSpans(r.Spans())) >= requests && len(hellos(r.LogRecords())) >= requests
	})
	if err != nil {
		fail("telemetry missing: %v\nspans %v\nlog records %d, requests %v", err, receiver.Spans(), len(receiver.LogRecords()), receiver.Requests())
	}

	spans, logs := serverSpans(receiver.Spans()), hellos(receiver.LogRecords())
	if len(spans) != requests || len(logs) != requests {
		t.Errorf("%d requests gave %d server spans and %d hello log records, want one each", requests, len(spans), len(logs))
	}
	byTrace := map[string]otlpreceiver.Span{}
	for i, sp := range spans {
		clienttest.CheckResource(t, fmt.Sprintf("span %d (%s)", i, sp.Name), s.Workload.Deployment, injected, sp.Resource)
		if lang := sp.Resource["telemetry.sdk.language"]; lang != "python" {
			t.Errorf("span %d: telemetry.sdk.language = %q, want python", i, lang)
		}
		byTrace[hex.EncodeToString(sp.TraceId)] = sp
	}
	if len(byTrace) != requests {
		t.Errorf("%d server spans in %d traces; each request is its own trace", len(spans), len(byTrace))
	}
	for i, l := range logs {
		clienttest.CheckResource(t, fmt.Sprintf("log record %d", i), s.Workload.Deployment, injected, l.Resource)
		sp, ok := byTrace[hex.EncodeToString(l.TraceId)]
		if !ok {
			t.Errorf("log record %d is in trace %x, which is none of the server spans'", i, l.TraceId)
			continue
		}
		if !bytes.Equal(l.SpanId, sp.SpanId) {
			t.Errorf("log record %d has span id %x, want its request's server span %x", i, l.SpanId, sp.SpanId)
		}
	}
	for _, r := range receiver.Requests() {
		if r.ContentType != "application/x-protobuf" {
			t.Errorf("%s came as %s; the injected OTEL_EXPORTER_OTLP_PROTOCOL is http/protobuf", r.Path, r.ContentType)
		}
	}
	t.Logf("received %d server spans (%s), %d hello log records; requests: %v", len(spans), spans[0].Name, len(logs), receiver.Requests())
}

// serverSpans are the Flask instrumentation's request spans.
func serverSpans(spans []otlpreceiver.Span) []otlpreceiver.Span {
	var out []otlpreceiver.Span
	for _, s := range spans {
		if s.Scope == "opentelemetry.instrumentation.flask" && s.Kind.String() == "SPAN_KIND_SERVER" {
			out = append(out, s)
		}
	}
	return out
}

func hellos(records []otlpreceiver.LogRecord) []otlpreceiver.LogRecord {
	var out []otlpreceiver.LogRecord
	for _, r := range records {
		if r.Body.GetStringValue() == "hello called" {
			out = append(out, r)
		}
	}
	return out
}
