package differences

import (
	"bytes"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestCompatibilityDocIsCurrent: docs/compatibility.md is what Render makes
// of docs/differences.yaml.
func TestCompatibilityDocIsCurrent(t *testing.T) {
	d, err := Load(DocPath())
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(CompatibilityPath())
	if err != nil {
		t.Fatalf("reading docs/compatibility.md (run `go generate ./internal/instrumentation/differences/`): %v", err)
	}
	if want := Render(d); !bytes.Equal(got, want) {
		t.Errorf("docs/compatibility.md is stale: run `go generate ./internal/instrumentation/differences/` and commit it")
	}
}

func TestLoadRejectsIncompleteDifferences(t *testing.T) {
	for name, doc := range map[string]string{
		"bad id":        "upstreamVersion: v1\ndifferences:\n- {id: Bad_Id, title: t, upstream: u, autotel: a, reason: r, refs: [x], golden: true}\n",
		"duplicate id":  "upstreamVersion: v1\ndifferences:\n- {id: a, title: t, upstream: u, autotel: a, reason: r, refs: [x], golden: true}\n- {id: a, title: t, upstream: u, autotel: a, reason: r, refs: [x], golden: true}\n",
		"no reason":     "upstreamVersion: v1\ndifferences:\n- {id: a, title: t, upstream: u, autotel: a, refs: [x], golden: true}\n",
		"no refs":       "upstreamVersion: v1\ndifferences:\n- {id: a, title: t, upstream: u, autotel: a, reason: r, golden: true}\n",
		"uncovered":     "upstreamVersion: v1\ndifferences:\n- {id: a, title: t, upstream: u, autotel: a, reason: r, refs: [x]}\n",
		"unknown field": "upstreamVersion: v1\ndifferences:\n- {id: a, title: t, upstream: u, autotel: a, reason: r, refs: [x], golden: true, why: w}\n",
	} {
		t.Run(name, func(t *testing.T) {
			path := t.TempDir() + "/d.yaml"
			if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
				t.Fatal(err)
			}
			if _, err := Load(path); err == nil {
				t.Errorf("Load accepted %q", doc)
			}
		})
	}
}

// TestUpstreamChangelogNamesKnownDifferences: every row of
// docs/upstream-changelog.md has a known state, and every difference it
// names exists in docs/differences.yaml.
func TestUpstreamChangelogNamesKnownDifferences(t *testing.T) {
	d, err := Load(DocPath())
	if err != nil {
		t.Fatal(err)
	}
	ids := d.ByID()
	raw, err := os.ReadFile(RepoRoot() + "/docs/upstream-changelog.md")
	if err != nil {
		t.Fatal(err)
	}
	rows := 0
	for _, line := range strings.Split(string(raw), "\n") {
		cells := strings.Split(line, "|")
		if len(cells) < 6 || !strings.HasPrefix(strings.TrimSpace(cells[1]), "v0.") {
			continue
		}
		rows++
		state := strings.TrimSpace(cells[3])
		if !slices.Contains([]string{"done", "different", "not applicable", "open"}, state) {
			t.Errorf("row %q: state %q is not done, different, not applicable or open", strings.TrimSpace(cells[2]), state)
		}
		for _, m := range differenceRef.FindAllStringSubmatch(line, -1) {
			if _, ok := ids[m[1]]; !ok {
				t.Errorf("row %q names difference %q, which docs/differences.yaml does not have", strings.TrimSpace(cells[2]), m[1])
			}
		}
		if state == "different" && !differenceRef.MatchString(line) {
			t.Errorf("row %q is marked different but names no difference id", strings.TrimSpace(cells[2]))
		}
	}
	if rows == 0 {
		t.Fatal("no changelog rows found")
	}
}

var differenceRef = regexp.MustCompile("difference `([a-z0-9-]+)`")
