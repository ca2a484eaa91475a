package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/autotel/autotel/api/v1alpha1"
	"github.com/autotel/autotel/test/clients/clienttest"
	"github.com/autotel/autotel/test/clients/otlpreceiver"
	"github.com/autotel/autotel/test/clients/sandbox"
)

// An app that bundles the Go SDK, in a pod annotated inject-sdk, run with
// exactly the environment the kubelet would build from the injected pod,
// exports its span and log with the identity the injector derived.
func TestInjectSDKWithGoSDK(t *testing.T) {
	binary := filepath.Join(t.TempDir(), "goapp")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "go", "build", "-o", binary, ".").CombinedOutput(); err != nil {
		t.Fatalf("building the app: %v\n%s", err, out)
	}

	s := clienttest.Inject(t, clienttest.Workload{
		Namespace:       "payments",
		Deployment:      "orders",
		PodTemplateHash: "6b7f9c4d8",
		Container:       corev1.Container{Name: "orders", Image: "example.com/payments/orders:2.0.1", Command: []string{binary}},
		Annotations:     map[string]string{"instrumentation.opentelemetry.io/inject-sdk": "true"},
		Instrumentation: v1alpha1.Instrumentation{
			ObjectMeta: metav1.ObjectMeta{Name: "autotel"},
			Spec: v1alpha1.InstrumentationSpec{
				Exporter:    v1alpha1.Exporter{Endpoint: "http://127.0.0.1:4318"},
				Propagators: []v1alpha1.Propagator{v1alpha1.TraceContext, v1alpha1.Baggage},
				Sampler:     v1alpha1.Sampler{Type: v1alpha1.ParentBasedTraceIDRatio, Argument: "1"},
			},
		},
	})
	if n := len(s.Mutated.Spec.InitContainers) + len(s.Mutated.Spec.Volumes); n != 0 {
		t.Errorf("inject-sdk added %d init containers and volumes; it is environment only", n)
	}
	app := s.Container(t, "orders")
	env := s.Env(t, app.Name)
	injected := clienttest.CheckInjectedIdentity(t, env, s.Identity(false))

	pod, err := sandbox.NewPod()
	if err != nil {
		t.Fatal(err)
	}
	defer pod.Close()
	receiver := clienttest.ListenWhereTold(t, pod, env)

	procEnv := clienttest.ProcessEnv(env, "/usr/local/bin:/usr/bin:/bin", "/root")
	stdout, stderr := clienttest.NewLines(), &bytes.Buffer{}
	proc, err := pod.Start(sandbox.Container{Argv: append(slices.Clone(app.Command), app.Args...), Env: procEnv, Stdout: stdout, Stderr: stderr})
	if err != nil {
		t.Fatal(err)
	}
	err = proc.Wait(60 * time.Second)
	_ = stdout.Close()
	if err != nil {
		t.Fatalf("app: %v\nstdout: %q\nstderr: %s", err, stdout.All(), stderr)
	}
	if pids, _ := pod.Processes(); len(pids) != 0 {
		t.Errorf("processes left in the pod: %v", pids)
	}

	var gotEnv []string
	line, err := stdout.WaitPrefix("ENV ", time.Second)
	if err != nil || json.Unmarshal([]byte(line), &gotEnv) != nil {
		t.Fatalf("no ENV line: %v; stdout %q", err, stdout.All())
	}
	slices.Sort(gotEnv)
	if !slices.Equal(gotEnv, procEnv) {
		t.Errorf("the app ran with\n%q\nwant exactly\n%q", gotEnv, procEnv)
	}

	waitCtx, waitCancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer waitCancel()
	err = receiver.WaitFor(waitCtx, func(r *otlpreceiver.Receiver) bool {
		return len(r.Spans()) > 0 && len(r.LogRecords()) > 0
	})
	if err != nil {
		t.Fatalf("no span and log record arrived: %v\nstderr: %s", err, stderr)
	}

	spans := receiver.Spans()
	if len(spans) != 1 || spans[0].Name != "place-order" {
		t.Fatalf("spans: %v", spans)
	}
	clienttest.CheckResource(t, "span resource", s.Workload.Deployment, injected, spans[0].Resource)
	if sdk := spans[0].Resource["telemetry.sdk.language"]; sdk != "go" {
		t.Errorf("telemetry.sdk.language = %q", sdk)
	}

	logs := receiver.LogRecords()
	if len(logs) != 1 || logs[0].Body.GetStringValue() != "order placed" {
		t.Fatalf("log records: %v", logs)
	}
	clienttest.CheckResource(t, "log resource", s.Workload.Deployment, injected, logs[0].Resource)
	if !bytes.Equal(logs[0].TraceId, spans[0].TraceId) || !bytes.Equal(logs[0].SpanId, spans[0].SpanId) {
		t.Errorf("log record is in trace %s span %s, want the span's %s %s",
			hex.EncodeToString(logs[0].TraceId), hex.EncodeToString(logs[0].SpanId), hex.EncodeToString(spans[0].TraceId), hex.EncodeToString(spans[0].SpanId))
	}
	for _, r := range receiver.Requests() {
		if r.ContentType != "application/x-protobuf" {
			t.Errorf("%s came as %s; the Go SDK's default is http/protobuf", r.Path, r.ContentType)
		}
	}
}
