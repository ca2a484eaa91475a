// Package javaagent runs a plain JDK HTTP server with upstream's Java agent:
// the autoinstrumentation-java image of internal/imagebuild's table (the
// agent jar from Maven, sha256-checked), copied by the injected init
// container's own command, loaded through the injected JAVA_TOOL_OPTIONS.
package javaagent

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"io"
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

const initContainer = "opentelemetry-auto-instrumentation-java"

// A JDK HTTP server in a Deployment's pod annotated inject-java, run with
// exactly the environment the kubelet would build from the injected pod:
// each GET /hello gives a server span and the handler's java.util.logging
// record inside it, with service.name from the owner chain and every
// injected resource attribute; SIGTERM ends it after the agent flushed.
func TestInjectJavaWithUpstreamAgent(t *testing.T) {
	java, err := exec.LookPath("java")
	if err != nil {
		t.Fatalf("no java on PATH (%v). To fix: apt-get install openjdk-17-jdk-headless", err)
	}
	root := clienttest.ImageRoot(t, "autoinstrumentation-java")

	appDir := t.TempDir()
	if out, err := exec.Command("javac", "-d", appDir, filepath.Join("app", "Hello.java")).CombinedOutput(); err != nil {
		t.Fatalf("javac: %v\n%s\nTo fix: apt-get install openjdk-17-jdk-headless", err, out)
	}

	s := clienttest.Inject(t, clienttest.Workload{
		Namespace:       "billing",
		Deployment:      "invoices",
		PodTemplateHash: "84c6d9f7b",
		Container: corev1.Container{Name: "api", Image: "example.com/billing/invoices:1.9.0",
			Command: []string{java, "-cp", appDir, "Hello"}, Env: []corev1.EnvVar{{Name: "PORT", Value: "8080"}}},
		Annotations: map[string]string{"instrumentation.opentelemetry.io/inject-java": "true"},
		Instrumentation: v1alpha1.Instrumentation{
			ObjectMeta: metav1.ObjectMeta{Name: "autotel"},
			Spec: v1alpha1.InstrumentationSpec{
				Exporter:    v1alpha1.Exporter{Endpoint: "http://127.0.0.1:4318"},
				Resource:    v1alpha1.Resource{AddK8sUIDAttributes: true},
				Propagators: []v1alpha1.Propagator{v1alpha1.TraceContext, v1alpha1.Baggage},
				Java:        v1alpha1.Java{Image: "example.com/autoinstrumentation-java:2.30.0"},
			},
		},
	})
	app := s.Container(t, "api")
	env := s.Env(t, app.Name)
	injected := clienttest.CheckInjectedIdentity(t, env, s.Identity(true))
	// The app mounts the agent volume at a path of its own (upstream's
	// /otel-auto-instrumentation-java-<container>); the JVM must load the
	// jar from there.
	mi := slices.IndexFunc(app.VolumeMounts, func(m corev1.VolumeMount) bool { return m.Name == initContainer })
	if mi < 0 {
		t.Fatalf("container %s does not mount the agent volume: %v", app.Name, app.VolumeMounts)
	}
	if want := " -javaagent:" + app.VolumeMounts[mi].MountPath + "/javaagent.jar"; env["JAVA_TOOL_OPTIONS"] != want {
		t.Fatalf("JAVA_TOOL_OPTIONS=%q, want %q", env["JAVA_TOOL_OPTIONS"], want)
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
	emptyDir := t.TempDir()
	mountsOf := func(c *corev1.Container, under string) []sandbox.Mount {
		var mounts []sandbox.Mount
		for _, m := range c.VolumeMounts {
			if m.Name != initContainer {
				t.Fatalf("container %s mounts volume %s, which this test does not provide", c.Name, m.Name)
			}
			mounts = append(mounts, sandbox.Mount{Source: emptyDir, Target: filepath.Join(under, m.MountPath), ReadOnly: m.ReadOnly})
		}
		return mounts
	}

	// The init container, verbatim (`cp /javaagent.jar <volume>/javaagent.jar`),
	// run by the image's own busybox inside the image's root filesystem.
	initC := s.Container(t, initContainer)
	var initOut bytes.Buffer
	initProc, err := pod.Start(sandbox.Container{
		Argv:   append(append([]string{"chroot", root}, initC.Command...), initC.Args...),
		Env:    clienttest.ProcessEnv(s.Env(t, initC.Name), "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "/root"),
		Mounts: mountsOf(initC, root),
		Stdout: &initOut, Stderr: &initOut,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := initProc.Wait(2 * time.Minute); err != nil {
		t.Fatalf("init container %v: %v\n%s", initC.Command, err, initOut.String())
	}
	if st, err := os.Stat(filepath.Join(emptyDir, "javaagent.jar")); err != nil || st.Size() < 1<<20 {
		t.Fatalf("after the init container's %v the volume has no agent jar: %v", initC.Command, err)
	}

	procEnv := clienttest.ProcessEnv(env, "/usr/local/bin:/usr/bin:/bin", "/root")
	stdout, stderr := clienttest.NewLines(), &syncbuf.Buffer{}
	proc, err := pod.Start(sandbox.Container{
		Argv: append(slices.Clone(app.Command), app.Args...), Env: procEnv,
		Mounts: mountsOf(app, "/"), Stdout: stdout, Stderr: stderr,
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
	if _, err := stdout.WaitPrefix("READY ", 120*time.Second); err != nil {
		fail("app did not start: %v", err)
	}
	if !strings.Contains(stderr.String(), "opentelemetry-javaagent - version: 2.30.0") {
		t.Errorf("the JVM's output does not show agent 2.30.0 starting")
	}

	client := pod.HTTPClient(30 * time.Second)
	const requests = 3
	for i := 0; i < requests; i++ {
		resp, err := client.Get("http://127.0.0.1:8080/hello")
		if err != nil {
			fail("GET /hello: %v", err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(body) != "world!" {
			fail("GET /hello: %d %q", resp.StatusCode, body)
		}
	}

	// Stopped as the kubelet stops a container; the agent flushes in the
	// JVM's shutdown hook.
	stopErr := proc.Stop(30 * time.Second)
	stopped = true
	_ = stdout.Close()
	// A JVM ends on SIGTERM with 128+15 once its shutdown hooks (the
	// agent's flush among them) have run.
	if code := proc.ExitCode(); code != 0 && code != 143 {
		fail("app did not shut down on SIGTERM: %v (exit code %d)", stopErr, code)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err = receiver.WaitFor(ctx, func(r *otlpreceiver.Receiver) bool {
		return len(serverSpans(r.Spans())) >= requests && len(hellos(r.LogRecords())) >= requests
	})
	if err != nil {
		fail("telemetry missing: %v\nspans %d, log records %d, requests %v", err, len(receiver.Spans()), len(receiver.LogRecords()), receiver.Requests())
	}
	spans, logs := serverSpans(receiver.Spans()), hellos(receiver.LogRecords())
	if len(spans) != requests || len(logs) != requests {
		t.Errorf("%d requests gave %d server spans and %d hello log records, want one each", requests, len(spans), len(logs))
	}
	byTrace := map[string]otlpreceiver.Span{}
	for i, sp := range spans {
		clienttest.CheckResource(t, fmt.Sprintf("span %d (%s)", i, sp.Name), s.Workload.Deployment, injected, sp.Resource)
		if lang := sp.Resource["telemetry.sdk.language"]; lang != "java" {
			t.Errorf("span %d: telemetry.sdk.language = %q, want java", i, lang)
		}
		byTrace[hex.EncodeToString(sp.TraceId)] = sp
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
	t.Logf("received %d server spans (scope %s, %q), %d hello log records; requests: %v", len(spans), spans[0].Scope, spans[0].Name, len(logs), receiver.Requests())
}

// serverSpans are the agent's spans for requests the JDK server handled.
func serverSpans(spans []otlpreceiver.Span) []otlpreceiver.Span {
	var out []otlpreceiver.Span
	for _, s := range spans {
		if s.Kind.String() == "SPAN_KIND_SERVER" {
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
