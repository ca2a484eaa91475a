package repo_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/autotel/autotel/testkit/repo"
)

func TestRootFindsTheRootModuleNotTheKits(t *testing.T) {
	root, err := repo.Root()
	if err != nil {
		t.Fatal(err)
	}
	// testkit/ has its own go.mod one level down: Root must pass it by.
	if _, err := os.Stat(filepath.Join(root, "testkit", "go.mod")); err != nil {
		t.Fatalf("Root = %s, which has no testkit/go.mod: %v", root, err)
	}
	if got, err := repo.RootFrom(filepath.Join(root, "testkit", "repo")); err != nil || got != root {
		t.Errorf("RootFrom(testkit/repo) = %q, %v; want %q", got, err, root)
	}
}

func TestOutsideTheRepository(t *testing.T) {
	_, err := repo.RootFrom(t.TempDir())
	if err == nil || !strings.Contains(err.Error(), repo.Module) {
		t.Fatalf("RootFrom(temp dir) = %v; want an error naming the module", err)
	}
}
