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
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/autotel/autotel/internal/imagebuild"
	"github.com/autotel/autotel/internal/testenv"
)

// python is Debian's interpreter: the Debian packages of the servers are
// installed for it, not for any other python3 on PATH.
const python = "/usr/bin/python3"

// agentImage is what spec.python.image names; the stand-in kubelet "pulls"
// it by unpacking the python-agent row of internal/imagebuild's table.
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

// buildAgentImage builds the agent image from the repository's image
// table (internal/imagebuild, row python-agent) and unpacks its file
// system, as a container runtime would, into the root file system the init
// container runs in.
func buildAgentImage(tmp string) (string, error) {
	rootfs := filepath.Join(tmp, "agent-rootfs")
	b := &imagebuild.Builder{Repo: repoRoot, Cache: imagebuild.DefaultCache(), Log: os.Stderr}
	if err := b.Rootfs("python-agent", rootfs); err != nil {
		return "", err
	}
	return rootfs, nil
}
