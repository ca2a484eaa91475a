package imagebuild

import (
	"bufio"
	"encoding/json"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
)

// finalStage is what a Dockerfile's last stage says about the image it
// makes: the instructions a container runtime sees, and the paths it
// copies to.
type finalStage struct {
	from       string
	entrypoint []string
	cmd        []string
	user       string
	workdir    string
	env        []string
	copies     []string // absolute destinations, without a trailing slash
}

// readFinalStage parses the last stage of a Dockerfile: comments, line
// continuations, JSON-form ENTRYPOINT and CMD, ENV in its K=V form (with
// double quotes), COPY destinations relative to WORKDIR.
func readFinalStage(t *testing.T, file string) finalStage {
	t.Helper()
	f, err := os.Open(file)
	must(t, err)
	defer f.Close()
	var lines []string
	var logical string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		l := sc.Text()
		if strings.HasPrefix(strings.TrimSpace(l), "#") {
			continue
		}
		if strings.HasSuffix(l, "\\") {
			logical += strings.TrimSuffix(l, "\\") + " "
			continue
		}
		lines = append(lines, strings.TrimSpace(logical+l))
		logical = ""
	}
	must(t, sc.Err())
	var st finalStage
	for _, l := range lines {
		instr, rest, _ := strings.Cut(l, " ")
		rest = strings.TrimSpace(rest)
		switch strings.ToUpper(instr) {
		case "FROM":
			st = finalStage{from: strings.Fields(rest)[0], workdir: "/"}
		case "ENTRYPOINT":
			if err := json.Unmarshal([]byte(rest), &st.entrypoint); err != nil {
				t.Fatalf("%s: ENTRYPOINT %s: want the exec (JSON) form: %v", file, rest, err)
			}
		case "CMD":
			if err := json.Unmarshal([]byte(rest), &st.cmd); err != nil {
				t.Fatalf("%s: CMD %s: want the exec (JSON) form: %v", file, rest, err)
			}
		case "USER":
			st.user = rest
		case "WORKDIR":
			st.workdir = path.Join(st.workdir, rest)
		case "ENV":
			for _, kv := range envWords(rest) {
				if !strings.Contains(kv, "=") {
					t.Fatalf("%s: ENV %s: want the K=V form", file, rest)
				}
				st.env = append(st.env, kv)
			}
		case "COPY":
			f := strings.Fields(rest)
			for len(f) > 0 && strings.HasPrefix(f[0], "--") {
				f = f[1:]
			}
			dest := f[len(f)-1]
			if !path.IsAbs(dest) {
				src := f[0]
				if strings.HasSuffix(dest, "/") || dest == "." {
					dest = path.Join(dest, path.Base(src))
				}
				dest = path.Join(st.workdir, dest)
			}
			st.copies = append(st.copies, path.Clean(dest))
		}
	}
	if st.from == "" {
		t.Fatalf("%s: no FROM", file)
	}
	return st
}

// envWords splits ENV's K=V words, with double-quoted values.
func envWords(s string) []string {
	var out []string
	var cur strings.Builder
	quoted := false
	for _, r := range s {
		switch {
		case r == '"':
			quoted = !quoted
		case (r == ' ' || r == '\t') && !quoted:
			if cur.Len() > 0 {
				out = append(out, cur.String())
				cur.Reset()
			}
		default:
			cur.WriteRune(r)
		}
	}
	if cur.Len() > 0 {
		out = append(out, cur.String())
	}
	return out
}

// The Dockerfiles are what users with Docker build; the table is what this
// machine builds. Each row that names a Dockerfile must agree with it on
// what a runtime sees (entrypoint, command, user, working directory,
// environment) and on where files go.
func TestDockerfilesAgreeWithTable(t *testing.T) {
	root := repoRoot(t)
	seen := map[string]bool{}
	b := &Builder{}
	for _, s := range Images {
		if s.Dockerfile == "" {
			continue
		}
		seen[s.Dockerfile] = true
		t.Run(s.Name, func(t *testing.T) {
			df := readFinalStage(t, filepath.Join(root, s.Dockerfile))
			if !slices.Equal(df.entrypoint, s.Config.Entrypoint) {
				t.Errorf("ENTRYPOINT: %s has %q, the table %q", s.Dockerfile, df.entrypoint, s.Config.Entrypoint)
			}
			if !slices.Equal(df.cmd, s.Config.Cmd) {
				t.Errorf("CMD: %s has %q, the table %q", s.Dockerfile, df.cmd, s.Config.Cmd)
			}
			if df.user != s.Config.User {
				t.Errorf("USER: %s has %q, the table %q", s.Dockerfile, df.user, s.Config.User)
			}
			wantWorkdir := s.Config.WorkingDir
			if wantWorkdir == "" {
				wantWorkdir = "/"
			}
			if df.workdir != wantWorkdir {
				t.Errorf("WORKDIR: %s has %q, the table %q", s.Dockerfile, df.workdir, wantWorkdir)
			}
			// The row's environment, with its bases', must hold every ENV of
			// the Dockerfile, and each variable the row itself sets must be
			// one the Dockerfile sets.
			merged := s.Config
			if s.Base != "" {
				merged = mergeConfig(mergedConfig(t, b, s.Base), s.Config)
			}
			for _, kv := range df.env {
				if !slices.Contains(merged.Env, kv) {
					t.Errorf("ENV %s of %s is not in the table's environment %q", kv, s.Dockerfile, merged.Env)
				}
			}
			for _, kv := range s.Config.Env {
				if !slices.Contains(df.env, kv) {
					t.Errorf("the table sets %s, which %s does not", kv, s.Dockerfile)
				}
			}
			var dests []string
			for _, l := range s.Layers {
				for _, f := range l.Files {
					dests = append(dests, path.Clean(f.Dest))
				}
			}
			sort.Strings(dests)
			copies := slices.Clone(df.copies)
			sort.Strings(copies)
			if !slices.Equal(copies, dests) {
				t.Errorf("paths: %s copies to %q, the table's layers put files at %q", s.Dockerfile, copies, dests)
			}
		})
	}
	// Every image Dockerfile of the repository has its row.
	for _, pattern := range []string{"build/Dockerfile.*", "examples/*/Dockerfile", "agent/python/image/Dockerfile"} {
		m, err := filepath.Glob(filepath.Join(root, pattern))
		must(t, err)
		for _, f := range m {
			rel, _ := filepath.Rel(root, f)
			if strings.HasSuffix(rel, ".dockerignore") {
				continue
			}
			if !seen[rel] {
				t.Errorf("%s has no row in the table (Spec.Dockerfile)", rel)
			}
		}
	}
}

// mergedConfig is a row's config with its bases', as Image computes it,
// without building anything.
func mergedConfig(t *testing.T, b *Builder, n string) Config {
	t.Helper()
	s, err := b.lookup(n)
	must(t, err)
	if s.Base == "" {
		return mergeConfig(Config{}, s.Config)
	}
	return mergeConfig(mergedConfig(t, b, s.Base), s.Config)
}

// The image names the scripts and tests use are the table's: a caller
// naming a tag nothing builds would wait for an image that never comes.
func TestCallersUseTheTablesTags(t *testing.T) {
	root := repoRoot(t)
	tags := map[string]bool{}
	for _, s := range Images {
		tags[s.Tag] = true
	}
	var files []string
	for _, pattern := range []string{"hack/*.sh", "test/e2e/*.go", "test/e2e/testdata/*.yaml", "test/demo/*.go", "Makefile"} {
		m, err := filepath.Glob(filepath.Join(root, pattern))
		must(t, err)
		files = append(files, m...)
	}
	found := 0
	for _, f := range files {
		body, err := os.ReadFile(f)
		must(t, err)
		for _, ref := range imageRefs(string(body)) {
			found++
			if !tags[ref] {
				rel, _ := filepath.Rel(root, f)
				t.Errorf("%s names %s, which no row of the table builds", rel, ref)
			}
		}
	}
	if found < 5 {
		t.Fatalf("found only %d autotel.local image references in the callers; is the pattern stale?", found)
	}
}

// imageRefs finds autotel.local/...:dev references (other test-only names,
// such as a retagged copy, use other tags).
func imageRefs(s string) []string {
	var out []string
	for {
		i := strings.Index(s, "autotel.local/")
		if i < 0 {
			return out
		}
		s = s[i:]
		end := strings.IndexFunc(s, func(r rune) bool {
			return !(r == '/' || r == '.' || r == '-' || r == '_' || r == ':' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9')
		})
		if end < 0 {
			end = len(s)
		}
		ref := strings.TrimRight(s[:end], ".:")
		if strings.HasSuffix(ref, ":dev") {
			out = append(out, ref)
		}
		s = s[end:]
	}
}
