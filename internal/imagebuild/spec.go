// Package imagebuild builds every container image the project makes, from
// one table (Images), without a Docker engine or a registry: the demo, the
// e2e tier and the local cluster import its docker-archive tarballs with
// `ctr -n k8s.io images import`; the Dockerfiles under build/, examples/ and
// agent/python/image/ stay as the recipe for users with Docker, and a test
// checks each agrees with its row (entrypoint, command, user, paths).
//
// Images are assembled with go-containerregistry (mutate, tarball, layout).
// Layers are written here, deterministically (sorted entries, root owners,
// no build time), so the same inputs give the same digests on every run;
// built tarballs are cached under the cache folder keyed by a fingerprint
// of everything that goes into them.
package imagebuild

import (
	"fmt"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
)

// Spec is one row of the table: an image, its name on the command line,
// its tag, what it is built on, and how each layer's files are produced.
type Spec struct {
	// Name is what `autotel-image build NAME` and hack/cluster-images.sh
	// take (e.g. python-agent).
	Name string
	// Tag is the repository:tag the node's image store keeps it under; pods
	// use it with imagePullPolicy IfNotPresent or Never.
	Tag string
	// Doc is one line for `autotel-image list`.
	Doc string
	// Base is the Name of the row whose layers and config come first; ""
	// builds on an empty image (FROM scratch).
	Base string
	// Layers go on top of Base's, bottom first.
	Layers []Layer
	// Config is merged over Base's: set fields replace, Env entries replace
	// the same variable or are appended.
	Config Config
	// Dockerfile (relative to the repository) documents the same image for
	// users with Docker; TestDockerfilesAgreeWithTable compares them.
	Dockerfile string
	// Hidden rows are bases or tooling images not listed by default.
	Hidden bool
}

// Layer is one image layer: files placed at absolute paths.
type Layer struct {
	// Desc becomes the layer's history entry ("created_by").
	Desc  string
	Files []File
}

// File puts one produced file or tree at Dest in the image.
type File struct {
	Dest string
	From Content
	// Optional files are left out when their content is not available on
	// this machine (Content.Produce returns ErrUnavailable).
	Optional bool
}

// Config is the part of an image config a container runtime reads.
type Config struct {
	Entrypoint []string
	Cmd        []string
	Env        []string
	WorkingDir string
	User       string
}

// Lookup returns the row named name.
func Lookup(name string) (Spec, error) {
	for _, s := range Images {
		if s.Name == name {
			return s, nil
		}
	}
	return Spec{}, fmt.Errorf("unknown image %q (known: %s)", name, strings.Join(Names(true), " "))
}

// Names lists the table's names in table order; hidden rows only with all.
func Names(all bool) []string {
	var out []string
	for _, s := range Images {
		if all || !s.Hidden {
			out = append(out, s.Name)
		}
	}
	return out
}

// validateTable reports rows that cannot be built: duplicate names or tags,
// a missing base, a cycle, or a tag without its :tag part.
func validateTable(specs []Spec) error {
	byName := map[string]Spec{}
	tags := map[string]string{}
	for _, s := range specs {
		if s.Name == "" {
			return fmt.Errorf("image row with tag %q has no name", s.Tag)
		}
		if _, dup := byName[s.Name]; dup {
			return fmt.Errorf("image %q appears twice in the table", s.Name)
		}
		byName[s.Name] = s
		if other, dup := tags[s.Tag]; dup {
			return fmt.Errorf("images %q and %q share the tag %s", other, s.Name, s.Tag)
		}
		tags[s.Tag] = s.Name
		if i := strings.LastIndex(s.Tag, ":"); i < 0 || strings.Contains(s.Tag[i:], "/") {
			return fmt.Errorf("image %q: tag %q has no :tag part; name one (e.g. %s:dev) so pods can use imagePullPolicy IfNotPresent", s.Name, s.Tag, s.Tag)
		}
		if _, err := name.NewTag(s.Tag, name.WeakValidation); err != nil {
			return fmt.Errorf("image %q: tag %q: %w", s.Name, s.Tag, err)
		}
	}
	for _, s := range specs {
		seen := map[string]bool{s.Name: true}
		for b := s.Base; b != ""; b = byName[b].Base {
			if _, ok := byName[b]; !ok {
				return fmt.Errorf("image %q: base %q is not in the table", s.Name, b)
			}
			if seen[b] {
				return fmt.Errorf("image %q: its bases form a cycle through %q", s.Name, b)
			}
			seen[b] = true
		}
	}
	return nil
}

// mergeConfig lays top over base the way a Dockerfile's later instructions
// override its FROM image's.
func mergeConfig(base, top Config) Config {
	out := base
	if top.Entrypoint != nil {
		out.Entrypoint = top.Entrypoint
		out.Cmd = nil // as in Docker: a new ENTRYPOINT drops the base's CMD
	}
	if top.Cmd != nil {
		out.Cmd = top.Cmd
	}
	if top.WorkingDir != "" {
		out.WorkingDir = top.WorkingDir
	}
	if top.User != "" {
		out.User = top.User
	}
	env := append([]string(nil), base.Env...)
	for _, kv := range top.Env {
		k, _, _ := strings.Cut(kv, "=")
		replaced := false
		for i, old := range env {
			if ok, _, _ := strings.Cut(old, "="); ok == k {
				env[i], replaced = kv, true
			}
		}
		if !replaced {
			env = append(env, kv)
		}
	}
	out.Env = env
	return out
}
