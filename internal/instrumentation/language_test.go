package instrumentation

import (
	"context"
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/autotel/autotel/api/v1alpha1"
)

// TestLanguageTable pins what the table derives to upstream's values, so a
// table edit that changes behaviour fails here (the golden cases cover
// what injection does with them).
func TestLanguageTable(t *testing.T) {
	if want := []Language{Java, NodeJS, Python, DotNet, Go, ApacheHttpd, Nginx, SDK}; !reflect.DeepEqual(Languages, want) {
		t.Errorf("Languages = %v, want upstream's application order %v", Languages, want)
	}
	wantEnabled := map[Language]bool{Java: true, NodeJS: true, Python: true, DotNet: true, Go: false, ApacheHttpd: true, Nginx: false, SDK: true}
	if got := DefaultConfig().Enabled; !reflect.DeepEqual(got, wantEnabled) {
		t.Errorf("DefaultConfig().Enabled = %v, want upstream's defaults %v", got, wantEnabled)
	}
	display := map[Language]string{Java: "Java", NodeJS: "NodeJS", Python: "Python", DotNet: ".NET", Go: "Go", ApacheHttpd: "Apache HTTPD", Nginx: "Nginx", SDK: "SDK"}
	for _, l := range Languages {
		if got := l.displayName(); got != display[l] {
			t.Errorf("%s: display name %q, want %q", l, got, display[l])
		}
		if l.info().injector == nil {
			t.Errorf("%s: no injector", l)
		}
	}
	if got := Nginx.ContainerNamesAnnotation(); got != "instrumentation.opentelemetry.io/inject-nginx-container-names" {
		t.Errorf("nginx container-names annotation %q", got)
	}
	if got := DotNet.ContainerNamesAnnotation(); got != "instrumentation.opentelemetry.io/dotnet-container-names" {
		t.Errorf("dotnet container-names annotation %q", got)
	}
}

// TestSpecSectionsComplete: every language but SDK declares its spec
// section fully, each pointing at its own Images field and its own part of
// the spec (the Instrumentation webhook's tests check what is done with
// them).
func TestSpecSectionsComplete(t *testing.T) {
	var imgs Images
	var spec v1alpha1.InstrumentationSpec
	imageFields := map[*string]Language{}
	specImages := map[*string]Language{}
	for _, l := range Languages {
		sec, ok := l.Spec()
		if l == SDK {
			if ok {
				t.Errorf("sdk has a spec section")
			}
			continue
		}
		if !ok || sec.Field == "" || sec.DefaultImage == "" || sec.RequestCPU == "" || sec.RequestMemory == "" || sec.Image == nil || sec.Of == nil {
			t.Errorf("%s: incomplete spec section %+v", l, sec)
			continue
		}
		if other, dup := imageFields[sec.Image(&imgs)]; dup {
			t.Errorf("%s and %s share an Images field", l, other)
		}
		imageFields[sec.Image(&imgs)] = l
		f := sec.Of(&spec)
		if f.Image == nil || f.Resources == nil || f.Volume == nil {
			t.Errorf("%s: Of leaves a field nil: %+v", l, f)
			continue
		}
		if other, dup := specImages[f.Image]; dup {
			t.Errorf("%s and %s share a spec section", l, other)
		}
		specImages[f.Image] = l
	}
	// Every string field of Images but PythonLogs belongs to a language.
	if want := reflect.TypeFor[Images]().NumField() - 1; len(imageFields) != want {
		t.Errorf("%d languages point into Images, which has %d language fields", len(imageFields), want)
	}
}

// TestInjectedLanguagesFromMarkers: each language is recognised by what it
// leaves in the pod, in application order.
func TestInjectedLanguagesFromMarkers(t *testing.T) {
	pod := &corev1.Pod{Spec: corev1.PodSpec{
		InitContainers: []corev1.Container{{Name: "otel-agent-attach-nginx"}, {Name: pythonInitContainerName}, {Name: javaInitContainerName}},
		Containers:     []corev1.Container{{Name: "app"}, {Name: goSidecarName}},
	}}
	if got, want := InjectedLanguages(pod), []Language{Java, Python, Go, Nginx}; !reflect.DeepEqual(got, want) {
		t.Errorf("InjectedLanguages = %v, want %v", got, want)
	}
	sdkOnly := &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Env: []corev1.EnvVar{{Name: envNodeName, Value: "x"}}}}}}
	if got := InjectedLanguages(sdkOnly); !reflect.DeepEqual(got, []Language{SDK}) {
		t.Errorf("SDK-only pod: %v", got)
	}
}

// TestAdmitRecordsStatus: Admit adds the decision to the pod only when the
// settings or a rollout opt-in ask, never changes the caller's pod, and
// returns the pod itself when nothing changes.
func TestAdmitRecordsStatus(t *testing.T) {
	inst := v1alpha1.Instrumentation{ObjectMeta: metav1.ObjectMeta{Namespace: "app", Name: "i"}}
	inst.Spec.Python.Image = "python:1"
	lookup := &StaticLookup{Instrumentations: []v1alpha1.Instrumentation{inst}}
	pod := func(ann map[string]string) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "app", Name: "p", Annotations: ann},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app"}}}}
	}
	plainNS := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "app"}}
	rolloutNS := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "app", Annotations: map[string]string{RolloutAnnotation: "true"}}}
	off := Mutator{Config: DefaultConfig()}
	on := Mutator{Config: DefaultConfig()}
	on.Config.PodStatusAnnotations = true
	noNodeJS := Mutator{Config: DefaultConfig()}
	noNodeJS.Config.PodStatusAnnotations = true
	noNodeJS.Config.Enabled[NodeJS] = false

	for _, tc := range []struct {
		name      string
		m         Mutator
		ns        *corev1.Namespace
		ann       map[string]string
		outcome   Outcome
		wantLabel bool
		wantState bool
	}{
		{"off: injected pod carries no status", off, plainNS, map[string]string{Python.InjectAnnotation(): "true"}, OutcomeInjected, false, false},
		{"on: injected", on, plainNS, map[string]string{Python.InjectAnnotation(): "true"}, OutcomeInjected, true, true},
		{"on: disabled language, recorded on the unchanged pod", noNodeJS, plainNS, map[string]string{NodeJS.InjectAnnotation(): "true"}, OutcomeSkipped, false, true},
		{"on: not requested, nothing recorded", on, plainNS, nil, OutcomeNotRequested, false, false},
		{"off but the namespace opted into rollout", off, rolloutNS, map[string]string{Python.InjectAnnotation(): "true"}, OutcomeInjected, true, true},
		{"off but the namespace opted into rollout, error recorded", off, rolloutNS, map[string]string{Python.InjectAnnotation(): "missing"}, OutcomeError, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := pod(tc.ann)
			before := in.DeepCopy()
			out, r := tc.m.Admit(context.Background(), tc.ns, in, lookup)
			if r.Outcome != tc.outcome {
				t.Fatalf("outcome %s (%s), want %s", r.Outcome, r.Reason, tc.outcome)
			}
			if !reflect.DeepEqual(in, before) {
				t.Errorf("Admit changed the caller's pod")
			}
			st, ok, err := ReadStatus(out)
			if ok != tc.wantState || err != nil || (ok && st.Outcome != tc.outcome) {
				t.Errorf("status %+v present=%v err=%v, want present=%v", st, ok, err, tc.wantState)
			}
			if got := out.Labels[InjectedLabel] == "true"; got != tc.wantLabel {
				t.Errorf("label %s present=%v, want %v", InjectedLabel, got, tc.wantLabel)
			}
			if tc.outcome != OutcomeInjected && !tc.wantState && out != in {
				t.Errorf("unchanged pod not returned as itself")
			}
		})
	}
}
