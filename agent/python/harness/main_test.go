// Tests of autotel's Python log agent with real servers (Debian's Flask,
// gunicorn, uvicorn, FastAPI), started with the environment autotel's pod
// webhook injects, exporting to an OTLP/HTTP receiver that decodes with
// real OTLP implementations.
//
// TestMain builds the agent image the way image/build.py ships it and
// unpacks its docker-archive; every test copies the agent out of that
// image with the init container's own command, as a pod would.
package harness

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

var (
	// python is the interpreter the apps run on: Debian's, where the
	// Debian packages of the servers are installed.
	python = envOr("AUTOTEL_TEST_PYTHON", "/usr/bin/python3")
	// rootfs is the unpacked image.
	rootfs string
	// imageArchive is the docker-archive tarball.
	imageArchive string
	agentDir     = mustAbs("..")
	appsDir      = mustAbs("testdata/apps")
)

func envOr(k, d string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return d
}

func mustAbs(p string) string {
	a, err := filepath.Abs(p)
	if err != nil {
		panic(err)
	}
	return a
}

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	tmp, err := os.MkdirTemp("", "autotel-python-agent-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(tmp)
	imageArchive = filepath.Join(tmp, "image.tar")
	build := exec.Command(python, filepath.Join(agentDir, "image", "build.py"),
		"--tree", filepath.Join(tmp, "tree"), "--tar", imageArchive)
	build.Env = append(os.Environ(), "PYTHONDONTWRITEBYTECODE=1")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building the image: %v\n%s", err, out)
		return 1
	}
	rootfs = filepath.Join(tmp, "rootfs")
	if err := unpackImage(imageArchive, rootfs); err != nil {
		fmt.Fprintf(os.Stderr, "unpacking the image: %v\n", err)
		return 1
	}
	return m.Run()
}

type dockerManifest struct {
	Config   string
	RepoTags []string
	Layers   []string
}

type imageConfig struct {
	Architecture string `json:"architecture"`
	OS           string `json:"os"`
	RootFS       struct {
		Type    string   `json:"type"`
		DiffIDs []string `json:"diff_ids"`
	} `json:"rootfs"`
}

// readArchive returns the files of a docker-archive by name.
func readArchive(path string) (map[string][]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	files := map[string][]byte{}
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return files, nil
		}
		if err != nil {
			return nil, err
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			return nil, err
		}
		files[h.Name] = b
	}
}

// unpackImage checks the archive the way an importer does (manifest →
// config → layers whose sha256 are the config's diff_ids) and extracts the
// layer.
func unpackImage(archive, dest string) error {
	files, err := readArchive(archive)
	if err != nil {
		return err
	}
	var manifest []dockerManifest
	if err := json.Unmarshal(files["manifest.json"], &manifest); err != nil {
		return fmt.Errorf("manifest.json: %w", err)
	}
	if len(manifest) != 1 || len(manifest[0].Layers) != 1 {
		return fmt.Errorf("want one image with one layer, got %+v", manifest)
	}
	cfgBytes, ok := files[manifest[0].Config]
	if !ok {
		return fmt.Errorf("config %s missing", manifest[0].Config)
	}
	if sum := sha256.Sum256(cfgBytes); hex.EncodeToString(sum[:])+".json" != manifest[0].Config {
		return fmt.Errorf("config file name is not its sha256")
	}
	var cfg imageConfig
	if err := json.Unmarshal(cfgBytes, &cfg); err != nil {
		return err
	}
	layer := files[manifest[0].Layers[0]]
	sum := sha256.Sum256(layer)
	if len(cfg.RootFS.DiffIDs) != 1 || cfg.RootFS.DiffIDs[0] != "sha256:"+hex.EncodeToString(sum[:]) {
		return fmt.Errorf("diff_ids %v do not match the layer's sha256 %x", cfg.RootFS.DiffIDs, sum)
	}
	tr := tar.NewReader(bytes.NewReader(layer))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if strings.Contains(h.Name, "..") {
			return fmt.Errorf("unsafe path %q in layer", h.Name)
		}
		p := filepath.Join(dest, h.Name)
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(p, 0o755); err != nil {
				return err
			}
		case tar.TypeSymlink:
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				return err
			}
			if err := os.Symlink(h.Linkname, p); err != nil {
				return err
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				return err
			}
			b, err := io.ReadAll(tr)
			if err != nil {
				return err
			}
			if err := os.WriteFile(p, b, os.FileMode(h.Mode)&0o777); err != nil {
				return err
			}
		default:
			return fmt.Errorf("unexpected entry type %c for %s", h.Typeflag, h.Name)
		}
	}
}
