package chart

import (
	"bufio"
	"debug/elf"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

// The container build files cannot be built here (no container engine), so
// what they would produce is checked piece by piece: the go build each one
// runs is run here on the same package with the same flags, the result must
// be a static binary, the path the final image runs must be that binary and
// the one the chart starts, and the build context must hold every source
// file the build reads.

type instruction struct {
	cmd  string // upper case: FROM, RUN, COPY, ...
	args string
}

type stage struct {
	from, name string
	instrs     []instruction
}

type dockerfile struct {
	args   map[string]string // ARGs before the first FROM
	stages []stage
}

func parseDockerfile(t *testing.T, file string) dockerfile {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	d := dockerfile{args: map[string]string{}}
	var logical string
	sc := bufio.NewScanner(f)
	flush := func() {
		line := strings.TrimSpace(logical)
		logical = ""
		if line == "" {
			return
		}
		cmd, rest, _ := strings.Cut(line, " ")
		cmd, rest = strings.ToUpper(cmd), strings.TrimSpace(rest)
		switch {
		case cmd == "FROM":
			fields := strings.Fields(rest)
			s := stage{from: expandVars(fields[0], d.args)}
			if len(fields) == 3 && strings.EqualFold(fields[1], "AS") {
				s.name = fields[2]
			}
			d.stages = append(d.stages, s)
		case len(d.stages) == 0 && cmd == "ARG":
			k, v, _ := strings.Cut(rest, "=")
			d.args[k] = v
		case len(d.stages) > 0:
			s := &d.stages[len(d.stages)-1]
			s.instrs = append(s.instrs, instruction{cmd, rest})
		default:
			t.Fatalf("%s: %s before FROM", file, cmd)
		}
	}
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		if strings.HasSuffix(line, "\\") {
			logical += strings.TrimSuffix(line, "\\") + " "
			continue
		}
		logical += line
		flush()
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	flush()
	return d
}

var varRef = regexp.MustCompile(`\$\{(\w+)\}|\$(\w+)`)

func expandVars(s string, vars map[string]string) string {
	return varRef.ReplaceAllStringFunc(s, func(m string) string {
		name := strings.Trim(m, "${}")
		return vars[name]
	})
}

// words splits a shell command line (double and single quotes, no escapes).
func words(s string) []string {
	var out []string
	var cur strings.Builder
	var quote rune
	in := false
	for _, r := range s {
		switch {
		case quote != 0 && r == quote:
			quote = 0
		case quote != 0:
			cur.WriteRune(r)
		case r == '"' || r == '\'':
			quote, in = r, true
		case r == ' ' || r == '\t':
			if in {
				out = append(out, cur.String())
				cur.Reset()
				in = false
			}
		default:
			cur.WriteRune(r)
			in = true
		}
	}
	if in {
		out = append(out, cur.String())
	}
	return out
}

// goBuild is the go build a Dockerfile's build stage runs.
type goBuild struct {
	env     []string // VAR=value before `go`
	flags   []string // everything between `build` and the package, minus -o
	output  string
	pkg     string
	workdir string // in the image
}

// image describes one Dockerfile: its build, what the final image copies
// and runs, and where the build's module is in the repository.
type image struct {
	file       string
	goImage    string
	build      goBuild
	moduleDir  string            // relative to the repository (the build context)
	copied     map[string]string // final image path -> build stage path
	entrypoint []string
	cmd        []string
	user       string
	finalFrom  string
}

func readImage(t *testing.T, name string) image {
	t.Helper()
	file := path(t, "build", name)
	d := parseDockerfile(t, file)
	if len(d.stages) != 2 {
		t.Fatalf("%s: want a build stage and a final stage, got %d stages", name, len(d.stages))
	}
	build, final := d.stages[0], d.stages[1]
	img := image{file: file, goImage: build.from, copied: map[string]string{}, finalFrom: final.from}

	vars := map[string]string{}
	for k, v := range d.args {
		vars[k] = v
	}
	workdir := "/"
	contextAt := map[string]string{} // image folder -> context folder
	for _, in := range build.instrs {
		switch in.cmd {
		case "ARG":
			k, v, _ := strings.Cut(in.args, "=")
			vars[k] = v
		case "WORKDIR":
			workdir = filepath.Join(workdir, in.args)
		case "COPY":
			f := strings.Fields(in.args)
			dest := f[len(f)-1]
			if !filepath.IsAbs(dest) {
				dest = filepath.Join(workdir, dest)
			}
			for _, src := range f[:len(f)-1] {
				if src == "." || strings.HasSuffix(src, "/") {
					contextAt[dest] = filepath.Clean(src)
				}
			}
		case "RUN":
			w := words(expandVars(in.args, vars))
			i := slices.Index(w, "go")
			if i < 0 || i+1 >= len(w) || w[i+1] != "build" {
				continue
			}
			b := goBuild{env: w[:i], workdir: workdir}
			rest := w[i+2:]
			for j := 0; j < len(rest); j++ {
				switch {
				case rest[j] == "-o":
					b.output = rest[j+1]
					j++
				case j == len(rest)-1:
					b.pkg = rest[j]
				default:
					b.flags = append(b.flags, rest[j])
				}
			}
			img.build = b
		}
	}
	if img.build.pkg == "" {
		t.Fatalf("%s: no `go build ... -o OUT PACKAGE` in the build stage", name)
	}
	ctx, ok := contextAt[img.build.workdir]
	if !ok {
		t.Fatalf("%s: the build runs in %s, where no source folder of the context is copied (%v)", name, img.build.workdir, contextAt)
	}
	img.moduleDir = ctx

	for _, in := range final.instrs {
		switch in.cmd {
		case "COPY":
			f := strings.Fields(in.args)
			if len(f) != 3 || f[0] != "--from="+build.name {
				t.Fatalf("%s: final stage COPY %q: want COPY --from=%s SRC DEST", name, in.args, build.name)
			}
			img.copied[f[2]] = f[1]
		case "ENTRYPOINT":
			if err := json.Unmarshal([]byte(in.args), &img.entrypoint); err != nil {
				t.Fatalf("%s: ENTRYPOINT %s: want the exec form: %v", name, in.args, err)
			}
		case "CMD":
			if err := json.Unmarshal([]byte(in.args), &img.cmd); err != nil {
				t.Fatalf("%s: CMD %s: want the exec form: %v", name, in.args, err)
			}
		case "USER":
			img.user = in.args
		}
	}
	return img
}

// scratchDir holds the binaries the tests build, shared by the tests and
// removed by TestMain.
func scratchDir() (string, error) {
	dir := filepath.Join(tmpRoot, "bin")
	return dir, os.MkdirAll(dir, 0o755)
}

var builds sync.Map // Dockerfile name -> *builtBinary

type builtBinary struct {
	once sync.Once
	path string
	err  error
}

// buildLikeDockerfile runs the Dockerfile's go build here: same module,
// package, environment and flags.
func buildLikeDockerfile(t *testing.T, name string) (string, image) {
	t.Helper()
	img := readImage(t, name)
	v, _ := builds.LoadOrStore(name, &builtBinary{})
	b := v.(*builtBinary)
	b.once.Do(func() {
		dir, err := scratchDir()
		if err != nil {
			b.err = err
			return
		}
		b.path = filepath.Join(dir, filepath.Base(img.build.output))
		args := append(append([]string{"build"}, img.build.flags...), "-o", b.path, img.build.pkg)
		cmd := exec.Command("go", args...)
		cmd.Dir = path(t, img.moduleDir)
		cmd.Env = append(os.Environ(), img.build.env...)
		if out, err := cmd.CombinedOutput(); err != nil {
			b.err = fmt.Errorf("%s: go %s (in %s): %v\n%s", name, strings.Join(args, " "), img.moduleDir, err, out)
		}
	})
	if b.err != nil {
		t.Fatal(b.err)
	}
	return b.path, img
}

func TestDockerfiles(t *testing.T) {
	for _, tc := range []struct {
		file       string
		entrypoint string
		// chart: the rendered container that runs this image, if any.
		chartKind, chartName string
	}{
		{"Dockerfile.operator", "/autotel-operator", "Deployment", "autotel-operator"},
		{"Dockerfile.collector", "/autotel-collector", "DaemonSet", "autotel-collector"},
		{"Dockerfile.cli", "/autotel", "", ""},
	} {
		t.Run(tc.file, func(t *testing.T) {
			bin, img := buildLikeDockerfile(t, tc.file)

			// The final image: nothing but the binary (and CA roots), run
			// as a numeric non-root user, so runAsNonRoot can verify it.
			if img.finalFrom != "scratch" {
				t.Errorf("final stage FROM %s: want scratch (a static binary needs nothing else)", img.finalFrom)
			}
			uid, _, _ := strings.Cut(img.user, ":")
			if n, err := strconv.Atoi(uid); err != nil || n == 0 {
				t.Errorf("USER %q: want a numeric, non-root uid", img.user)
			}
			if !slices.Equal(img.entrypoint, []string{tc.entrypoint}) {
				t.Errorf("ENTRYPOINT %v, want [%s]", img.entrypoint, tc.entrypoint)
			}
			if src := img.copied[tc.entrypoint]; src != img.build.output {
				t.Errorf("the image runs %s, copied from %q, but the build writes %q", tc.entrypoint, src, img.build.output)
			}
			if !slices.Contains(img.build.env, "CGO_ENABLED=0") {
				t.Errorf("build env %v: without CGO_ENABLED=0 the binary may need a C library scratch does not have", img.build.env)
			}

			// The binary itself: static.
			f, err := elf.Open(bin)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			for _, p := range f.Progs {
				if p.Type == elf.PT_INTERP {
					t.Errorf("%s is dynamically linked (has an interpreter)", tc.file)
				}
			}
			if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
				t.Errorf("%s needs shared libraries %v", tc.file, libs)
			}

			// The Go toolchain of the build image is new enough for the module.
			goMod := string(mustRead(t, path(t, img.moduleDir, "go.mod")))
			m := regexp.MustCompile(`(?m)^go ([0-9.]+)$`).FindStringSubmatch(goMod)
			v := regexp.MustCompile(`^golang:([0-9.]+)-`).FindStringSubmatch(img.goImage)
			if m == nil || v == nil || compareVersions(v[1], m[1]) < 0 {
				t.Errorf("build image %q vs the module's go directive %v", img.goImage, m)
			}

			checkBuildContext(t, img)

			if tc.chartKind != "" {
				objs := template(t, "--set", "mode=daemonset")
				var podSpec corev1.PodSpec
				if tc.chartKind == "Deployment" {
					podSpec = get[appsv1.Deployment](t, objs, tc.chartKind, tc.chartName).Spec.Template.Spec
				} else {
					podSpec = get[appsv1.DaemonSet](t, objs, tc.chartKind, tc.chartName).Spec.Template.Spec
				}
				c := podSpec.Containers[0]
				if !slices.Equal(c.Command, img.entrypoint) {
					t.Errorf("the chart runs %v, the image's entrypoint is %v", c.Command, img.entrypoint)
				}
				// An image's default arguments, if any, are the chart's.
				if len(img.cmd) > 0 && (len(c.Args) < len(img.cmd) || !slices.Equal(c.Args[:len(img.cmd)], img.cmd)) {
					t.Errorf("image CMD %v, the chart's args %v", img.cmd, c.Args)
				}
			}
		})
	}
}

// The operator and the CLI are what `make build` builds.
func TestMakeBuildsTheImagedPackages(t *testing.T) {
	mk := string(mustRead(t, path(t, "Makefile")))
	m := regexp.MustCompile(`(?m)^build:\n\t\$\(GO\) build -o bin/ (.+)$`).FindStringSubmatch(mk)
	if m == nil {
		t.Fatalf("no `build:` target running $(GO) build -o bin/ PACKAGES in the Makefile")
	}
	out, err := run(t, root(t), "go", append([]string{"list"}, strings.Fields(m[1])...)...)
	if err != nil {
		t.Fatal(err)
	}
	built := strings.Fields(out)
	for _, file := range []string{"Dockerfile.operator", "Dockerfile.cli"} {
		img := readImage(t, file)
		if img.moduleDir != "." {
			t.Errorf("%s builds in %s, not the root module make builds", file, img.moduleDir)
			continue
		}
		pkg := "github.com/autotel/autotel/" + strings.TrimPrefix(img.build.pkg, "./")
		if !slices.Contains(built, pkg) {
			t.Errorf("%s builds %s, which `make build` (%s) does not: %v", file, pkg, m[1], built)
		}
	}
}

func compareVersions(a, b string) int {
	pa, pb := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < len(pa) || i < len(pb); i++ {
		var x, y int
		if i < len(pa) {
			x, _ = strconv.Atoi(pa[i])
		}
		if i < len(pb) {
			y, _ = strconv.Atoi(pb[i])
		}
		if x != y {
			return x - y
		}
	}
	return 0
}

// checkBuildContext: every file the go build reads in the repository
// (go.mod, go.sum, the sources of each package it compiles) survives the
// Dockerfile's .dockerignore.
func checkBuildContext(t *testing.T, img image) {
	t.Helper()
	ignore := readDockerignore(t, img.file+".dockerignore")
	modDir := path(t, img.moduleDir)
	out, err := run(t, modDir, "go", "list", "-deps", "-json=Dir,GoFiles,EmbedFiles,Module", img.build.pkg)
	if err != nil {
		t.Fatal(err)
	}
	files := []string{filepath.Join(img.moduleDir, "go.mod"), filepath.Join(img.moduleDir, "go.sum")}
	dec := json.NewDecoder(strings.NewReader(out))
	for dec.More() {
		var p struct {
			Dir                 string
			GoFiles, EmbedFiles []string
			Module              *struct{ Main bool }
		}
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		if p.Module == nil || !p.Module.Main {
			continue // standard library or a downloaded module
		}
		rel, err := filepath.Rel(root(t), p.Dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range append(p.GoFiles, p.EmbedFiles...) {
			files = append(files, filepath.Join(rel, f))
		}
	}
	if len(files) < 4 {
		t.Fatalf("found only %v as the build's files", files)
	}
	for _, f := range files {
		if ignore.excludes(f) {
			t.Errorf("%s.dockerignore excludes %s, which the build reads", filepath.Base(img.file), f)
		}
	}
	// And the rule set is not vacuous: the repository's history stays out.
	if !ignore.excludes(".git/HEAD") {
		t.Errorf("%s.dockerignore sends .git to the builder", filepath.Base(img.file))
	}
}

type ignoreRule struct {
	pattern string
	negate  bool
}

type dockerignore []ignoreRule

func readDockerignore(t *testing.T, file string) dockerignore {
	t.Helper()
	var rules dockerignore
	for _, line := range strings.Split(string(mustRead(t, file)), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		r := ignoreRule{}
		if strings.HasPrefix(line, "!") {
			r.negate, line = true, line[1:]
		}
		r.pattern = strings.TrimSuffix(filepath.Clean(line), "/")
		rules = append(rules, r)
	}
	return rules
}

// excludes follows .dockerignore matching: the last rule that matches the
// path or one of its parent folders decides; **/ matches any depth.
func (d dockerignore) excludes(p string) bool {
	excluded := false
	for _, r := range d {
		if r.matches(p) {
			excluded = !r.negate
		}
	}
	return excluded
}

func (r ignoreRule) matches(p string) bool {
	parts := strings.Split(p, "/")
	for i := 1; i <= len(parts); i++ {
		prefix := strings.Join(parts[:i], "/")
		if ok, _ := filepath.Match(r.pattern, prefix); ok {
			return true
		}
		if rest, ok := strings.CutPrefix(r.pattern, "**/"); ok {
			if m, _ := filepath.Match(rest, parts[i-1]); m {
				return true
			}
		}
	}
	return false
}

// Every flag the chart or the kustomize manifests pass is one the operator
// binary defines (an unknown flag would crash-loop the pods).
func TestOperatorBinaryKnowsTheChartsFlags(t *testing.T) {
	bin, _ := buildLikeDockerfile(t, "Dockerfile.operator")
	out, _ := exec.Command(bin, "-help").CombinedOutput() // exits non-zero after printing
	known := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^\s+-([a-z0-9-]+)`).FindAllStringSubmatch(string(out), -1) {
		known[m[1]] = true
	}
	if !known["webhook-cert-mode"] || !known["zap-log-level"] {
		t.Fatalf("could not read the operator's flags from -help:\n%s", out)
	}
	for _, s := range scenarios(t) {
		objs := template(t, s.args()...)
		c := get[appsv1.Deployment](t, objs, "Deployment", "autotel-operator").Spec.Template.Spec.Containers[0]
		for name := range flagValues(c.Args) {
			if !known[name] {
				t.Errorf("%s: the chart passes --%s, which the operator does not define", s.name, name)
			}
		}
	}
}

// Every collector configuration the chart renders starts the autotel
// collector: its own `validate` resolves the components and checks them.
func TestCollectorBinaryAcceptsTheRenderedConfigs(t *testing.T) {
	bin, _ := buildLikeDockerfile(t, "Dockerfile.collector")
	validate := func(t *testing.T, cfg map[string]any, env []corev1.EnvVar) error {
		t.Helper()
		f := filepath.Join(t.TempDir(), "relay.yaml")
		b, err := yaml.Marshal(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(f, b, 0o600); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(bin, "validate", "--config="+f)
		cmd.Env = os.Environ()
		// What the pod's environment would hold.
		for _, e := range env {
			v := e.Value
			if e.ValueFrom != nil && e.ValueFrom.FieldRef != nil {
				v = map[string]string{"status.podIP": "127.0.0.1", "spec.nodeName": "node-1"}[e.ValueFrom.FieldRef.FieldPath]
			}
			cmd.Env = append(cmd.Env, e.Name+"="+v)
		}
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("%v\n%s", err, out)
		}
		return nil
	}

	var checked int
	for _, s := range append(scenarios(t), scenario{name: "collector-enabled-defaults"}) {
		args := s.args()
		if s.name == "collector-enabled-defaults" {
			args = []string{"--set", "collector.enabled=true"}
		}
		objs := template(t, args...)
		if objs.find("ConfigMap", "autotel-collector") == nil {
			continue
		}
		t.Run(s.name, func(t *testing.T) {
			cfg := collectorConfig(t, objs)
			var env []corev1.EnvVar
			if ds := objs.find("DaemonSet", "autotel-collector"); ds != nil {
				env = get[appsv1.DaemonSet](t, objs, "DaemonSet", "autotel-collector").Spec.Template.Spec.Containers[0].Env
			} else {
				env = get[appsv1.Deployment](t, objs, "Deployment", "autotel-collector").Spec.Template.Spec.Containers[0].Env
			}
			// The checkpoint folder is a hostPath in the pod; here, a temporary one.
			// So is the persistent queue's folder.
			for _, name := range []string{"file_storage", "file_storage/autotel-queue"} {
				if fs, ok := dig(cfg, "extensions", name).(map[string]any); ok {
					fs["directory"] = t.TempDir()
				}
			}
			if err := validate(t, cfg, env); err != nil {
				t.Errorf("the collector refuses the %s configuration: %v", s.name, err)
			}
		})
		checked++
	}
	if checked < 4 {
		t.Errorf("only %d scenarios render a collector", checked)
	}
	// The check has teeth: a receiver the distribution lacks is refused.
	t.Run("a missing component is refused", func(t *testing.T) {
		cfg := collectorConfig(t, template(t, "--set", "mode=daemonset", "--set", "config.receivers.jaeger.protocols.grpc.endpoint=0.0.0.0:14250", "--set", "config.service.pipelines.traces.receivers={otlp,jaeger}"))
		err := validate(t, cfg, []corev1.EnvVar{{Name: "MY_POD_IP", Value: "127.0.0.1"}})
		if err == nil || !strings.Contains(err.Error(), "jaeger") {
			t.Errorf("a jaeger receiver was accepted: %v", err)
		}
	})
}
