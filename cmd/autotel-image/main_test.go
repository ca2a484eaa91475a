package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

func TestOldFlagsSayWhatToDo(t *testing.T) {
	err := run([]string{"build", "-tag", "autotel.local/pause:dev", "-layer", "x:/", "-o", "p.tar"})
	if err == nil || !strings.Contains(err.Error(), "autotel-image build pause -o DIR") {
		t.Errorf("old-style call: %v, want an error naming the new form", err)
	}
}

func TestBuildArgumentErrors(t *testing.T) {
	for _, args := range [][]string{
		{"build"},
		{"build", "--tag", "x.local/y:1", "busybox", "pause"},
		{"build", "no-such-image", "--repo", "."},
		{"rootfs", "pause"},
		{"frobnicate"},
	} {
		if err := run(args); err == nil {
			t.Errorf("autotel-image %s: no error", strings.Join(args, " "))
		}
	}
}

// The pause row is a go build of images/pause: small enough to build here
// through the command, flags after the name included.
func TestBuildPauseByName(t *testing.T) {
	out := t.TempDir()
	repo, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	if err := run([]string{"build", "pause", "-q", "-o", out, "--repo", repo, "--cache", t.TempDir(), "--tag", "example.local/pause:test"}); err != nil {
		t.Fatal(err)
	}
	tag, _ := name.NewTag("example.local/pause:test")
	img, err := tarball.ImageFromPath(filepath.Join(out, "pause.tar"), &tag)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if len(cf.Config.Entrypoint) != 1 || cf.Config.Entrypoint[0] != "/pause" {
		t.Errorf("entrypoint %q, want [/pause]", cf.Config.Entrypoint)
	}
	if _, err := os.Stat(filepath.Join(out, "pause.tar.key")); err != nil {
		t.Errorf("no fingerprint beside the tarball: %v", err)
	}
}
