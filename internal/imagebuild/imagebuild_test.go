package imagebuild

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// tree makes a directory with a file, an executable, a symlink, a hard link
// and a nested folder.
func tree(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	must(t, os.MkdirAll(filepath.Join(dir, "usr", "bin"), 0o755))
	must(t, os.WriteFile(filepath.Join(dir, "usr", "bin", "tool"), []byte("#!/bin/sh\necho hi\n"), 0o755))
	must(t, os.WriteFile(filepath.Join(dir, "readme.txt"), []byte("hello"), 0o644))
	must(t, os.Symlink("usr/bin", filepath.Join(dir, "bin")))
	must(t, os.Link(filepath.Join(dir, "usr", "bin", "tool"), filepath.Join(dir, "usr", "bin", "tool-alias")))
	old := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
	must(t, os.Chtimes(filepath.Join(dir, "readme.txt"), old, old))
	return dir
}

// dirContent is a Content of a folder of the test, fingerprinted by its
// metadata like a repository tree.
func dirContent(id, p string) Content {
	return Content{ID: id, Desc: id, Produce: func(*Builder) (Produced, error) { return Produced{Path: p}, nil }}
}

// testTable is a base with a root filesystem and an app on it, the shape
// of the samples' rows.
func testTable(root, app string) []Spec {
	return []Spec{
		{Name: "base", Tag: "autotel.local/test/base:dev", Layers: []Layer{{Desc: "root", Files: []File{{Dest: "/", From: dirContent("root", root)}}}},
			Config: Config{Env: []string{"PATH=/bin", "A=base"}, Cmd: []string{"/bin/sh"}}},
		{Name: "app", Tag: "autotel.local/test/app:dev", Base: "base",
			Layers: []Layer{{Desc: "app", Files: []File{
				{Dest: "/app/main.py", From: dirContent("app", app)},
				{Dest: "/etc/missing", From: HostFile("/nonexistent/ca.crt"), Optional: true},
			}}},
			Config: Config{Env: []string{"A=app", "B=1"}, Entrypoint: []string{"/bin/run"}, WorkingDir: "/app", User: "65532:65532"}},
	}
}

func newBuilder(t *testing.T, cache string, specs []Spec) *Builder {
	return &Builder{Repo: t.TempDir(), Cache: cache, Specs: specs, Arch: "amd64"}
}

// layerFiles reads one layer's entries.
func layerFiles(t *testing.T, l v1.Layer) map[string]*tar.Header {
	t.Helper()
	rc, err := l.Uncompressed()
	must(t, err)
	defer rc.Close()
	return tarHeaders(t, rc)
}

func tarHeaders(t *testing.T, r io.Reader) map[string]*tar.Header {
	t.Helper()
	out := map[string]*tar.Header{}
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		must(t, err)
		out[h.Name] = h
	}
}

func TestBuildWritesAReadableDockerArchive(t *testing.T) {
	root := tree(t)
	app := filepath.Join(t.TempDir(), "main.py")
	must(t, os.WriteFile(app, []byte("print('hi')\n"), 0o644))
	b := newBuilder(t, t.TempDir(), testTable(root, app))
	out := t.TempDir()
	p, err := b.Build("app", "", out)
	must(t, err)
	if p != filepath.Join(out, "app.tar") {
		t.Errorf("Build wrote %s, want %s", p, filepath.Join(out, "app.tar"))
	}

	tag, err := name.NewTag("autotel.local/test/app:dev")
	must(t, err)
	img, err := tarball.ImageFromPath(p, &tag) // fails unless RepoTags holds the tag
	must(t, err)
	layers, err := img.Layers()
	must(t, err)
	if len(layers) != 2 {
		t.Fatalf("%d layers, want base + app = 2", len(layers))
	}
	cf, err := img.ConfigFile()
	must(t, err)
	if got, want := cf.Config.Env, []string{"PATH=/bin", "A=app", "B=1"}; !slices.Equal(got, want) {
		t.Errorf("Env %q, want %q (the app's A replaces the base's)", got, want)
	}
	if !slices.Equal(cf.Config.Entrypoint, []string{"/bin/run"}) || cf.Config.Cmd != nil {
		t.Errorf("Entrypoint %q Cmd %q, want [/bin/run] and no Cmd (a new entrypoint drops the base's command)", cf.Config.Entrypoint, cf.Config.Cmd)
	}
	if cf.Config.User != "65532:65532" || cf.Config.WorkingDir != "/app" || cf.Architecture != "amd64" || cf.OS != "linux" {
		t.Errorf("config %+v", cf.Config)
	}
	if !cf.Created.Time.Equal(time.Unix(0, 0)) {
		t.Errorf("created %v, want the epoch: no build time in the image", cf.Created)
	}
	if len(cf.History) != 2 || !strings.Contains(cf.History[1].CreatedBy, "app") {
		t.Errorf("history %+v, want one entry per layer naming it", cf.History)
	}
	for i, l := range layers {
		diffID, err := l.DiffID()
		must(t, err)
		if cf.RootFS.DiffIDs[i] != diffID {
			t.Errorf("layer %d: diff_id %s in the config, %s in the archive", i, cf.RootFS.DiffIDs[i], diffID)
		}
	}

	base := layerFiles(t, layers[0])
	for _, n := range []string{"readme.txt", "usr/", "usr/bin/", "usr/bin/tool", "usr/bin/tool-alias", "bin"} {
		if base[n] == nil {
			t.Errorf("base layer has no %s (has %v)", n, keys(base))
		}
	}
	if h := base["bin"]; h != nil && (h.Typeflag != tar.TypeSymlink || h.Linkname != "usr/bin") {
		t.Errorf("bin: want a symlink to usr/bin, got %+v", h)
	}
	if h := base["usr/bin/tool"]; h != nil && (h.Mode != 0o755 || h.Uid != 0) {
		t.Errorf("tool: mode %o uid %d, want 0755 and root", h.Mode, h.Uid)
	}
	if h := base["usr/bin/tool-alias"]; h != nil && (h.Typeflag != tar.TypeLink || h.Linkname != "usr/bin/tool") {
		t.Errorf("tool-alias: want a hard link to usr/bin/tool, got %+v", h)
	}
	if h := base["readme.txt"]; h != nil && !h.ModTime.Equal(time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)) {
		t.Errorf("readme.txt time %v: modification times must be kept (Python compares them with .pyc files)", h.ModTime)
	}
	checkArchiveByHand(t, p, "autotel.local/test/app:dev", 2)
	top := layerFiles(t, layers[1])
	if top["app/main.py"] == nil || top["app/"] == nil || top["etc/missing"] != nil {
		t.Errorf("app layer %v: want app/ and app/main.py, no etc/missing (optional and unavailable)", keys(top))
	}
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func fileSum(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	must(t, err)
	return fmt.Sprintf("%x", sha256.Sum256(b))
}

func TestFingerprintIsStableAndFollowsContent(t *testing.T) {
	root := tree(t)
	app := filepath.Join(t.TempDir(), "main.py")
	must(t, os.WriteFile(app, []byte("print('hi')\n"), 0o644))
	table := testTable(root, app)

	// Two builders, two caches: nothing is shared but the inputs.
	_, fp1, err := newBuilder(t, t.TempDir(), table).Image("app")
	must(t, err)
	b2 := newBuilder(t, t.TempDir(), table)
	_, fp2, err := b2.Image("app")
	must(t, err)
	if fp1 != fp2 {
		t.Fatalf("fingerprints differ across runs: %s, %s", fp1, fp2)
	}
	p1, err := newBuilder(t, t.TempDir(), table).Build("app", "", t.TempDir())
	must(t, err)
	p2, err := b2.Build("app", "", t.TempDir())
	must(t, err)
	if fileSum(t, p1) != fileSum(t, p2) {
		t.Errorf("the same inputs gave different tarballs")
	}

	// A cached tarball is reused, not written again.
	cached := filepath.Join(b2.dir(), "app.tar")
	before, err := os.Stat(cached)
	must(t, err)
	b3 := newBuilder(t, b2.Cache, table)
	_, err = b3.Build("app", "", "")
	must(t, err)
	after, err := os.Stat(cached)
	must(t, err)
	if !os.SameFile(before, after) {
		t.Errorf("an unchanged image was written again")
	}

	// Another tag: the same image content, another tarball.
	p3, err := newBuilder(t, t.TempDir(), table).Build("app", "example.com/other:1", t.TempDir())
	must(t, err)
	other, err := name.NewTag("example.com/other:1")
	must(t, err)
	if _, err := tarball.ImageFromPath(p3, &other); err != nil {
		t.Errorf("retagged tarball: %v", err)
	}

	must(t, os.WriteFile(app, []byte("print('changed')\n"), 0o644))
	_, fp4, err := newBuilder(t, t.TempDir(), table).Image("app")
	must(t, err)
	if fp4 == fp1 {
		t.Errorf("the fingerprint did not change with the app's file")
	}
	_, baseFP1, err := newBuilder(t, t.TempDir(), table).Image("base")
	must(t, err)
	must(t, os.Chmod(filepath.Join(root, "readme.txt"), 0o600))
	_, baseFP2, err := newBuilder(t, t.TempDir(), table).Image("base")
	must(t, err)
	if baseFP1 == baseFP2 {
		t.Errorf("the base's fingerprint did not change with a file mode")
	}
}

func TestContentIsProducedOncePerRun(t *testing.T) {
	calls := 0
	c := Content{ID: "counted", Desc: "counted", Produce: func(*Builder) (Produced, error) {
		calls++
		p := filepath.Join(t.TempDir(), "f")
		return Produced{Path: p, Key: "k"}, os.WriteFile(p, []byte("x"), 0o644)
	}}
	table := []Spec{
		{Name: "a", Tag: "autotel.local/aa:dev", Layers: []Layer{{Desc: "a", Files: []File{{Dest: "/f", From: c}}}}},
		{Name: "b", Tag: "autotel.local/bb:dev", Layers: []Layer{{Desc: "b", Files: []File{{Dest: "/g", From: c}}}}},
	}
	b := newBuilder(t, t.TempDir(), table)
	for _, n := range []string{"a", "b"} {
		_, err := b.Build(n, "", "")
		must(t, err)
	}
	if calls != 1 {
		t.Errorf("content produced %d times for two images, want once", calls)
	}
}

func TestWriteLayout(t *testing.T) {
	root := tree(t)
	app := filepath.Join(t.TempDir(), "main.py")
	must(t, os.WriteFile(app, []byte("print('hi')\n"), 0o644))
	b := newBuilder(t, t.TempDir(), testTable(root, app))
	dir := filepath.Join(t.TempDir(), "oci")
	must(t, b.WriteLayout(dir, "app", "base"))
	must(t, b.WriteLayout(dir, "app")) // again: replaced, not added twice

	idx, err := layout.ImageIndexFromPath(dir)
	must(t, err)
	m, err := idx.IndexManifest()
	must(t, err)
	if len(m.Manifests) != 2 {
		t.Fatalf("layout holds %d images, want 2", len(m.Manifests))
	}
	for _, n := range []string{"app", "base"} {
		want, _, err := b.Image(n)
		must(t, err)
		wantDigest, err := want.Digest()
		must(t, err)
		s, _ := b.lookup(n)
		found := false
		for _, d := range m.Manifests {
			if d.Annotations[refAnnotation] == s.Tag {
				found = true
				if d.Digest != wantDigest {
					t.Errorf("%s: layout digest %s, built %s", n, d.Digest, wantDigest)
				}
				if d.MediaType != types.OCIManifestSchema1 {
					t.Errorf("%s: media type %s in the layout, want an OCI manifest (what OCI layout readers look for)", n, d.MediaType)
				}
				img, err := idx.Image(d.Digest)
				must(t, err)
				layers, err := img.Layers()
				must(t, err)
				if len(layers) == 0 {
					t.Errorf("%s: no layers in the layout", n)
				}
			}
		}
		if !found {
			t.Errorf("no image annotated %s in the layout", s.Tag)
		}
	}
}

// fakeBusybox stands in for Debian's busybox-static so the agent's row can
// be built without apt: a bin/busybox and its cp link.
func fakeBusybox(t *testing.T) Content {
	dir := t.TempDir()
	must(t, os.MkdirAll(filepath.Join(dir, "bin"), 0o755))
	must(t, os.WriteFile(filepath.Join(dir, "bin", "busybox"), []byte("#!/bin/sh\n"), 0o755))
	must(t, os.Symlink("busybox", filepath.Join(dir, "bin", "cp")))
	return dirContent("fake-busybox", dir)
}

func repoRoot(t *testing.T) string {
	t.Helper()
	r, err := filepath.Abs("../..")
	must(t, err)
	return r
}

// The agent row, built from the repository's agent/python/src: the same
// files under both folders (the operator copies one or the other by the
// pod's platform annotation), readable by anyone, no compiled caches.
func TestAgentImageHasBothTrees(t *testing.T) {
	t.Setenv("AUTOTEL_PYTHON_AGENT_TREE", "")
	agent, err := Lookup("python-agent")
	must(t, err)
	bb, err := Lookup("busybox")
	must(t, err)
	bb.Layers = []Layer{{Desc: "fake busybox", Files: []File{{Dest: "/", From: fakeBusybox(t)}}}}
	b := &Builder{Repo: repoRoot(t), Cache: t.TempDir(), Specs: []Spec{bb, agent}}
	p, err := b.Build("python-agent", "", t.TempDir())
	must(t, err)
	tag, err := name.NewTag(agent.Tag)
	must(t, err)
	img, err := tarball.ImageFromPath(p, &tag)
	must(t, err)
	rc := mutate.Extract(img)
	files := tarHeaders(t, rc)
	rc.Close()

	trees := map[string][]string{}
	for n, h := range files {
		for _, top := range []string{"autoinstrumentation/", "autoinstrumentation-musl/"} {
			if rest, ok := strings.CutPrefix(n, top); ok && h.Typeflag == tar.TypeReg {
				trees[top] = append(trees[top], rest)
				if h.Mode&0o444 != 0o444 {
					t.Errorf("%s: mode %o, want readable by any user", n, h.Mode)
				}
				if strings.Contains(n, "__pycache__") || strings.HasSuffix(n, ".pyc") {
					t.Errorf("%s: compiled caches do not belong in the image", n)
				}
			}
		}
	}
	glibc, musl := trees["autoinstrumentation/"], trees["autoinstrumentation-musl/"]
	sort.Strings(glibc)
	sort.Strings(musl)
	if len(glibc) == 0 || !slices.Equal(glibc, musl) {
		t.Fatalf("want the same files in both trees, got %d and %d:\n%v\n%v", len(glibc), len(musl), glibc, musl)
	}
	for _, want := range []string{"opentelemetry/instrumentation/auto_instrumentation/sitecustomize.py", "autotel_agent/__init__.py"} {
		if !slices.Contains(glibc, want) {
			t.Errorf("agent tree lacks %s", want)
		}
	}
	if h := files["bin/cp"]; h == nil || h.Typeflag != tar.TypeSymlink {
		t.Errorf("bin/cp from the busybox base missing: the init container copies with it")
	}
	if fileCount := len(glibc); fileCount < 5 {
		t.Errorf("only %d agent files", fileCount)
	}

	// The same rootfs through the CLI's unpacking (what tests run).
	dir := t.TempDir()
	must(t, Unpack(mutate.Extract(img), dir))
	for _, top := range []string{"autoinstrumentation", "autoinstrumentation-musl"} {
		if _, err := os.Stat(filepath.Join(dir, top, "opentelemetry/instrumentation/auto_instrumentation/sitecustomize.py")); err != nil {
			t.Errorf("unpacked image: %v", err)
		}
	}
	if l, err := os.Readlink(filepath.Join(dir, "bin", "cp")); err != nil || l != "busybox" {
		t.Errorf("unpacked bin/cp: %q %v, want a link to busybox", l, err)
	}
}

func TestLayerWriterIsDeterministicAndLaterSourceWins(t *testing.T) {
	src := tree(t)
	other := filepath.Join(t.TempDir(), "readme.txt")
	must(t, os.WriteFile(other, []byte("second"), 0o600))
	var a, b strings.Builder
	must(t, WriteLayer(&a, []Source{{Path: src, Dest: "/"}, {Path: other, Dest: "/readme.txt"}}))
	must(t, WriteLayer(&b, []Source{{Path: src, Dest: "/"}, {Path: other, Dest: "/readme.txt"}}))
	if a.String() != b.String() {
		t.Fatal("two writes of the same layer differ")
	}
	tr := tar.NewReader(strings.NewReader(a.String()))
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			t.Fatal("no readme.txt in the layer")
		}
		must(t, err)
		if h.Name == "readme.txt" {
			body, _ := io.ReadAll(tr)
			if string(body) != "second" || h.Mode != 0o600 {
				t.Errorf("readme.txt = %q mode %o, want the later source's", body, h.Mode)
			}
			return
		}
	}
}

func TestBuildRejects(t *testing.T) {
	ok := Layer{Desc: "x", Files: []File{{Dest: "/x", From: HostFile("/etc/hostname")}}}
	for _, tc := range []struct {
		name  string
		table []Spec
		want  string
	}{
		{"no tag part", []Spec{{Name: "a", Tag: "autotel.local/a", Layers: []Layer{ok}}}, "no :tag part"},
		{"invalid repository", []Spec{{Name: "a", Tag: "autotel.local/a:1", Layers: []Layer{ok}}}, "repository must be"},
		{"duplicate name", []Spec{{Name: "a", Tag: "autotel.local/aa:1", Layers: []Layer{ok}}, {Name: "a", Tag: "autotel.local/bb:1", Layers: []Layer{ok}}}, "appears twice"},
		{"duplicate tag", []Spec{{Name: "a", Tag: "autotel.local/aa:1", Layers: []Layer{ok}}, {Name: "b", Tag: "autotel.local/aa:1", Layers: []Layer{ok}}}, "share the tag"},
		{"missing base", []Spec{{Name: "a", Tag: "autotel.local/aa:1", Base: "nope", Layers: []Layer{ok}}}, "base \"nope\" is not in the table"},
		{"cycle", []Spec{{Name: "a", Tag: "autotel.local/aa:1", Base: "b"}, {Name: "b", Tag: "autotel.local/bb:1", Base: "a"}}, "cycle"},
		{"relative dest", []Spec{{Name: "a", Tag: "autotel.local/aa:1", Layers: []Layer{{Desc: "rel", Files: []File{{Dest: "x", From: dirContent("d", t.TempDir())}}}}}}, "must be an absolute path"},
		{"required file missing", []Spec{{Name: "a", Tag: "autotel.local/aa:1", Layers: []Layer{{Desc: "ca", Files: []File{{Dest: "/ca", From: HostFile("/nonexistent/ca.crt")}}}}}}, "not available"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := newBuilder(t, t.TempDir(), tc.table).Build("a", "", t.TempDir())
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
	if _, err := newBuilder(t, t.TempDir(), nil).Build("no-such-image", "", ""); err == nil || !strings.Contains(err.Error(), "python-agent") {
		t.Errorf("unknown name: %v, want an error listing the known names", err)
	}
}

func TestTableIsValid(t *testing.T) {
	must(t, validateTable(Images))
	for _, want := range []string{"pause", "busybox", "python", "examples-flask", "examples-gunicorn", "examples-uvicorn", "python-agent", "operator", "collector", "cli"} {
		if _, err := Lookup(want); err != nil {
			t.Errorf("the table has no %s: %v", want, err)
		}
	}
}

// checkArchiveByHand reads a docker archive the way an importer does,
// without go-containerregistry: manifest.json names the tag, the config
// (whose file name is its digest) and the layers, whose gunzipped sha256
// are the config's diff_ids.
func checkArchiveByHand(t *testing.T, archive, tag string, wantLayers int) {
	t.Helper()
	f, err := os.Open(archive)
	must(t, err)
	defer f.Close()
	files := map[string][]byte{}
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		must(t, err)
		b, err := io.ReadAll(tr)
		must(t, err)
		files[h.Name] = b
	}
	var manifest []struct {
		Config   string
		RepoTags []string
		Layers   []string
	}
	must(t, json.Unmarshal(files["manifest.json"], &manifest))
	if len(manifest) != 1 || !slices.Equal(manifest[0].RepoTags, []string{tag}) || len(manifest[0].Layers) != wantLayers {
		t.Fatalf("manifest.json %s: want one image tagged %s with %d layers", files["manifest.json"], tag, wantLayers)
	}
	cfgBytes, ok := files[manifest[0].Config]
	if !ok {
		t.Fatalf("config %s missing from the archive", manifest[0].Config)
	}
	if sum := fmt.Sprintf("%x", sha256.Sum256(cfgBytes)); !strings.Contains(manifest[0].Config, sum) {
		t.Errorf("config file %s is not named by its sha256 %s", manifest[0].Config, sum)
	}
	var cfg struct {
		RootFS struct {
			DiffIDs []string `json:"diff_ids"`
		} `json:"rootfs"`
	}
	must(t, json.Unmarshal(cfgBytes, &cfg))
	for i, name := range manifest[0].Layers {
		blob, ok := files[name]
		if !ok {
			t.Fatalf("layer %s missing from the archive", name)
		}
		zr, err := gzip.NewReader(bytes.NewReader(blob))
		must(t, err)
		h := sha256.New()
		_, err = io.Copy(h, zr)
		must(t, err)
		if got := fmt.Sprintf("sha256:%x", h.Sum(nil)); i >= len(cfg.RootFS.DiffIDs) || cfg.RootFS.DiffIDs[i] != got {
			t.Errorf("layer %d: uncompressed sha256 %s, config diff_ids %v", i, got, cfg.RootFS.DiffIDs)
		}
	}
}

// A producer with a cache key (how pip/Maven/npm rows will look) runs once
// per key, across runs, and its folder is what the layer holds.
func TestCachedDirProducerRunsOncePerKey(t *testing.T) {
	cache := t.TempDir()
	version, fills := "1.0", 0
	c := CachedDir("sdk", "a fake SDK install", func(*Builder) (string, error) { return "sdk==" + version, nil },
		func(_ *Builder, dir string) error {
			fills++
			return os.WriteFile(filepath.Join(dir, "sdk.py"), []byte("VERSION = '"+version+"'\n"), 0o644)
		})
	table := []Spec{{Name: "sdk", Tag: "autotel.local/sdk:dev", Layers: []Layer{{Desc: "sdk", Files: []File{{Dest: "/autoinstrumentation", From: c}}}}}}
	_, fp1, err := newBuilder(t, cache, table).Image("sdk")
	must(t, err)
	_, fp2, err := newBuilder(t, cache, table).Image("sdk")
	must(t, err)
	if fills != 1 || fp1 != fp2 {
		t.Errorf("same key: filled %d times, fingerprints %s %s; want one fill and one fingerprint", fills, fp1, fp2)
	}
	version = "1.1"
	img, fp3, err := newBuilder(t, cache, table).Image("sdk")
	must(t, err)
	if fills != 2 || fp3 == fp1 {
		t.Errorf("new key: filled %d times, fingerprint changed: %v; want a second fill and a new fingerprint", fills, fp3 != fp1)
	}
	layers, err := img.Layers()
	must(t, err)
	files := layerFiles(t, layers[0])
	if h := files["autoinstrumentation/"]; h == nil || h.Mode != 0o755 {
		t.Errorf("autoinstrumentation/: %+v, want a directory readable by all", h)
	}
	if files["autoinstrumentation/sdk.py"] == nil {
		t.Errorf("layer %v lacks autoinstrumentation/sdk.py", keys(files))
	}
}

func TestUnusedLayersArePruned(t *testing.T) {
	old := layerGrace
	layerGrace = 0
	defer func() { layerGrace = old }()
	app := filepath.Join(t.TempDir(), "main.py")
	must(t, os.WriteFile(app, []byte("v1"), 0o644))
	cache := t.TempDir()
	table := testTable(tree(t), app)
	b1 := newBuilder(t, cache, table)
	_, err := b1.Build("app", "", "")
	must(t, err)
	firstBlobs := b1.built["app"].blobs
	must(t, os.WriteFile(app, []byte("v2"), 0o644))
	b2 := newBuilder(t, cache, table)
	_, err = b2.Build("app", "", "")
	must(t, err)
	left, err := os.ReadDir(filepath.Join(b2.dir(), "layers"))
	must(t, err)
	var names []string
	for _, e := range left {
		names = append(names, e.Name())
	}
	// The base layer is shared and stays; the old app layer goes.
	if !slices.Contains(names, firstBlobs[0]) || slices.Contains(names, firstBlobs[1]) || len(names) != 2 {
		t.Errorf("layers left %v; want the shared base %s and the new app layer, not the old %s", names, firstBlobs[0], firstBlobs[1])
	}
}
