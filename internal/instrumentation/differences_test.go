package instrumentation

import (
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/autotel/autotel/internal/instrumentation/differences"
)

// "Documented upstream behaviour", concretely: for each difference in
// docs/differences.yaml marked golden, a detector below recognises, from a
// case's input and autotel's output, that the output is NOT what upstream
// (v0.158) would produce in that respect. A golden case must name exactly
// the differences whose detectors fire on it, so a golden that departs from
// upstream in a recognised way without naming it fails, and so does a case
// naming a difference it does not show. Outside these detectors a golden is
// upstream's pod (reviewed by hand against upstream's code and e2e asserts,
// docs/compatibility.md); a new kind of departure needs a new entry in
// differences.yaml and a detector here.
type detector func(f fixture, in, out *corev1.Pod, r Report) bool

var detectors = map[string]detector{
	// Upstream adds the init container of Java, Node.js, Python and .NET
	// whenever the language has target containers, injected or not.
	"no-init-container-without-target": func(_ fixture, _, _ *corev1.Pod, r Report) bool {
		for _, l := range r.Languages {
			switch l.Language {
			case Java, NodeJS, Python, DotNet:
			default:
				continue
			}
			if len(l.Containers) > 0 && !l.Injected() && slices.ContainsFunc(l.Containers, targetExists) {
				return true
			}
		}
		return false
	},
	// Upstream refuses (skips) only the container's own valueFrom for the
	// loader variable; anything else it extends into value+valueFrom.
	"valuefrom-skip": func(_ fixture, in, _ *corev1.Pod, r Report) bool {
		for _, l := range r.Languages {
			for _, c := range l.Containers {
				_, name, ok := strings.Cut(c.Reason, "ValueFrom, envVar: ")
				if c.Injected || !ok {
					continue
				}
				if name == envResourceAttrs || name == "LD_LIBRARY_PATH" {
					return true
				}
				own := inputContainer(in, c.Name)
				if own == nil {
					return true
				}
				if i := envIndex(own.Env, name); i < 0 || own.Env[i].ValueFrom == nil {
					return true // it came through spec.env or spec.<lang>.env
				}
			}
		}
		return false
	},
	// Upstream instruments a container once per listing.
	"container-names-once": func(f fixture, in, _ *corev1.Pod, r Report) bool {
		if r.Outcome != OutcomeInjected {
			return false
		}
		for _, annotations := range []map[string]string{in.Annotations, f.ns.Annotations} {
			for k, v := range annotations {
				if !strings.HasSuffix(k, "container-names") {
					continue
				}
				names := strings.Split(v, ",")
				slices.Sort(names)
				if len(slices.Compact(slices.Clone(names))) != len(names) {
					return true
				}
			}
		}
		return false
	},
	// Upstream's scripts are its own text; ours are ours.
	"webserver-script-wording": func(_ fixture, in, out *corev1.Pod, _ Report) bool {
		for _, name := range []string{"otel-agent-attach-apache", "otel-agent-attach-nginx"} {
			if !hasInitContainer(in, name) && hasInitContainer(out, name) {
				return true
			}
		}
		return false
	},
}

// targetExists: the container was found in the pod (upstream's
// containersToInstrument drops names it cannot find).
func targetExists(c ContainerReport) bool { return c.Reason != "no such container in the pod" }

func inputContainer(pod *corev1.Pod, name string) *corev1.Container {
	for _, list := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for i := range list {
			if list[i].Name == name {
				return &list[i]
			}
		}
	}
	return nil
}

func loadDifferences(t *testing.T) *differences.Doc {
	t.Helper()
	d, err := differences.Load(differences.DocPath())
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestDetectorsMatchDifferences: every golden-visible difference has a
// detector and every detector a documented difference.
func TestDetectorsMatchDifferences(t *testing.T) {
	d := loadDifferences(t)
	for _, x := range d.Differences {
		if _, ok := detectors[x.ID]; ok != x.Golden {
			t.Errorf("difference %s: golden=%v but detector present=%v", x.ID, x.Golden, ok)
		}
	}
	byID := d.ByID()
	for id := range detectors {
		if _, ok := byID[id]; !ok {
			t.Errorf("detector %s has no entry in docs/differences.yaml", id)
		}
	}
}

// TestGoldenDifferences: each case names exactly the differences its
// golden shows, and each golden-visible difference is shown by a case.
func TestGoldenDifferences(t *testing.T) {
	byID := loadDifferences(t).ByID()
	shown := map[string]bool{}
	for _, tc := range allMutateCases() {
		t.Run(tc.name, func(t *testing.T) {
			for _, id := range tc.differences {
				if x, ok := byID[id]; !ok || !x.Golden {
					t.Fatalf("case names difference %q, which docs/differences.yaml does not list as golden-visible", id)
				}
			}
			f := loadFixture(t, filepath.Join("testdata", "cases", tc.name+".yaml"))
			cfg := DefaultConfig()
			if tc.config != nil {
				tc.config(&cfg)
			}
			in := f.pod.DeepCopy()
			out, r := mutateOrFail(t, cfg, f.ns, f.pod, f.lookup)
			var fired []string
			for _, id := range slices.Sorted(maps.Keys(detectors)) {
				if detectors[id](f, in, out, r) {
					fired = append(fired, id)
					shown[id] = true
				}
			}
			named := slices.Sorted(slices.Values(tc.differences))
			if !slices.Equal(fired, named) {
				t.Errorf("golden shows differences %v but the case names %v: name each difference from upstream (docs/differences.yaml) the golden shows, and only those", fired, named)
			}
		})
	}
	for id := range detectors {
		if !shown[id] {
			t.Errorf("difference %s is golden-visible but no golden case shows it", id)
		}
	}
}
