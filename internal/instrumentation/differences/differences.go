// Package differences reads docs/differences.yaml, the deliberate
// differences between autotel and the OpenTelemetry Operator as data, and
// renders docs/compatibility.md from it.
package differences

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"

	"sigs.k8s.io/yaml"
)

//go:generate go run ./render

// Doc is docs/differences.yaml.
type Doc struct {
	UpstreamVersion string       `json:"upstreamVersion"`
	Differences     []Difference `json:"differences"`
	Matches         []Match      `json:"matches"`
}

// Difference is one deliberate departure from upstream.
type Difference struct {
	ID       string   `json:"id"`
	Title    string   `json:"title"`
	Upstream string   `json:"upstream"`
	Autotel  string   `json:"autotel"`
	Reason   string   `json:"reason"`
	Refs     []string `json:"refs"`
	// Golden: pod goldens can show it, and a detector recognises it.
	Golden bool     `json:"golden"`
	Tests  []string `json:"tests,omitempty"`
	// CRDPaths are schema paths where autotel's CRD differs on purpose.
	CRDPaths []string `json:"crdPaths,omitempty"`
}

// Match is upstream behaviour autotel reproduces, with its references.
type Match struct {
	Title   string   `json:"title"`
	Version string   `json:"version"`
	Refs    []string `json:"refs"`
}

var idPattern = regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)*$`)

// RepoRoot is the repository folder, found from this file's location.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "..")
}

// DocPath and CompatibilityPath are the data file and the generated page.
func DocPath() string           { return filepath.Join(RepoRoot(), "docs", "differences.yaml") }
func CompatibilityPath() string { return filepath.Join(RepoRoot(), "docs", "compatibility.md") }

// Load reads and checks the data file: strict fields, unique well-formed
// ids, every text field filled, and tests for those goldens cannot show.
func Load(path string) (*Doc, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading differences: %w", err)
	}
	var d Doc
	if err := yaml.UnmarshalStrict(raw, &d); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if d.UpstreamVersion == "" {
		return nil, fmt.Errorf("%s: upstreamVersion is empty", path)
	}
	seen := map[string]bool{}
	for i, x := range d.Differences {
		where := fmt.Sprintf("%s: differences[%d] (%s)", path, i, x.ID)
		if !idPattern.MatchString(x.ID) {
			return nil, fmt.Errorf("%s: id must be lower-case words joined by '-'", where)
		}
		if seen[x.ID] {
			return nil, fmt.Errorf("%s: duplicate id", where)
		}
		seen[x.ID] = true
		for field, v := range map[string]string{"title": x.Title, "upstream": x.Upstream, "autotel": x.Autotel, "reason": x.Reason} {
			if strings.TrimSpace(v) == "" {
				return nil, fmt.Errorf("%s: %s is empty", where, field)
			}
		}
		if len(x.Refs) == 0 {
			return nil, fmt.Errorf("%s: refs is empty: name the upstream files that show its behaviour", where)
		}
		if !x.Golden && len(x.Tests) == 0 && len(x.CRDPaths) == 0 {
			return nil, fmt.Errorf("%s: not shown by goldens, so tests (or crdPaths) must say what covers it", where)
		}
	}
	for i, m := range d.Matches {
		if m.Title == "" || m.Version == "" || len(m.Refs) == 0 {
			return nil, fmt.Errorf("%s: matches[%d] needs title, version and refs", path, i)
		}
	}
	return &d, nil
}

// ByID indexes the differences.
func (d *Doc) ByID() map[string]Difference {
	m := make(map[string]Difference, len(d.Differences))
	for _, x := range d.Differences {
		m[x.ID] = x
	}
	return m
}

const upstreamRepo = "open-telemetry/opentelemetry-operator"

// Render is docs/compatibility.md for the data.
func Render(d *Doc) []byte {
	var b bytes.Buffer
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	w("<!-- Generated from docs/differences.yaml by `go generate ./internal/instrumentation/differences/`; do not edit. -->\n\n")
	w("# Compatibility with the OpenTelemetry Operator\n\n")
	w("autotel injects the same pods as the OpenTelemetry Operator (%s, `%s`) ", d.UpstreamVersion, upstreamRepo)
	w("for the same `Instrumentation`, annotations and pod, except for the deliberate differences below. ")
	w("File references are paths in `%s` at %s. ", upstreamRepo, d.UpstreamVersion)
	// The full description of upstream's behaviour, which the tests cite by
	// section (§N), is hand-written; this page only adds the exceptions.
	w("What upstream does, section by section, is described in [upstream-behaviour.md](upstream-behaviour.md).\n\n")
	w("## Upstream behaviour autotel matches\n\n")
	w("| behaviour | since | upstream files |\n|---|---|---|\n")
	for _, m := range d.Matches {
		w("| %s | %s | %s |\n", cell(m.Title), cell(m.Version), cell(codeList(m.Refs)))
	}
	w("\n## Differences\n\n")
	w("| id | difference | shown by |\n|---|---|---|\n")
	for _, x := range d.Differences {
		w("| [`%s`](#%s) | %s | %s |\n", x.ID, x.ID, cell(x.Title), cell(shownBy(x)))
	}
	for _, x := range d.Differences {
		w("\n### %s\n\n", x.ID)
		w("%s.\n\n", strings.TrimSuffix(x.Title, "."))
		w("- **Upstream** (%s): %s\n", d.UpstreamVersion, sentence(x.Upstream))
		w("- **autotel**: %s\n", sentence(x.Autotel))
		w("- **Why**: %s\n", sentence(x.Reason))
		w("- **Upstream files**: %s\n", codeList(x.Refs))
		if len(x.Tests) > 0 {
			w("- **Tests**: %s\n", codeList(x.Tests))
		}
		if len(x.CRDPaths) > 0 {
			w("- **CRD paths**: %s\n", codeList(x.CRDPaths))
		}
	}
	return b.Bytes()
}

func shownBy(x Difference) string {
	var parts []string
	if x.Golden {
		parts = append(parts, "golden cases that name it")
	}
	if len(x.Tests) > 0 {
		parts = append(parts, "tests")
	}
	if len(x.CRDPaths) > 0 {
		parts = append(parts, "CRD parity test")
	}
	return strings.Join(parts, ", ")
}

func codeList(items []string) string {
	out := make([]string, len(items))
	for i, s := range items {
		// "path (detail)" renders the path as code, the detail as text.
		if p, rest, ok := strings.Cut(s, " "); ok {
			out[i] = "`" + p + "` " + rest
		} else {
			out[i] = "`" + s + "`"
		}
	}
	return strings.Join(out, ", ")
}

func sentence(s string) string {
	s = strings.TrimSpace(s)
	if !strings.HasSuffix(s, ".") {
		s += "."
	}
	return s
}

func cell(s string) string { return strings.ReplaceAll(strings.TrimSpace(s), "|", `\|`) }
