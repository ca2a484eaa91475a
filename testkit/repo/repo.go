// Package repo finds the autotel repository a test runs in.
package repo

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// Module is the root module's path, as its go.mod's first line names it.
const Module = "github.com/autotel/autotel"

// Root returns the folder of the root go.mod (module github.com/autotel/autotel),
// searching from the working directory upwards, so that a test in any of
// the repository's modules finds the scripts and testdata it needs.
func Root() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("finding the repository root: %w", err)
	}
	return RootFrom(dir)
}

// RootFrom is Root searching upwards from dir.
func RootFrom(dir string) (string, error) {
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && bytes.HasPrefix(b, []byte("module "+Module+"\n")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("not inside the autotel repository (no go.mod of " + Module + " above the working directory)")
		}
		dir = parent
	}
}
