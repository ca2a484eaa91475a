package integration

import (
	"bytes"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/autotel/autotel/api/v1alpha1"
	"github.com/autotel/autotel/internal/controllers"
	"github.com/autotel/autotel/internal/instrumentation"
	"github.com/autotel/autotel/internal/webhook/instrumentationwebhook"
)

// These tests switch Python agents the way users do, with the kubectl the
// control plane was built with, so the requests (annotate's merge patch,
// client-side and server-side apply) are the real ones.

var (
	upstreamPython = instrumentationwebhook.DefaultImages().Python
	logsPython     = instrumentationwebhook.DefaultImages().PythonLogs
)

// kubectl runs kubectl against the test control plane, failing the test on
// a non-zero exit; it returns stdout and stderr (where warnings go).
func kubectl(t *testing.T, stdin string, args ...string) (string, string) {
	t.Helper()
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	if err := env.WriteKubeconfig(kubeconfig); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(filepath.Join(env.BinaryDir, "kubectl"), append([]string{"--kubeconfig", kubeconfig}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("kubectl %s: %v\nstdout: %s\nstderr: %s", strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String(), stderr.String()
}

// pythonInstrumentation is a manifest as a user writes it: no image, and
// the agent annotation and image only when given.
func pythonInstrumentation(ns, agent, image string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "apiVersion: opentelemetry.io/v1alpha1\nkind: Instrumentation\nmetadata:\n  name: py\n  namespace: %s\n", ns)
	if agent != "" {
		fmt.Fprintf(&b, "  annotations:\n    %s: %s\n", instrumentationwebhook.PythonAgentAnnotation, agent)
	}
	b.WriteString("spec:\n  exporter:\n    endpoint: http://collector:4318\n  sampler:\n    type: parentbased_always_on\n")
	if image != "" {
		fmt.Fprintf(&b, "  python:\n    image: %s\n", image)
	}
	return b.String()
}

func storedInstrumentation(t *testing.T, ns string) *v1alpha1.Instrumentation {
	t.Helper()
	var i v1alpha1.Instrumentation
	if err := k8sClient().Get(ctx(t), types.NamespacedName{Namespace: ns, Name: "py"}, &i); err != nil {
		t.Fatal(err)
	}
	return &i
}

func wantPythonImage(t *testing.T, ns, want, when string) {
	t.Helper()
	if got := storedInstrumentation(t, ns).Spec.Python.Image; got != want {
		t.Fatalf("%s: spec.python.image = %q, want %q", when, got, want)
	}
}

func initImage(t *testing.T, pod *corev1.Pod) string {
	t.Helper()
	for _, c := range pod.Spec.InitContainers {
		if c.Name == "opentelemetry-auto-instrumentation-python" {
			return c.Image
		}
	}
	t.Fatalf("pod %s has no Python init container: %v", pod.Name, pod.Spec.InitContainers)
	return ""
}

// TestPythonAgentAnnotateExisting: `kubectl annotate` on an Instrumentation
// defaulted to upstream's agent switches it to the log agent, new pods get
// that agent, and opted-in workloads are restarted for the change.
func TestPythonAgentAnnotateExisting(t *testing.T) {
	ns := newNamespace(t, map[string]string{instrumentation.RolloutAnnotation: "true"})
	kubectl(t, pythonInstrumentation(ns, "", ""), "apply", "-f", "-")
	wantPythonImage(t, ns, upstreamPython, "created without the annotation")
	waitCached(t, ns, "py")
	_, pod := workload(t, ns, "app", map[string]string{injectPython: "true"})
	if got := initImage(t, pod); got != upstreamPython {
		t.Fatalf("pod before the switch runs %q, want upstream's %q", got, upstreamPython)
	}
	hashBefore := instrumentation.SpecHash(storedInstrumentation(t, ns))

	_, stderr := kubectl(t, "", "annotate", "-n", ns, "instrumentation", "py", instrumentationwebhook.PythonAgentAnnotation+"=logs")
	wantPythonImage(t, ns, logsPython, "after kubectl annotate")
	if strings.Contains(stderr, "Warning") {
		t.Errorf("switch without an explicit image must not warn: %s", stderr)
	}
	if instrumentation.SpecHash(storedInstrumentation(t, ns)) == hashBefore {
		t.Fatal("the image switch did not change the spec hash rollout compares")
	}

	// Rollout on change restarts the workload still running upstream's agent.
	waitFor(t, func() bool {
		return deployment(t, ns, "app").Spec.Template.Annotations[controllers.RestartedAtAnnotation] != ""
	})
	// New pods (what the restart brings; this tier has no controller-manager
	// to create them) are injected with the log agent.
	waitFor(t, func() bool {
		var got v1alpha1.Instrumentation
		return env.CachedClient.Get(ctx(t), types.NamespacedName{Namespace: ns, Name: "py"}, &got) == nil && got.Spec.Python.Image == logsPython
	})
	if got := initImage(t, createPod(t, samplePod(ns, map[string]string{injectPython: "true"}))); got != logsPython {
		t.Errorf("new pod runs %q, want the log agent %q", got, logsPython)
	}
}

// TestPythonAgentApplyExisting: `kubectl apply` of the manifest with the
// annotation added switches an existing Instrumentation, and applying it
// again without the annotation switches back, for client-side and
// server-side apply.
func TestPythonAgentApplyExisting(t *testing.T) {
	for _, mode := range []string{"client-side", "server-side"} {
		t.Run(mode, func(t *testing.T) {
			ns := newNamespace(t, nil)
			apply := []string{"apply", "-f", "-"}
			if mode == "server-side" {
				apply = append(apply, "--server-side")
			}
			kubectl(t, pythonInstrumentation(ns, "", ""), apply...)
			wantPythonImage(t, ns, upstreamPython, "first apply")
			kubectl(t, pythonInstrumentation(ns, "logs", ""), apply...)
			wantPythonImage(t, ns, logsPython, "apply with the annotation added")
			kubectl(t, pythonInstrumentation(ns, "logs", ""), apply...)
			wantPythonImage(t, ns, logsPython, "same manifest applied again")
			kubectl(t, pythonInstrumentation(ns, "", ""), apply...)
			wantPythonImage(t, ns, upstreamPython, "apply with the annotation removed")
			if a := storedInstrumentation(t, ns).Annotations; a[instrumentationwebhook.PythonAgentAnnotation] != "" || a[instrumentationwebhook.DefaultPythonLogsImageAnnotation] != "" {
				t.Errorf("annotations after switching back: %v", a)
			}
		})
	}
}

// TestPythonAgentExplicitImageWins: an image the user wrote stays, and both
// the API response (kubectl prints it) and the stored object say why the
// annotation has no effect.
func TestPythonAgentExplicitImageWins(t *testing.T) {
	ns := newNamespace(t, nil)
	_, stderr := kubectl(t, pythonInstrumentation(ns, "logs", "registry.example/my-python:2"), "apply", "-f", "-")
	wantPythonImage(t, ns, "registry.example/my-python:2", "explicit image with the annotation")
	for _, want := range []string{"Warning:", "autotel.io/python-agent: logs is ignored because spec.python.image is set to \"registry.example/my-python:2\"", "/spec/python/image"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("kubectl output lacks %q:\n%s", want, stderr)
		}
	}

	// Annotating an existing Instrumentation with an explicit image warns too.
	ns2 := newNamespace(t, nil)
	kubectl(t, pythonInstrumentation(ns2, "", "registry.example/my-python:2"), "apply", "-f", "-")
	_, stderr = kubectl(t, "", "annotate", "-n", ns2, "instrumentation", "py", instrumentationwebhook.PythonAgentAnnotation+"=logs")
	wantPythonImage(t, ns2, "registry.example/my-python:2", "annotate with an explicit image")
	if !strings.Contains(stderr, "is ignored because spec.python.image is set") {
		t.Errorf("kubectl annotate output lacks the warning:\n%s", stderr)
	}

	// Following the warning's advice switches it.
	_, stderr = kubectl(t, "", "patch", "-n", ns2, "instrumentation", "py", "--type=json", "-p", `[{"op":"remove","path":"/spec/python/image"}]`)
	wantPythonImage(t, ns2, logsPython, "after clearing spec.python.image as the warning says")
	if strings.Contains(stderr, "Warning") {
		t.Errorf("warning after the fix: %s", stderr)
	}
}

// TestPythonAgentAnnotationRemoved: removing the annotation returns a
// defaulted log agent image to upstream's agent, but keeps the log agent
// when the user named it in spec.python.image.
func TestPythonAgentAnnotationRemoved(t *testing.T) {
	ns := newNamespace(t, nil)
	kubectl(t, pythonInstrumentation(ns, "logs", ""), "create", "-f", "-")
	wantPythonImage(t, ns, logsPython, "created with the annotation")
	kubectl(t, "", "annotate", "-n", ns, "instrumentation", "py", instrumentationwebhook.PythonAgentAnnotation+"-")
	wantPythonImage(t, ns, upstreamPython, "after removing the annotation")

	named := newNamespace(t, nil)
	kubectl(t, pythonInstrumentation(named, "logs", logsPython), "create", "-f", "-")
	kubectl(t, "", "annotate", "-n", named, "instrumentation", "py", instrumentationwebhook.PythonAgentAnnotation+"-")
	wantPythonImage(t, named, logsPython, "annotation removed, log agent named in the spec")
}
