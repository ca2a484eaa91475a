package differences

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"sigs.k8s.io/yaml"
)

// upstreamPath is one line of testdata/upstream-crd-*.txt.
type upstreamPath struct {
	line int
	path string
	typ  string
	// facts are the checked keys (enum, default, pattern, maxLength,
	// required); an absent key is not checked.
	facts map[string]string
}

func loadUpstreamPaths(t *testing.T, file string) []upstreamPath {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []upstreamPath
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Split(line, "\t")
		if len(fields) < 2 {
			t.Fatalf("%s:%d: want PATH<TAB>TYPE[<TAB>KEY=VALUE...]", file, n)
		}
		p := upstreamPath{line: n, path: fields[0], typ: fields[1], facts: map[string]string{}}
		for _, kv := range fields[2:] {
			k, v, ok := strings.Cut(kv, "=")
			if !ok || !slices.Contains([]string{"enum", "default", "pattern", "maxLength", "required"}, k) {
				t.Fatalf("%s:%d: unknown fact %q", file, n, kv)
			}
			p.facts[k] = v
		}
		out = append(out, p)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// schemaFacts flattens a CRD schema into the same paths and facts.
func schemaFacts(prefix string, s *apiextensionsv1.JSONSchemaProps, into map[string]upstreamPath) {
	typ := s.Type
	if s.XIntOrString {
		typ = "int-or-string"
	}
	facts := map[string]string{"enum": "", "default": "", "pattern": "", "maxLength": "", "required": ""}
	var enum []string
	for _, e := range s.Enum {
		var v any
		if err := yaml.Unmarshal(e.Raw, &v); err == nil {
			enum = append(enum, fmt.Sprint(v))
		}
	}
	facts["enum"] = strings.Join(enum, ",")
	if s.Default != nil {
		facts["default"] = strings.Trim(string(s.Default.Raw), `"`)
	}
	if !s.XIntOrString {
		facts["pattern"] = s.Pattern
	}
	if s.MaxLength != nil {
		facts["maxLength"] = strconv.FormatInt(*s.MaxLength, 10)
	}
	req := slices.Clone(s.Required)
	sort.Strings(req)
	facts["required"] = strings.Join(req, ",")
	into[prefix] = upstreamPath{path: prefix, typ: typ, facts: facts}
	for name, p := range s.Properties {
		schemaFacts(prefix+"."+name, &p, into)
	}
	if s.Items != nil && s.Items.Schema != nil {
		schemaFacts(prefix+"[]", s.Items.Schema, into)
	}
	if s.AdditionalProperties != nil && s.AdditionalProperties.Schema != nil {
		schemaFacts(prefix+"{}", s.AdditionalProperties.Schema, into)
	}
}

// TestCRDParityWithUpstream: autotel's generated CRD has every property
// path of upstream's v0.158 CRD with the same type and the same recorded
// enum, default, pattern, maxLength and required list, unless the path is
// named by a difference's crdPaths in docs/differences.yaml.
func TestCRDParityWithUpstream(t *testing.T) {
	doc, err := Load(DocPath())
	if err != nil {
		t.Fatal(err)
	}
	excused := map[string]string{}
	for _, x := range doc.Differences {
		for _, p := range x.CRDPaths {
			excused[p] = x.ID
		}
	}
	raw, err := os.ReadFile(filepath.Join(RepoRoot(), "config", "crd", "bases", "opentelemetry.io_instrumentations.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var crd apiextensionsv1.CustomResourceDefinition
	if err := yaml.UnmarshalStrict(raw, &crd); err != nil {
		t.Fatalf("decoding our CRD: %v", err)
	}
	i := slices.IndexFunc(crd.Spec.Versions, func(v apiextensionsv1.CustomResourceDefinitionVersion) bool { return v.Name == "v1alpha1" })
	if i < 0 || crd.Spec.Versions[i].Schema == nil {
		t.Fatal("our CRD has no v1alpha1 schema")
	}
	root := crd.Spec.Versions[i].Schema.OpenAPIV3Schema
	ours := map[string]upstreamPath{}
	for _, top := range []string{"spec", "status"} {
		s := root.Properties[top]
		schemaFacts(top, &s, ours)
	}

	file := filepath.Join("testdata", "upstream-crd-"+doc.UpstreamVersion[:strings.LastIndex(doc.UpstreamVersion, ".")]+"-paths.txt")
	upstream := loadUpstreamPaths(t, file)
	if len(upstream) < 50 {
		t.Fatalf("%s holds %d paths; expected the whole schema", file, len(upstream))
	}
	used := map[string]bool{}
	for _, u := range upstream {
		if id, ok := excused[u.path]; ok {
			used[u.path] = true
			t.Logf("%s: deliberate difference %s", u.path, id)
			continue
		}
		o, ok := ours[u.path]
		if !ok {
			t.Errorf("%s:%d: upstream has %s (%s); our CRD does not, and no difference in docs/differences.yaml names it", file, u.line, u.path, u.typ)
			continue
		}
		if o.typ != u.typ {
			t.Errorf("%s: type %q, upstream %q", u.path, o.typ, u.typ)
		}
		for k, want := range u.facts {
			if got := o.facts[k]; got != want {
				t.Errorf("%s: %s = %q, upstream %q", u.path, k, got, want)
			}
		}
	}
	for p, id := range excused {
		if !used[p] {
			t.Errorf("difference %s names CRD path %s, which is not an upstream path in %s", id, p, file)
		}
	}
}
