package clienttest

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// ImageRoot unpacks the image named name into a temporary folder with
// `autotel-image rootfs` (the builder the demo and the e2e tier use, which
// builds the image or takes it from the cache) and returns the folder.
// Callers run from test/clients/<package>, three levels below the repository.
func ImageRoot(t *testing.T, name string) string {
	t.Helper()
	repo, err := filepath.Abs(filepath.Join("..", "..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 9*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "run", "./cmd/autotel-image", "rootfs", name, root)
	cmd.Dir = repo
	cmd.Env = append(os.Environ(), "GOWORK=off")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building the %s image: %v\n%s\nTo fix: see the message above; `go run ./cmd/autotel-image build %s` from the repository root shows the same", name, err, out, name)
	}
	return root
}
