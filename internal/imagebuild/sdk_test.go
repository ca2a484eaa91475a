package imagebuild

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/autotel/autotel/internal/webhook/instrumentationwebhook"
)

// tagVersion is the tag of an image reference.
func tagVersion(ref string) string { return ref[strings.LastIndex(ref, ":")+1:] }

// The SDK rows pin the versions the operator defaults to: a bump of
// DefaultImages without a bump of the pins (or the other way round) would
// make the demo and the e2e tier run another release than users get.
func TestSDKPinsFollowDefaultImages(t *testing.T) {
	root := repoRoot(t)
	d := instrumentationwebhook.DefaultImages()
	read := func(rel string) string {
		t.Helper()
		b, err := os.ReadFile(filepath.Join(root, rel))
		must(t, err)
		return string(b)
	}

	python := tagVersion(d.Python)
	if req := read("images/sdk/python/requirements.txt"); !strings.Contains(req, "\nopentelemetry-distro=="+python+"\n") {
		t.Errorf("images/sdk/python/requirements.txt does not pin opentelemetry-distro==%s (DefaultImages: %s)", python, d.Python)
	}
	coords, sum, err := readJavaPin(filepath.Join(root, "images/sdk/java/javaagent.txt"))
	must(t, err)
	if java := tagVersion(d.Java); coords != "io.opentelemetry.javaagent:opentelemetry-javaagent:"+java {
		t.Errorf("images/sdk/java/javaagent.txt pins %s, DefaultImages %s", coords, d.Java)
	}
	if !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(sum) {
		t.Errorf("javaagent.txt: sha256 %q is not 64 hex digits", sum)
	}
	var pkg struct{ Dependencies map[string]string }
	must(t, json.Unmarshal([]byte(read("images/sdk/nodejs/package.json")), &pkg))
	if got, want := pkg.Dependencies["@opentelemetry/auto-instrumentations-node"], tagVersion(d.NodeJS); got != want {
		t.Errorf("images/sdk/nodejs/package.json pins auto-instrumentations-node %q, DefaultImages %s", got, d.NodeJS)
	}
	for name, want := range map[string]string{"autoinstrumentation-python": d.Python, "autoinstrumentation-java": d.Java, "autoinstrumentation-nodejs": d.NodeJS} {
		s, err := Lookup(name)
		must(t, err)
		if tagVersion(s.Tag) != tagVersion(want) {
			t.Errorf("row %s is tagged %s; its tag should carry the upstream version of %s", name, s.Tag, want)
		}
	}
}

// The lock pins every requirement at the version requirements.txt names,
// with at least one hash each: `pip install --require-hashes` is only as
// good as the lock it reads.
func TestPythonLockMatchesRequirements(t *testing.T) {
	root := repoRoot(t)
	norm := func(n string) string { return strings.ToLower(regexp.MustCompile(`[-_.]+`).ReplaceAllString(n, "-")) }
	req, err := os.ReadFile(filepath.Join(root, "images/sdk/python/requirements.txt"))
	must(t, err)
	lock, err := os.ReadFile(filepath.Join(root, "images/sdk/python/requirements.lock"))
	must(t, err)
	locked := map[string]string{}
	hashes := map[string]int{}
	var current string
	for _, line := range strings.Split(string(lock), "\n") {
		line = strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(line), "\\"))
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
		case strings.HasPrefix(line, "--hash=sha256:"):
			if len(strings.TrimPrefix(line, "--hash=sha256:")) != 64 {
				t.Errorf("lock: bad hash line %q", line)
			}
			hashes[current]++
		default:
			name, version, ok := strings.Cut(line, "==")
			if !ok {
				t.Fatalf("lock: line %q is not name==version", line)
			}
			current = norm(name)
			locked[current] = version
		}
	}
	for pkg, n := range hashes {
		if n == 0 {
			t.Errorf("lock: %s has no hash", pkg)
		}
	}
	n := 0
	for _, line := range strings.Split(string(req), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, version, ok := strings.Cut(line, "==")
		if !ok {
			t.Errorf("requirements.txt: %q is not pinned with ==", line)
			continue
		}
		n++
		if got := locked[norm(name)]; got != version {
			t.Errorf("requirements.lock has %s at %q, requirements.txt at %s: run images/sdk/python/lock.sh", name, got, version)
		}
	}
	if n < 50 || len(locked) <= n {
		t.Errorf("%d requirements and %d locked packages: the lock should hold the requirements and their dependencies", n, len(locked))
	}
}
