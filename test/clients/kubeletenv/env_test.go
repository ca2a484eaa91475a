package kubeletenv_test

import (
	"maps"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/autotel/autotel/test/clients/kubeletenv"
)

func lit(name, value string) corev1.EnvVar { return corev1.EnvVar{Name: name, Value: value} }

func field(name, path string) corev1.EnvVar {
	return corev1.EnvVar{Name: name, ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: path}}}
}

func podWith(env ...corev1.EnvVar) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			GenerateName: "web-5f7c9d-",
			Namespace:    "shop",
			Labels:       map[string]string{"app": "web", "tier": "front"},
			Annotations:  map[string]string{"team": `a "quoted" one`},
		},
		Spec: corev1.PodSpec{
			ServiceAccountName: "web-sa",
			Containers:         []corev1.Container{{Name: "app", Env: env}},
		},
	}
}

var facts = kubeletenv.PodFacts{
	Name:     "web-5f7c9d-abcde",
	UID:      "0b6f2c1e-6a43-4d0e-9d36-1f0f4a1d7e11",
	NodeName: "node-a",
	PodIPs:   []string{"10.1.2.3", "fd00::3"},
	HostIP:   "192.0.2.10",
}

func TestExpansionRules(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  []corev1.EnvVar
		want map[string]string
	}{
		{
			name: "reference to an earlier variable expands",
			env:  []corev1.EnvVar{lit("A", "one"), lit("B", "x-$(A)-y")},
			want: map[string]string{"A": "one", "B": "x-one-y"},
		},
		{
			name: "reference to a later variable stays as written",
			env:  []corev1.EnvVar{lit("B", "x-$(A)"), lit("A", "one")},
			want: map[string]string{"A": "one", "B": "x-$(A)"},
		},
		{
			name: "undefined reference stays as written",
			env:  []corev1.EnvVar{lit("A", "$(NOPE)/bin")},
			want: map[string]string{"A": "$(NOPE)/bin"},
		},
		{
			name: "self reference before definition stays",
			env:  []corev1.EnvVar{lit("A", "<$(A)>")},
			want: map[string]string{"A": "<$(A)>"},
		},
		{
			name: "double dollar escapes",
			env:  []corev1.EnvVar{lit("A", "one"), lit("B", "$$(A) $$ $$$(A)")},
			want: map[string]string{"A": "one", "B": "$(A) $ $one"},
		},
		{
			name: "dollar before anything else is kept",
			env:  []corev1.EnvVar{lit("A", "one"), lit("B", "$A ${A} $ end$")},
			want: map[string]string{"A": "one", "B": "$A ${A} $ end$"},
		},
		{
			name: "unterminated reference is kept and scanning goes on",
			env:  []corev1.EnvVar{lit("A", "one"), lit("B", "$(A $$ $A"), lit("C", "$(A")},
			want: map[string]string{"A": "one", "B": "$(A $ $A", "C": "$(A"},
		},
		{
			name: "a reference runs to the first closing parenthesis",
			env:  []corev1.EnvVar{lit("A", "one"), lit("B", "$($(A)"), lit("C", "$(A))")},
			want: map[string]string{"A": "one", "B": "$($(A)", "C": "one)"},
		},
		{
			name: "empty reference is undefined",
			env:  []corev1.EnvVar{lit("A", "$()")},
			want: map[string]string{"A": "$()"},
		},
		{
			name: "redefinition: references see the value current at their position",
			env:  []corev1.EnvVar{lit("A", "1"), lit("B", "$(A)"), lit("A", "2"), lit("C", "$(A)")},
			want: map[string]string{"A": "2", "B": "1", "C": "2"},
		},
		{
			name: "expansion is single pass: an expanded value is not expanded again",
			env:  []corev1.EnvVar{lit("A", "$$(B)"), lit("B", "two"), lit("C", "$(A)")},
			want: map[string]string{"A": "$(B)", "B": "two", "C": "$(B)"},
		},
		{
			name: "fieldRef values are referenceable and never expanded themselves",
			env: []corev1.EnvVar{
				lit("X", "x"),
				{Name: "ANN", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.annotations['raw']"}}},
				lit("POD", "$(ANN)"),
			},
			want: map[string]string{"X": "x", "ANN": "$(X)", "POD": "$(X)"},
		},
		{
			name: "empty literal is an empty variable",
			env:  []corev1.EnvVar{lit("A", ""), lit("B", "[$(A)]")},
			want: map[string]string{"A": "", "B": "[]"},
		},
		{
			name: "the injector's shape: resource attributes after the downward API variables",
			env: []corev1.EnvVar{
				field("OTEL_RESOURCE_ATTRIBUTES_POD_NAME", "metadata.name"),
				field("OTEL_RESOURCE_ATTRIBUTES_NODE_NAME", "spec.nodeName"),
				lit("OTEL_RESOURCE_ATTRIBUTES", "k8s.node.name=$(OTEL_RESOURCE_ATTRIBUTES_NODE_NAME),k8s.pod.name=$(OTEL_RESOURCE_ATTRIBUTES_POD_NAME),service.instance.id=shop.$(OTEL_RESOURCE_ATTRIBUTES_POD_NAME).app"),
			},
			want: map[string]string{
				"OTEL_RESOURCE_ATTRIBUTES_POD_NAME":  "web-5f7c9d-abcde",
				"OTEL_RESOURCE_ATTRIBUTES_NODE_NAME": "node-a",
				"OTEL_RESOURCE_ATTRIBUTES":           "k8s.node.name=node-a,k8s.pod.name=web-5f7c9d-abcde,service.instance.id=shop.web-5f7c9d-abcde.app",
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pod := podWith(tc.env...)
			pod.Annotations["raw"] = "$(X)"
			got, err := kubeletenv.Resolve(pod, "app", facts)
			if err != nil {
				t.Fatal(err)
			}
			if !maps.Equal(got, tc.want) {
				t.Errorf("got  %q\nwant %q", got, tc.want)
			}
		})
	}
}

func TestDownwardAPIFields(t *testing.T) {
	paths := map[string]string{
		"metadata.name":                "web-5f7c9d-abcde",
		"metadata.namespace":           "shop",
		"metadata.uid":                 "0b6f2c1e-6a43-4d0e-9d36-1f0f4a1d7e11",
		"metadata.labels['tier']":      "front",
		"metadata.labels['missing']":   "",
		"metadata.annotations['team']": `a "quoted" one`,
		"metadata.labels":              "app=\"web\"\ntier=\"front\"",
		"metadata.annotations":         `team="a \"quoted\" one"`,
		"spec.nodeName":                "node-a",
		"spec.host":                    "node-a",
		"spec.serviceAccountName":      "web-sa",
		"status.podIP":                 "10.1.2.3",
		"status.podIPs":                "10.1.2.3,fd00::3",
		"status.hostIP":                "192.0.2.10",
		"status.hostIPs":               "192.0.2.10",
	}
	var env []corev1.EnvVar
	want := map[string]string{}
	for path, v := range paths {
		name := "V" + strings.NewReplacer(".", "_", "[", "_", "]", "", "'", "").Replace(path)
		env = append(env, field(name, path))
		want[name] = v
	}
	got, err := kubeletenv.Resolve(podWith(env...), "app", facts)
	if err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(got, want) {
		t.Errorf("got  %q\nwant %q", got, want)
	}
}

func TestDownwardAPIRejects(t *testing.T) {
	for _, path := range []string{
		"status.phase",             // passes the label conversion, has no runtime value
		"spec.restartPolicy",       // same
		"spec.containers[0].name",  // not a downward API field
		"metadata.name['x']",       // subscript on a scalar
		"metadata.labels['-bad-']", // invalid key
		"metadata.generateName",    // not exposed
	} {
		t.Run(path, func(t *testing.T) {
			if got, err := kubeletenv.Resolve(podWith(field("V", path)), "app", facts); err == nil {
				t.Errorf("resolved %q to %q, want an error", path, got["V"])
			}
		})
	}
	t.Run("apiVersion other than v1", func(t *testing.T) {
		e := field("V", "metadata.name")
		e.ValueFrom.FieldRef.APIVersion = "v2"
		if _, err := kubeletenv.Resolve(podWith(e), "app", facts); err == nil {
			t.Error("want an error")
		}
	})
	t.Run("empty apiVersion is the stored default v1", func(t *testing.T) {
		got, err := kubeletenv.Resolve(podWith(field("V", "metadata.name")), "app", facts)
		if err != nil || got["V"] != facts.Name {
			t.Errorf("got %q, %v", got["V"], err)
		}
	})
}

func TestUnsupportedSourcesFail(t *testing.T) {
	for name, src := range map[string]*corev1.EnvVarSource{
		"configMapKeyRef":  {ConfigMapKeyRef: &corev1.ConfigMapKeySelector{Key: "k"}},
		"secretKeyRef":     {SecretKeyRef: &corev1.SecretKeySelector{Key: "k"}},
		"resourceFieldRef": {ResourceFieldRef: &corev1.ResourceFieldSelector{Resource: "limits.cpu"}},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := kubeletenv.Resolve(podWith(corev1.EnvVar{Name: "V", ValueFrom: src}), "app", facts); err == nil {
				t.Error("want an error")
			}
		})
	}
	t.Run("envFrom", func(t *testing.T) {
		pod := podWith()
		pod.Spec.Containers[0].EnvFrom = []corev1.EnvFromSource{{ConfigMapRef: &corev1.ConfigMapEnvSource{}}}
		if _, err := kubeletenv.Resolve(pod, "app", facts); err == nil {
			t.Error("want an error")
		}
	})
	t.Run("unknown container", func(t *testing.T) {
		if _, err := kubeletenv.Resolve(podWith(), "nope", facts); err == nil {
			t.Error("want an error")
		}
	})
}

func TestServiceLinkVariables(t *testing.T) {
	f := facts
	f.ServiceEnv = map[string]string{"DB_SERVICE_HOST": "10.0.0.7", "DB_SERVICE_PORT": "5432", "KUBERNETES_SERVICE_HOST": "10.0.0.1"}
	pod := podWith(
		lit("DSN", "postgres://$(DB_SERVICE_HOST):$(DB_SERVICE_PORT)"), // services are in scope from the start
		lit("KUBERNETES_SERVICE_HOST", "overridden"),
		lit("AFTER", "$(KUBERNETES_SERVICE_HOST)"),
	)
	got, err := kubeletenv.Resolve(pod, "app", f)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"DSN":                     "postgres://10.0.0.7:5432",
		"KUBERNETES_SERVICE_HOST": "overridden", // the container's own value wins
		"AFTER":                   "overridden",
		"DB_SERVICE_HOST":         "10.0.0.7",
		"DB_SERVICE_PORT":         "5432",
	}
	if !maps.Equal(got, want) {
		t.Errorf("got  %q\nwant %q", got, want)
	}
}

func TestInitContainerAndBind(t *testing.T) {
	pod := podWith()
	pod.Spec.InitContainers = []corev1.Container{{Name: "init", Env: []corev1.EnvVar{field("N", "metadata.name"), lit("M", "$(N)!")}}}
	got, err := kubeletenv.Resolve(pod, "init", facts)
	if err != nil {
		t.Fatal(err)
	}
	if got["M"] != facts.Name+"!" {
		t.Errorf("M = %q", got["M"])
	}
	if pod.Name != "" || pod.Status.PodIP != "" {
		t.Error("Resolve modified the pod it was given")
	}
	if env := kubeletenv.Environ(map[string]string{"B": "2", "A": "1=x"}); strings.Join(env, " ") != "A=1=x B=2" {
		t.Errorf("Environ = %q", env)
	}
}
