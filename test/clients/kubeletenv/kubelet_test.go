package kubeletenv_test

import (
	"math/rand/v2"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/kubernetes/pkg/fieldpath"
	"k8s.io/kubernetes/third_party/forked/golang/expansion"

	"github.com/autotel/autotel/test/clients/kubeletenv"
)

// The kubelet's own expansion and field path code is the oracle: our
// wrappers around it (the lookup adapter, the apiVersion default, the
// status fields) must agree with it on every input, malformed ones too.
func TestExpandAgreesWithKubelet(t *testing.T) {
	defined := map[string]string{"A": "alpha", "B": "$(A)", "EMPTY": "", "X_1": "x one", "é": "accent"}
	lookup := func(name string) (string, bool) { v, ok := defined[name]; return v, ok }
	kubelet := expansion.MappingFuncFor(defined)

	cases := []string{
		"", "$", "$$", "$$$", "$(", "$()", "$(A", "$(A)", "$$(A)", "$$$(A)", "$(A)$(B)", "a$(A)b$(NOPE)c",
		"$(A))", "(($(A)))", "$((A))", "$(é)", "$é", "$\xff", "\xff$(A)", "$(A)$", "$ (A)", "$(A )", "$(X_1)$(EMPTY)|",
	}
	// Random strings over the characters that matter, to reach the corners
	// the list above misses.
	alphabet := []string{"$", "(", ")", "A", "B", "NOPE", "EMPTY", "é", "\xff", " ", "x"}
	r := rand.New(rand.NewPCG(1, 2))
	for range 20000 {
		n := r.IntN(12)
		s := ""
		for range n {
			s += alphabet[r.IntN(len(alphabet))]
		}
		cases = append(cases, s)
	}
	for _, in := range cases {
		want := expansion.Expand(in, kubelet)
		if got := kubeletenv.Expand(in, lookup); got != want {
			t.Fatalf("Expand(%q) = %q, kubelet gives %q", in, got, want)
		}
	}
}

func TestFieldPathsAgreeWithKubelet(t *testing.T) {
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{
		Name: "p", Namespace: "ns", UID: "u-1",
		Labels:      map[string]string{"a": "1", "b.example.com/c": "two\nlines", "q": `"`},
		Annotations: map[string]string{"Mixed.Case/Key": "v", "z": "\x00\u2028"},
	}}
	for _, path := range []string{
		"metadata.name", "metadata.namespace", "metadata.uid", "metadata.labels", "metadata.annotations",
		"metadata.labels['a']", "metadata.labels['b.example.com/c']", "metadata.labels['nope']",
		"metadata.annotations['Mixed.Case/Key']", "metadata.annotations['z']",
		"metadata.labels['-bad']", "metadata.annotations['']", "metadata.name['x']", "metadata.generateName",
	} {
		want, wantErr := fieldpath.ExtractFieldPathAsString(pod, path)
		got, err := kubeletenv.FieldRef(pod, &corev1.ObjectFieldSelector{FieldPath: path})
		if (err != nil) != (wantErr != nil) || got != want {
			t.Errorf("%s: got %q, %v; kubelet gives %q, %v", path, got, err, want, wantErr)
		}
	}
}
