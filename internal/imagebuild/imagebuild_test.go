package imagebuild

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

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

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// archive reads a docker archive into its named files.
func archive(t *testing.T, b []byte) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return files
		}
		must(t, err)
		if h.Typeflag == tar.TypeReg {
			c, err := io.ReadAll(tr)
			must(t, err)
			files[h.Name] = c
		}
	}
}

func layerHeaders(t *testing.T, layer []byte) map[string]*tar.Header {
	t.Helper()
	hdrs := map[string]*tar.Header{}
	tr := tar.NewReader(bytes.NewReader(layer))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return hdrs
		}
		must(t, err)
		hdrs[h.Name] = h
	}
}

func build(t *testing.T, img Image) []byte {
	t.Helper()
	var buf bytes.Buffer
	must(t, Write(&buf, img, t.TempDir()))
	return buf.Bytes()
}

func TestWriteDockerArchive(t *testing.T) {
	src := tree(t)
	app := filepath.Join(t.TempDir(), "app.py")
	must(t, os.WriteFile(app, []byte("print('x')\n"), 0o644))
	img := Image{
		Tag:    "autotel.local/test:dev",
		Layers: []Layer{{{Path: src, Dest: "/"}}, {{Path: app, Dest: "/app/app.py"}}},
		Config: Config{Entrypoint: []string{"python3"}, Cmd: []string{"app.py"}, Env: []string{"A=1"}, WorkingDir: "/app"},
		Arch:   "amd64",
	}
	files := archive(t, build(t, img))

	var manifest []ManifestEntry
	must(t, json.Unmarshal(files["manifest.json"], &manifest))
	if len(manifest) != 1 || len(manifest[0].RepoTags) != 1 || manifest[0].RepoTags[0] != img.Tag {
		t.Fatalf("manifest.json = %s, want one image tagged %s", files["manifest.json"], img.Tag)
	}
	m := manifest[0]
	cfgBytes, ok := files[m.Config]
	if !ok {
		t.Fatalf("config %s missing from archive", m.Config)
	}
	sum := sha256.Sum256(cfgBytes)
	if m.Config != hex.EncodeToString(sum[:])+".json" {
		t.Errorf("config is named %s, not after its digest", m.Config)
	}
	var cfg imageConfig
	must(t, json.Unmarshal(cfgBytes, &cfg))
	if cfg.OS != "linux" || cfg.Architecture != "amd64" || cfg.Config.WorkingDir != "/app" ||
		strings.Join(cfg.Config.Entrypoint, " ") != "python3" || strings.Join(cfg.Config.Cmd, " ") != "app.py" || strings.Join(cfg.Config.Env, " ") != "A=1" {
		t.Errorf("config = %+v", cfg)
	}
	if len(m.Layers) != 2 || len(cfg.RootFS.DiffIDs) != 2 {
		t.Fatalf("want 2 layers, manifest has %v, config %v", m.Layers, cfg.RootFS.DiffIDs)
	}
	for i, l := range m.Layers {
		b, ok := files[l]
		if !ok {
			t.Fatalf("layer %s missing from archive", l)
		}
		id, err := DiffID(bytes.NewReader(b))
		must(t, err)
		if id != cfg.RootFS.DiffIDs[i] {
			t.Errorf("layer %d digest %s, config says %s", i, id, cfg.RootFS.DiffIDs[i])
		}
	}

	base := layerHeaders(t, files[m.Layers[0]])
	for name, want := range map[string]byte{
		"usr/": tar.TypeDir, "usr/bin/": tar.TypeDir, "usr/bin/tool": tar.TypeReg, "usr/bin/tool-alias": tar.TypeLink,
		"readme.txt": tar.TypeReg, "bin": tar.TypeSymlink,
	} {
		h, ok := base[name]
		if !ok {
			t.Errorf("base layer lacks %s; has %v", name, keys(base))
			continue
		}
		if h.Typeflag != want {
			t.Errorf("%s has type %q, want %q", name, h.Typeflag, want)
		}
		if h.Uid != 0 || h.Gid != 0 {
			t.Errorf("%s owned by %d:%d, want root", name, h.Uid, h.Gid)
		}
	}
	if h := base["usr/bin/tool"]; h != nil && h.Mode&0o111 == 0 {
		t.Errorf("executable lost its mode: %o", h.Mode)
	}
	if h := base["bin"]; h != nil && h.Linkname != "usr/bin" {
		t.Errorf("symlink points at %q", h.Linkname)
	}
	if h := base["usr/bin/tool-alias"]; h != nil && h.Linkname != "usr/bin/tool" {
		t.Errorf("hard link points at %q, want the first name written", h.Linkname)
	}
	if h := base["readme.txt"]; h != nil && !h.ModTime.Equal(time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)) {
		t.Errorf("modification time %s not kept", h.ModTime)
	}

	appLayer := layerHeaders(t, files[m.Layers[1]])
	if h := appLayer["app/"]; h == nil || h.Typeflag != tar.TypeDir {
		t.Errorf("app layer lacks the implied /app directory: %v", keys(appLayer))
	}
	if h := appLayer["app/app.py"]; h == nil || h.Size != int64(len("print('x')\n")) {
		t.Errorf("app layer lacks app/app.py: %v", keys(appLayer))
	}
}

func TestWriteIsDeterministic(t *testing.T) {
	src := tree(t)
	img := Image{Tag: "autotel.local/test:dev", Layers: []Layer{{{Path: src, Dest: "/"}}}, Config: Config{Cmd: []string{"/bin/tool"}}}
	a, b := build(t, img), build(t, img)
	if !bytes.Equal(a, b) {
		t.Fatal("two builds of the same tree differ")
	}
	// A change in content changes the image.
	must(t, os.WriteFile(filepath.Join(src, "readme.txt"), []byte("changed"), 0o644))
	if bytes.Equal(a, build(t, img)) {
		t.Fatal("a changed file did not change the image")
	}
}

func TestLaterSourceWins(t *testing.T) {
	one, two := t.TempDir(), t.TempDir()
	must(t, os.WriteFile(filepath.Join(one, "f"), []byte("one"), 0o644))
	must(t, os.WriteFile(filepath.Join(two, "f"), []byte("two!"), 0o644))
	var buf bytes.Buffer
	must(t, WriteLayer(&buf, Layer{{Path: one, Dest: "/x"}, {Path: two, Dest: "/x"}}))
	h := layerHeaders(t, buf.Bytes())["x/f"]
	if h == nil || h.Size != 4 {
		t.Fatalf("x/f = %+v, want the second source's 4 bytes", h)
	}
}

func TestWriteRejects(t *testing.T) {
	src := tree(t)
	for name, img := range map[string]Image{
		"no tag":        {Layers: []Layer{{{Path: src, Dest: "/"}}}},
		"tag without :": {Tag: "autotel.local/test", Layers: []Layer{{{Path: src, Dest: "/"}}}},
		"no layers":     {Tag: "autotel.local/test:dev"},
		"relative dest": {Tag: "autotel.local/test:dev", Layers: []Layer{{{Path: src, Dest: "app"}}}},
		"missing path":  {Tag: "autotel.local/test:dev", Layers: []Layer{{{Path: filepath.Join(src, "nope"), Dest: "/"}}}},
	} {
		t.Run(name, func(t *testing.T) {
			if err := Write(io.Discard, img, t.TempDir()); err == nil {
				t.Fatal("want an error")
			}
		})
	}
}

func TestWriteFileIsAtomic(t *testing.T) {
	out := filepath.Join(t.TempDir(), "img.tar")
	bad := Image{Tag: "autotel.local/test:dev", Layers: []Layer{{{Path: "/nonexistent-autotel-test", Dest: "/"}}}}
	if err := WriteFile(out, bad); err == nil {
		t.Fatal("want an error for a missing source")
	}
	entries, _ := os.ReadDir(filepath.Dir(out))
	if len(entries) != 0 {
		t.Fatalf("a failed build left files behind: %v", entries)
	}
	good := Image{Tag: "autotel.local/test:dev", Layers: []Layer{{{Path: tree(t), Dest: "/"}}}}
	must(t, WriteFile(out, good))
	if _, err := os.Stat(out); err != nil {
		t.Fatal(err)
	}
}

func keys(m map[string]*tar.Header) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
