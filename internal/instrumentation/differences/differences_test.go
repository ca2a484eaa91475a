package differences

import (
	"bytes"
	"os"
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
