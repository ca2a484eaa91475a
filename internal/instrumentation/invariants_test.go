package instrumentation

import (
	"context"
	"regexp"
	"runtime/debug"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/utils/ptr"

	"github.com/autotel/autotel/api/v1alpha1"
)

// mutateOrFail runs Mutate and turns a panic into a test failure, so one
// crashing case does not hide the results of all the others.
func mutateOrFail(t *testing.T, cfg Config, ns *corev1.Namespace, pod *corev1.Pod, lookup Lookup) (out *corev1.Pod, r Report) {
	t.Helper()
	defer func() {
		if p := recover(); p != nil {
			t.Fatalf("Mutate panicked (it must never fail, see its doc comment): %v\n%s", p, debug.Stack())
		}
	}()
	return Mutator{Config: cfg}.Mutate(context.Background(), ns, pod, lookup)
}

// Names written out literally (§2.3, §2.4, §4), not taken from the package.
const (
	wCloneName   = "otel-agent-source-container-clone"
	wGoSidecar   = "opentelemetry-auto-instrumentation"
	wKernelDebug = "kernel-debug"
)

// langParts are the pod-level objects one language adds.
type langParts struct {
	inits        []string // init containers added once per pod
	initPrefixes []string // init containers added once per item (Java extensions)
	sidecars     []string // regular containers added (Go)
	volumes      []string
}

var wParts = map[Language]langParts{
	Java: {
		inits:        []string{"opentelemetry-auto-instrumentation-java"},
		initPrefixes: []string{"opentelemetry-auto-instrumentation-extension-"},
		volumes:      []string{"opentelemetry-auto-instrumentation-java"},
	},
	NodeJS: {inits: []string{"opentelemetry-auto-instrumentation-nodejs"}, volumes: []string{"opentelemetry-auto-instrumentation-nodejs"}},
	Python: {inits: []string{wPyName}, volumes: []string{wPyName}},
	DotNet: {inits: []string{"opentelemetry-auto-instrumentation-dotnet"}, volumes: []string{"opentelemetry-auto-instrumentation-dotnet"}},
	Go:     {sidecars: []string{wGoSidecar}, volumes: []string{wKernelDebug}},
	ApacheHttpd: {
		inits:   []string{wCloneName, "otel-agent-attach-apache"},
		volumes: []string{"otel-apache-conf-dir", "otel-apache-agent"},
	},
	Nginx: {
		inits:   []string{wCloneName, "otel-agent-attach-nginx"},
		volumes: []string{"otel-nginx-conf-dir", "otel-nginx-agent"},
	},
	SDK: {},
}

// isPart reports whether an init container name belongs to the language.
func (p langParts) isInit(name string) bool {
	return slices.Contains(p.inits, name) || slices.ContainsFunc(p.initPrefixes, func(pre string) bool { return strings.HasPrefix(name, pre) })
}

func countNames(cs []corev1.Container, match func(string) bool) int {
	n := 0
	for _, c := range cs {
		if match(c.Name) {
			n++
		}
	}
	return n
}

func countVolumes(vs []corev1.Volume, name string) int {
	n := 0
	for _, v := range vs {
		if v.Name == name {
			n++
		}
	}
	return n
}

// instFor is the Instrumentation the report says a language used.
func instFor(t *testing.T, f fixture, r Report, lang Language) *v1alpha1.Instrumentation {
	t.Helper()
	for _, l := range r.Languages {
		if l.Language != lang {
			continue
		}
		ns, name, ok := strings.Cut(l.Instrumentation, "/")
		if !ok {
			t.Errorf("%s: report names no Instrumentation (%q)", lang, l.Instrumentation)
			return nil
		}
		inst, err := f.lookup.GetInstrumentation(context.Background(), ns, name)
		if err != nil {
			t.Errorf("%s: %v", lang, err)
			return nil
		}
		return inst
	}
	t.Errorf("%s: not in the report", lang)
	return nil
}

// firstTarget is "the first target container" of §1.1/§2.4 whose
// securityContext injected init containers copy: for the copying agents the
// first target in injection order even when it was skipped (upstream passes
// containers[0]); for Apache/Nginx, whose init containers exist only for
// the container they were built from, the first instrumented one.
func firstTarget(in *corev1.Pod, r Report, lang Language) *corev1.Container {
	for _, l := range r.Languages {
		if l.Language != lang {
			continue
		}
		for _, c := range l.Containers {
			if c.Reason == "no such container in the pod" {
				continue
			}
			if (lang == ApacheHttpd || lang == Nginx) && !c.Injected {
				continue
			}
			return findContainer(in, c.Name)
		}
	}
	return nil
}

var envRef = regexp.MustCompile(`\$\(([A-Za-z_][A-Za-z0-9_]*)\)`)

// checkInvariants holds for every case, whatever the table says.
func checkInvariants(t *testing.T, f fixture, in, out *corev1.Pod, r Report, cfg Config, w expect) {
	t.Helper()
	injected := r.InjectedContainers()
	if r.Outcome != OutcomeInjected {
		// §2.2: errors and skips admit the pod as it came.
		if !equality.Semantic.DeepEqual(out, in) {
			t.Errorf("outcome %s but the pod changed:\n%s", r.Outcome, lineDiff(podYAML(t, in), podYAML(t, out)))
		}
		if len(injected) != 0 {
			t.Errorf("outcome %s but containers reported injected: %v", r.Outcome, injected)
		}
		return
	}
	if len(injected) == 0 {
		t.Errorf("outcome injected but no container reported injected")
	}
	for _, l := range r.Languages {
		if len(l.Containers) > 0 && l.Instrumentation == "" {
			t.Errorf("%s: containers reported without an Instrumentation", l.Language)
		}
	}

	// The containers injection may change: the targets of every language
	// but Go, whose agent is a sidecar and leaves the app untouched (§4).
	modified := map[string]bool{}
	for lang, names := range injected {
		if lang == Go {
			continue
		}
		for _, n := range names {
			modified[n] = true
		}
	}
	for _, c := range append(slices.Clone(in.Spec.InitContainers), in.Spec.Containers...) {
		if modified[c.Name] {
			continue
		}
		if got := findContainer(out, c.Name); got == nil || !equality.Semantic.DeepEqual(*got, c) {
			t.Errorf("container %s was not instrumented (or only by Go's sidecar) but changed", c.Name)
		}
	}
	wantContainers := containerNames(in.Spec.Containers)
	if len(injected[Go]) > 0 {
		wantContainers = append(wantContainers, wGoSidecar)
		modified[wGoSidecar] = true
	}
	if got := containerNames(out.Spec.Containers); !slices.Equal(got, wantContainers) {
		t.Errorf("containers = %v, want %v (only Go adds one, last)", got, wantContainers)
	}

	for name := range modified {
		c := findContainer(out, name)
		if c == nil {
			t.Errorf("instrumented container %s missing", name)
			continue
		}
		names := envNames(c.Env)
		if len(names) < 2 || names[0] != "OTEL_NODE_IP" || names[1] != "OTEL_POD_IP" {
			t.Errorf("%s: env does not start with OTEL_NODE_IP, OTEL_POD_IP: %v", name, names)
		}
		if len(names) == 0 || names[len(names)-1] != "OTEL_RESOURCE_ATTRIBUTES" {
			t.Errorf("%s: OTEL_RESOURCE_ATTRIBUTES is not last: %v", name, names)
		}
		seen := map[string]bool{}
		for i, e := range c.Env {
			if seen[e.Name] && !w.duplicateEnvQuirk {
				t.Errorf("%s: env %s appears twice", name, e.Name)
			}
			seen[e.Name] = true
			if e.Value != "" && e.ValueFrom != nil {
				t.Errorf("%s: env %s has both value and valueFrom", name, e.Name)
			}
			// The kubelet expands $(VAR) only for variables defined earlier.
			for _, m := range envRef.FindAllStringSubmatch(e.Value, -1) {
				if envIndex(c.Env[:i], m[1]) < 0 {
					t.Errorf("%s: %s refers to $(%s), not defined before it", name, e.Name, m[1])
				}
			}
		}
		paths := map[string]bool{}
		for _, m := range c.VolumeMounts {
			if paths[m.MountPath] {
				t.Errorf("%s: mount path %s used twice", name, m.MountPath)
			}
			paths[m.MountPath] = true
		}
	}

	// Each language's agent is mounted once where its loader variable
	// points (§2.4, §4).
	mountedOnce := func(lang Language, c *corev1.Container, volume, path string) {
		t.Helper()
		var found []corev1.VolumeMount
		for _, m := range c.VolumeMounts {
			if m.Name == volume {
				found = append(found, m)
			}
		}
		if len(found) != 1 || found[0].MountPath != path || found[0].ReadOnly {
			t.Errorf("%s %s: mounts of %s = %+v, want one at %s", lang, c.Name, volume, found, path)
		}
	}
	literal := func(c *corev1.Container, name string) (string, bool) {
		i := envIndex(c.Env, name)
		if i < 0 || c.Env[i].ValueFrom != nil {
			return "", false
		}
		return c.Env[i].Value, true
	}
	for lang, names := range injected {
		for _, name := range names {
			c := findContainer(out, name)
			if c == nil {
				continue
			}
			switch lang {
			case Java:
				path := "/otel-auto-instrumentation-java-" + name
				mountedOnce(lang, c, "opentelemetry-auto-instrumentation-java", path)
				suffix := " -javaagent:" + path + "/javaagent.jar"
				if inst := instFor(t, f, r, Java); inst != nil && len(inst.Spec.Java.Extensions) > 0 {
					suffix += " -Dotel.javaagent.extensions=" + path + "/extensions"
				}
				if v, ok := literal(c, "JAVA_TOOL_OPTIONS"); !ok || !strings.HasSuffix(v, suffix) {
					t.Errorf("%s: JAVA_TOOL_OPTIONS = %q, want it to end with %q", name, v, suffix)
				}
			case NodeJS:
				mountedOnce(lang, c, "opentelemetry-auto-instrumentation-nodejs", "/otel-auto-instrumentation-nodejs")
				const suffix = " --require /otel-auto-instrumentation-nodejs/autoinstrumentation.js"
				if v, ok := literal(c, "NODE_OPTIONS"); !ok || !strings.HasSuffix(v, suffix) {
					t.Errorf("%s: NODE_OPTIONS = %q, want it to end with %q", name, v, suffix)
				}
			case Python:
				mountedOnce(lang, c, wPyName, wMountPath)
				if v, ok := literal(c, "PYTHONPATH"); !ok || !strings.HasPrefix(v, wPPPrefix+":") || !strings.HasSuffix(v, ":"+wPPSuffix) {
					t.Errorf("%s: PYTHONPATH = %q", name, v)
				}
			case DotNet:
				mountedOnce(lang, c, "opentelemetry-auto-instrumentation-dotnet", "/otel-auto-instrumentation-dotnet")
				const hook = "/otel-auto-instrumentation-dotnet/net/OpenTelemetry.AutoInstrumentation.StartupHook.dll"
				if v, ok := literal(c, "DOTNET_STARTUP_HOOKS"); !ok || !strings.HasSuffix(v, hook) {
					t.Errorf("%s: DOTNET_STARTUP_HOOKS = %q, want it to end with %q", name, v, hook)
				}
				if v, _ := literal(c, "OTEL_DOTNET_AUTO_HOME"); v != "/otel-auto-instrumentation-dotnet" {
					t.Errorf("%s: OTEL_DOTNET_AUTO_HOME = %q", name, v)
				}
			case Go:
				if sc := findContainer(out, wGoSidecar); sc != nil {
					if v, ok := literal(sc, "OTEL_GO_AUTO_TARGET_EXE"); !ok || v == "" {
						t.Errorf("Go sidecar without OTEL_GO_AUTO_TARGET_EXE")
					}
					if i := envIndex(sc.Env, "OTEL_RESOURCE_ATTRIBUTES"); i < 0 || !strings.Contains(sc.Env[i].Value, "k8s.container.name="+name+",") {
						t.Errorf("Go sidecar's resource attributes do not describe %s", name)
					}
				}
			}
		}
	}

	// Pod-level parts: present exactly once for each injected language, not
	// added at all for a language nothing was injected for (upstream adds
	// the init container even then; we deliberately do not).
	for lang, parts := range wParts {
		has := len(injected[lang]) > 0
		for _, n := range parts.inits {
			want := 0
			if has || (n == wCloneName && (len(injected[ApacheHttpd]) > 0 || len(injected[Nginx]) > 0)) {
				want = 1
			}
			match := func(s string) bool { return s == n }
			if got := countNames(out.Spec.InitContainers, match) - countNames(in.Spec.InitContainers, match); got != want {
				t.Errorf("%s: %d init containers %s added, want %d", lang, got, n, want)
			}
		}
		for _, pre := range parts.initPrefixes {
			want := 0
			if has && lang == Java {
				if inst := instFor(t, f, r, Java); inst != nil {
					want = len(inst.Spec.Java.Extensions)
				}
			}
			match := func(s string) bool { return strings.HasPrefix(s, pre) }
			if got := countNames(out.Spec.InitContainers, match) - countNames(in.Spec.InitContainers, match); got != want {
				t.Errorf("%s: %d init containers %s* added, want %d", lang, got, pre, want)
			}
		}
		for _, n := range parts.sidecars {
			want := 0
			if has {
				want = 1
			}
			match := func(s string) bool { return s == n }
			if got := countNames(out.Spec.Containers, match) - countNames(in.Spec.Containers, match); got != want {
				t.Errorf("%s: %d containers %s added, want %d", lang, got, n, want)
			}
		}
		for _, n := range parts.volumes {
			want := 0
			if has {
				want = 1
			}
			if got := countVolumes(out.Spec.Volumes, n) - countVolumes(in.Spec.Volumes, n); got != want {
				t.Errorf("%s: %d volumes %s added, want %d", lang, got, n, want)
			}
		}
	}

	// imagePullPolicy and the init containers' securityContext (§1.1): the
	// Instrumentation's, else (securityContext) the first target's. The
	// clone of the app container keeps the app's pull policy (its image is
	// the app's). Java extension init containers get them too (deliberate).
	for lang, parts := range wParts {
		if len(injected[lang]) == 0 || lang == Go || lang == SDK {
			continue
		}
		inst := instFor(t, f, r, lang)
		first := firstTarget(in, r, lang)
		if inst == nil || first == nil {
			continue
		}
		wantSC := inst.Spec.InitContainerSecurityContext
		if wantSC == nil {
			wantSC = first.SecurityContext
		}
		for _, c := range out.Spec.InitContainers {
			if !parts.isInit(c.Name) || findContainer(in, c.Name) != nil {
				continue
			}
			if c.Name == wCloneName && len(injected[ApacheHttpd]) > 0 && len(injected[Nginx]) > 0 {
				continue // shared by both; which one built it is not specified
			}
			wantPull := inst.Spec.ImagePullPolicy
			if c.Name == wCloneName {
				wantPull = first.ImagePullPolicy
			}
			if c.ImagePullPolicy != wantPull {
				t.Errorf("%s: init container %s has imagePullPolicy %q, want %q", lang, c.Name, c.ImagePullPolicy, wantPull)
			}
			if !equality.Semantic.DeepEqual(c.SecurityContext, wantSC) {
				t.Errorf("%s: init container %s securityContext:\n%s", lang, c.Name, lineDiff(yamlOf(t, wantSC), yamlOf(t, c.SecurityContext)))
			}
		}
	}

	// Copying init containers run before every init container they serve.
	for lang, parts := range wParts {
		for _, target := range injected[lang] {
			ti := slices.IndexFunc(out.Spec.InitContainers, func(c corev1.Container) bool { return c.Name == target })
			if ti < 0 {
				continue
			}
			for i, c := range out.Spec.InitContainers {
				if parts.isInit(c.Name) && findContainer(in, c.Name) == nil && i > ti {
					t.Errorf("%s: init container %s runs after its target init container %s", lang, c.Name, target)
				}
			}
		}
	}

	// Go (§4): the sidecar with the Instrumentation's pull policy, its
	// security context (default privileged, root), the kernel debug folder,
	// a shared process namespace.
	if len(injected[Go]) > 0 {
		if inst := instFor(t, f, r, Go); inst != nil {
			if sc := findContainer(out, wGoSidecar); sc != nil {
				if sc.ImagePullPolicy != inst.Spec.ImagePullPolicy {
					t.Errorf("Go sidecar imagePullPolicy %q, want %q", sc.ImagePullPolicy, inst.Spec.ImagePullPolicy)
				}
				wantSC := inst.Spec.Go.SecurityContext
				if wantSC == nil {
					wantSC = &corev1.SecurityContext{RunAsUser: ptr.To[int64](0), Privileged: ptr.To(true)}
				}
				if !equality.Semantic.DeepEqual(sc.SecurityContext, wantSC) {
					t.Errorf("Go sidecar securityContext:\n%s", lineDiff(yamlOf(t, wantSC), yamlOf(t, sc.SecurityContext)))
				}
				mountedOnce(Go, sc, wKernelDebug, "/sys/kernel/debug")
			}
		}
		if out.Spec.ShareProcessNamespace == nil || !*out.Spec.ShareProcessNamespace {
			t.Errorf("Go injected but shareProcessNamespace is not true")
		}
		if i := slices.IndexFunc(out.Spec.Volumes, func(v corev1.Volume) bool { return v.Name == wKernelDebug }); i >= 0 {
			want := corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/sys/kernel/debug"}}
			if !equality.Semantic.DeepEqual(out.Spec.Volumes[i].VolumeSource, want) {
				t.Errorf("kernel-debug volume: %+v", out.Spec.Volumes[i].VolumeSource)
			}
		}
	} else if !equality.Semantic.DeepEqual(out.Spec.ShareProcessNamespace, in.Spec.ShareProcessNamespace) {
		t.Errorf("shareProcessNamespace changed without Go")
	}

	vols := map[string]bool{}
	for _, v := range out.Spec.Volumes {
		if vols[v.Name] {
			t.Errorf("volume %s appears twice", v.Name)
		}
		if len(v.Name) > 63 {
			t.Errorf("volume name %s is longer than 63 characters", v.Name)
		}
		vols[v.Name] = true
	}
	for _, c := range append(slices.Clone(out.Spec.InitContainers), out.Spec.Containers...) {
		for _, m := range c.VolumeMounts {
			if !vols[m.Name] {
				t.Errorf("%s mounts unknown volume %s", c.Name, m.Name)
			}
		}
	}
	if got, want := len(out.Spec.InitContainers)+len(out.Spec.Containers), len(in.Spec.InitContainers)+len(in.Spec.Containers); got < want {
		t.Errorf("containers were removed")
	}

	// §2.3: the mutated pod is recognised as instrumented.
	again, r2 := mutateOrFail(t, cfg, f.ns, out.DeepCopy(), f.lookup)
	if r2.Outcome != OutcomeSkipped || !strings.Contains(r2.Reason, "already instrumented") {
		t.Errorf("second admission: outcome %s (%s), want skipped as already instrumented", r2.Outcome, r2.Reason)
	}
	if !equality.Semantic.DeepEqual(again, out) {
		t.Errorf("second admission changed the pod")
	}
}
