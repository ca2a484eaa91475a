package repocheck

import (
	"bufio"
	"bytes"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// forbidden are references to material outside the repository: the notes
// and sample files the project was started from lived in a folder next to
// the clone, which someone who clones the repository does not have. What
// the project relies on is kept in the repository instead:
// docs/upstream-behaviour.md (upstream operator behaviour, cited as §N),
// collector/README.md (the Loki exporter's upstream behaviour) and
// testdata/seed/ (the seed's files). Each needle is built from two parts so
// that this file does not contain, and trip on, what it looks for.
var forbidden = []struct{ needle, use string }{
	{".." + "/shared", "a path inside the repository"},
	{"/work" + "/shared", "a path inside the repository"},
	{"shared" + "/seed", "testdata/seed/ (or the copy next to the code that uses it)"},
	{"shared" + "/reference", "docs/upstream-behaviour.md or collector/README.md"},
	{"upstream-operator" + ".md", "docs/upstream-behaviour.md §N"},
	{"collector-loki" + ".md", "collector/README.md"},
}

// TestRepositoryStandsAlone fails for every line of a tracked file that
// points outside the repository, naming the file, the line and what to
// point at instead.
func TestRepositoryStandsAlone(t *testing.T) {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	files := repoFiles(t, root)
	if len(files) < 100 {
		// A repository this size has hundreds of files: far fewer means the
		// listing went wrong, and a pass would prove nothing.
		t.Fatalf("found only %d files under %s; expected the whole repository", len(files), root)
	}
	for _, rel := range files {
		data, err := os.ReadFile(filepath.Join(root, rel))
		if errors.Is(err, fs.ErrNotExist) {
			continue // tracked but deleted in the working tree
		}
		if err != nil {
			t.Fatalf("reading %s: %v", rel, err)
		}
		for _, f := range forbidden {
			if !bytes.Contains(data, []byte(f.needle)) {
				continue
			}
			sc := bufio.NewScanner(bytes.NewReader(data))
			sc.Buffer(make([]byte, 0, 64*1024), len(data)+1)
			for n := 1; sc.Scan(); n++ {
				if strings.Contains(sc.Text(), f.needle) {
					t.Errorf("%s:%d: refers to %q, which is outside the repository; point at %s instead", rel, n, f.needle, f.use)
				}
			}
		}
	}
}

// repoFiles lists the repository's files relative to root: the tracked
// files from git, or, in a copy without git (an unpacked archive), every
// file except version-control and dependency folders.
func repoFiles(t *testing.T, root string) []string {
	t.Helper()
	cmd := exec.Command("git", "-C", root, "ls-files", "-z")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err == nil {
		var files []string
		for _, f := range strings.Split(string(out), "\x00") {
			if f != "" {
				files = append(files, f)
			}
		}
		return files
	}
	t.Logf("git ls-files failed (%v: %s); walking %s instead", err, strings.TrimSpace(stderr.String()), root)
	var files []string
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			switch d.Name() {
			case ".git", "node_modules", "bin":
				return filepath.SkipDir
			}
			return nil
		}
		if d.Type().IsRegular() {
			rel, err := filepath.Rel(root, p)
			if err != nil {
				return err
			}
			files = append(files, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("listing %s: %v", root, err)
	}
	return files
}
