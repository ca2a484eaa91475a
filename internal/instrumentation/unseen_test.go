package instrumentation

import (
	"context"
	"path/filepath"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestUnseenByWebhook: the one notion both recoveries (missed pods, the
// match-conditions window) start from. Written from what the webhook
// leaves on a pod it saw: a language's init container or variables, the
// otc-container sidecar, or the recorded decision.
func TestUnseenByWebhook(t *testing.T) {
	const (
		python  = "instrumentation.opentelemetry.io/inject-python"
		sidecar = "sidecar.opentelemetry.io/inject"
		status  = "autotel.io/injection"
	)
	agent := corev1.Container{Name: "opentelemetry-auto-instrumentation-python", Image: "python-agent:1"}
	otc := corev1.Container{Name: "otc-container", Image: "collector:1"}
	cases := []struct {
		name   string
		nsAnn  map[string]string
		podAnn map[string]string
		inits  []corev1.Container
		extra  []corev1.Container // regular containers besides "app"
		want   bool
	}{
		{name: "asks for nothing", want: false},
		{name: "language on pod, nothing injected", podAnn: map[string]string{python: "true"}, want: true},
		{name: "language on namespace, nothing injected", nsAnn: map[string]string{python: "true"}, want: true},
		{name: "language injected", podAnn: map[string]string{python: "true"}, inits: []corev1.Container{agent}, want: false},
		{name: "language refused by pod", nsAnn: map[string]string{python: "true"}, podAnn: map[string]string{python: "false"}, want: false},
		{name: "language with recorded decision", podAnn: map[string]string{python: "true", status: `{"outcome":"error"}`}, want: false},

		{name: "sidecar true on pod, nothing injected", podAnn: map[string]string{sidecar: "true"}, want: true},
		{name: "sidecar by name on pod", podAnn: map[string]string{sidecar: "my-collector"}, want: true},
		{name: "sidecar ns/name on namespace", nsAnn: map[string]string{sidecar: "obs/my-collector"}, want: true},
		{name: "sidecar injected as init container", podAnn: map[string]string{sidecar: "true"}, inits: []corev1.Container{otc}, want: false},
		{name: "sidecar injected as container (upstream before native sidecars)", nsAnn: map[string]string{sidecar: "true"}, extra: []corev1.Container{otc}, want: false},
		{name: "sidecar false", podAnn: map[string]string{sidecar: "false"}, want: false},
		{name: "sidecar False on pod overrides namespace", nsAnn: map[string]string{sidecar: "true"}, podAnn: map[string]string{sidecar: "False"}, want: false},
		{name: "sidecar with recorded decision (failed)", podAnn: map[string]string{sidecar: "true", status: `{"outcome":"not-requested","sidecar":{"requested":"true","injected":false,"error":true}}`}, want: false},

		{name: "both, only sidecar injected", podAnn: map[string]string{python: "true", sidecar: "true"}, inits: []corev1.Container{otc}, want: false},
		{name: "both, nothing injected", podAnn: map[string]string{python: "true", sidecar: "true"}, want: true},
		{name: "sidecar asked, language refused, nothing injected", podAnn: map[string]string{python: "false", sidecar: "true"}, want: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "demo", Annotations: c.nsAnn}}
			pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "demo", Annotations: c.podAnn},
				Spec: corev1.PodSpec{InitContainers: c.inits, Containers: append([]corev1.Container{{Name: "app", Image: "app:1"}}, c.extra...)}}
			if got := UnseenByWebhook(ns, pod); got != c.want {
				t.Errorf("UnseenByWebhook = %v, want %v", got, c.want)
			}
		})
	}
}

// TestAdmitRecordsSidecarOnlyPods: where the decision is recorded (pod
// status annotations on, or the namespace opted into rollout), a pod that
// asks only for the sidecar carries it, injected or failed, so the
// missed-pod sweep knows the webhook saw it; elsewhere it stays upstream's
// pod, without autotel annotations.
func TestAdmitRecordsSidecarOnlyPods(t *testing.T) {
	f := loadFixture(t, filepath.Join("testdata", "sidecar", "cases", "name.yaml"))
	for _, tc := range []struct {
		name      string
		statusOn  bool
		rolloutNS bool
		value     string
		record    bool
		injected  bool
	}{
		{name: "plain", value: "sidecar", injected: true},
		{name: "plain, failed", value: "missing"},
		{name: "status annotations on", statusOn: true, value: "sidecar", record: true, injected: true},
		{name: "namespace opted in", rolloutNS: true, value: "sidecar", record: true, injected: true},
		{name: "namespace opted in, failed", rolloutNS: true, value: "missing", record: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ns, pod := f.ns.DeepCopy(), f.pod.DeepCopy()
			for k := range pod.Annotations {
				if k != SidecarAnnotation {
					delete(pod.Annotations, k) // sidecar only
				}
			}
			pod.Annotations[SidecarAnnotation] = tc.value
			if tc.rolloutNS {
				ns.Annotations = map[string]string{RolloutAnnotation: "true"}
			}
			cfg := DefaultConfig()
			cfg.PodStatusAnnotations = tc.statusOn
			out, _ := Mutator{Config: cfg}.Admit(context.Background(), ns, pod, f.lookup)
			if hasSidecar(out) != tc.injected {
				t.Fatalf("sidecar injected = %v, want %v", hasSidecar(out), tc.injected)
			}
			st, ok, err := ReadStatus(out)
			if err != nil || ok != tc.record {
				t.Fatalf("status recorded = %v (%v), want %v: %v", ok, err, tc.record, out.Annotations)
			}
			if ok {
				if st.Outcome != OutcomeNotRequested || st.Sidecar == nil || st.Sidecar.Injected != tc.injected || st.Sidecar.Error == tc.injected {
					t.Errorf("status = %+v (sidecar %+v), want not-requested with the sidecar decision", st, st.Sidecar)
				}
				if out.Labels[InjectedLabel] != "" {
					t.Errorf("a sidecar-only pod got %s: no language was injected", InjectedLabel)
				}
			}
			if UnseenByWebhook(ns, out) != (!tc.injected && !tc.record) {
				t.Errorf("UnseenByWebhook(admitted pod) = %v", UnseenByWebhook(ns, out))
			}
		})
	}
}
