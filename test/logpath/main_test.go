// Package logpath proves, with real parts only, the seed's Python logging
// story end to end and autotel's per-workload log path:
//
//   - pods are created through a real kube-apiserver whose admission chain
//     calls the operator's own pod webhook (internal/testenv), so the
//     environment and init container the apps get are what the injector
//     put in the stored pod;
//   - a stand-in kubelet (kubelet_test.go) runs the init container's
//     command against autotel's Python agent image, resolves the
//     container's environment and starts Debian's Flask, gunicorn and
//     uvicorn with it, writing their stdout/stderr to CRI container logs;
//   - autotel-collector (built from collector/) exports to VictoriaLogs'
//     Loki push endpoint, and the tests read the stored lines back.
//
// TestMain builds or finds every binary once; each test starts the
// processes it needs and stops them by pid.
package logpath

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/autotel/autotel/internal/testenv"
)

// python is Debian's interpreter: the Debian packages of the servers are
// installed for it, not for any other python3 on PATH.
const python = "/usr/bin/python3"

// agentImage is what spec.python.image names; the stand-in kubelet "pulls"
// it from the archive image/build.py writes.
const agentImage = "autotel/autoinstrumentation-python-logs:0.1.0"

var (
	repoRoot        string
	agentRootfs     string // the agent image, unpacked
	collectorBin    string
	victoriaLogsBin string
	cluster         *testenv.Env
)

// debianPackages are the servers and tools the apps need, as
// agent/python/test.sh installs them.
var debianPackages = []string{"python3", "python3-flask", "gunicorn", "python3-uvicorn", "python3-fastapi", "busybox-static"}

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	fail := func(format string, args ...any) int {
		fmt.Fprintf(os.Stderr, "logpath: "+format+"\n", args...)
		return 1
	}
	var err error
	if repoRoot, err = testenv.RepoRoot(); err != nil {
		return fail("%v", err)
	}
	if err := installDebianPackages(); err != nil {
		return fail("%v", err)
	}
	tmp, err := os.MkdirTemp("", "autotel-logpath-")
	if err != nil {
		return fail("%v", err)
	}
	defer os.RemoveAll(tmp)

	if agentRootfs, err = buildAgentImage(tmp); err != nil {
		return fail("building the Python agent image: %v", err)
	}
	if collectorBin, err = buildCollector(tmp); err != nil {
		return fail("building autotel-collector: %v", err)
	}
	if victoriaLogsBin = os.Getenv("AUTOTEL_VICTORIALOGS"); victoriaLogsBin == "" {
		cmd := exec.Command(filepath.Join(repoRoot, "hack", "collector-victorialogs.sh"))
		cmd.Stderr = os.Stderr
		out, err := cmd.Output()
		if err != nil {
			return fail("installing VictoriaLogs with hack/collector-victorialogs.sh: %v", err)
		}
		victoriaLogsBin = strings.TrimSpace(string(out))
	}

	start := time.Now()
	ctrllog.SetLogger(logr.Discard())
	if cluster, err = testenv.Start(logr.Discard(), nil); err != nil {
		return fail("starting kube-apiserver, etcd and the operator (binaries from hack/kube-binaries.sh): %v", err)
	}
	defer cluster.Stop()
	fmt.Fprintf(os.Stderr, "logpath: control plane and operator up in %s\n", time.Since(start).Round(100*time.Millisecond))
	return m.Run()
}

// installDebianPackages installs what is missing the way
// agent/python/test.sh does (root, apt waiting for another apt's lock).
func installDebianPackages() error {
	var missing []string
	for _, p := range debianPackages {
		out, _ := exec.Command("dpkg-query", "-W", "-f=${Status}", p).Output()
		if !strings.Contains(string(out), "install ok installed") {
			missing = append(missing, p)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	fmt.Fprintf(os.Stderr, "logpath: installing Debian packages %v\n", missing)
	env := append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	for _, args := range [][]string{
		{"-o", "DPkg::Lock::Timeout=600", "update", "-qq"},
		append([]string{"-o", "DPkg::Lock::Timeout=600", "install", "-y", "-qq", "--no-install-recommends"}, missing...),
	} {
		cmd := exec.Command("apt-get", args...)
		cmd.Env = env
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("apt-get %s: %v\n%s\nrun as root: apt-get update && apt-get install %s",
				args[2], err, out, strings.Join(missing, " "))
		}
	}
	return nil
}

// buildCollector builds collector/cmd/autotel-collector, unless
// AUTOTEL_COLLECTOR_BIN names a binary (as in collector/test/e2e).
func buildCollector(tmp string) (string, error) {
	if bin := os.Getenv("AUTOTEL_COLLECTOR_BIN"); bin != "" {
		return bin, nil
	}
	bin := filepath.Join(tmp, "autotel-collector")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/autotel-collector")
	cmd.Dir = filepath.Join(repoRoot, "collector")
	// The collector is its own module: this workspace must not apply.
	cmd.Env = append(os.Environ(), "GOWORK=off")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("%v\n%s", err, out)
	}
	return bin, nil
}

// buildAgentImage writes the agent image's docker-archive with
// agent/python/image/build.py and unpacks its layer, as a container
// runtime would, into the root file system the init container runs in.
func buildAgentImage(tmp string) (string, error) {
	archive := filepath.Join(tmp, "agent-image.tar")
	cmd := exec.Command(python, filepath.Join(repoRoot, "agent", "python", "image", "build.py"),
		"--tree", filepath.Join(tmp, "agent-tree"), "--tar", archive, "--image", agentImage)
	cmd.Env = append(os.Environ(), "PYTHONDONTWRITEBYTECODE=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("%v\n%s", err, out)
	}
	files, err := readTar(archive)
	if err != nil {
		return "", err
	}
	var manifest []struct {
		RepoTags []string
		Layers   []string
	}
	if err := json.Unmarshal(files["manifest.json"], &manifest); err != nil {
		return "", fmt.Errorf("manifest.json: %w", err)
	}
	if len(manifest) != 1 || len(manifest[0].RepoTags) != 1 || manifest[0].RepoTags[0] != agentImage {
		return "", fmt.Errorf("archive holds %+v, want one image tagged %s", manifest, agentImage)
	}
	rootfs := filepath.Join(tmp, "agent-rootfs")
	for _, layer := range manifest[0].Layers {
		if err := untar(files[layer], rootfs); err != nil {
			return "", fmt.Errorf("layer %s: %w", layer, err)
		}
	}
	return rootfs, nil
}

func readTar(path string) (map[string][]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	files := map[string][]byte{}
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return files, nil
		}
		if err != nil {
			return nil, err
		}
		if files[h.Name], err = io.ReadAll(tr); err != nil {
			return nil, err
		}
	}
}

func untar(layer []byte, dest string) error {
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
			return fmt.Errorf("unsafe path %q", h.Name)
		}
		p := filepath.Join(dest, h.Name)
		switch h.Typeflag {
		case tar.TypeDir:
			err = os.MkdirAll(p, 0o755)
		case tar.TypeSymlink:
			if err = os.MkdirAll(filepath.Dir(p), 0o755); err == nil {
				err = os.Symlink(h.Linkname, p)
			}
		case tar.TypeReg:
			if err = os.MkdirAll(filepath.Dir(p), 0o755); err == nil {
				var b []byte
				if b, err = io.ReadAll(tr); err == nil {
					err = os.WriteFile(p, b, os.FileMode(h.Mode)&0o777)
				}
			}
		default:
			err = fmt.Errorf("unexpected entry type %c for %s", h.Typeflag, h.Name)
		}
		if err != nil {
			return err
		}
	}
}
