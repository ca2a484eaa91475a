// Tests of autotel's Python log agent with real servers (Debian's Flask,
// gunicorn, uvicorn, FastAPI), started with the environment autotel's pod
// webhook injects, exporting to an OTLP/HTTP receiver that decodes with
// real OTLP implementations.
//
// TestMain builds the agent image from the repository's image table
// (internal/imagebuild, row python-agent) and unpacks its file system;
// every test copies the agent out of that image with the init container's
// own command, as a pod would.
package harness

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/autotel/autotel/internal/imagebuild"
)

var (
	// python is the interpreter the apps run on: Debian's, where the
	// Debian packages of the servers are installed.
	python = envOr("AUTOTEL_TEST_PYTHON", "/usr/bin/python3")
	// rootfs is the unpacked image.
	rootfs   string
	agentDir = mustAbs("..")
	appsDir  = mustAbs("testdata/apps")
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
	rootfs = filepath.Join(tmp, "rootfs")
	// The cache is autotel's usual one: the busybox base comes from Debian
	// packages, downloaded once.
	b := &imagebuild.Builder{Repo: filepath.Join(agentDir, "..", ".."), Cache: imagebuild.DefaultCache(), Log: os.Stderr}
	if err := b.Rootfs("python-agent", rootfs); err != nil {
		fmt.Fprintf(os.Stderr, "building and unpacking the agent image: %v\n", err)
		return 1
	}
	return m.Run()
}
