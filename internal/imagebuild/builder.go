package imagebuild

import (
	"compress/gzip"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/match"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Version is the builder's recipe version: part of every fingerprint and of
// the cache folder's name, bumped when the way images are written changes.
const Version = 2

// refAnnotation names an image inside an OCI layout.
const refAnnotation = "org.opencontainers.image.ref.name"

// Builder builds rows of a table, producing each content once per run and
// caching layers and tarballs under Cache.
type Builder struct {
	// Repo is the repository's root folder.
	Repo string
	// Cache is autotel's cache folder (DefaultCache); images go under
	// <Cache>/images/v<Version>.
	Cache string
	// Log receives progress lines; nil discards them.
	Log io.Writer
	// Arch is the image architecture; "" is this machine's (GOARCH).
	Arch string
	// Specs is the table; nil means Images.
	Specs []Spec

	produced map[string]producedResult
	built    map[string]builtImage
}

type producedResult struct {
	p   Produced
	err error
}

type builtImage struct {
	img   v1.Image
	fp    string
	blobs []string // cached layer files, bases' included
}

// DefaultCache is $AUTOTEL_CACHE, else $XDG_CACHE_HOME/autotel, else
// ~/.cache/autotel: the folder hack/cluster.sh and hack/demo.sh use.
func DefaultCache() string {
	if c := os.Getenv("AUTOTEL_CACHE"); c != "" {
		return c
	}
	if c := os.Getenv("XDG_CACHE_HOME"); c != "" {
		return filepath.Join(c, "autotel")
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return filepath.Join(os.TempDir(), "autotel-cache")
	}
	return filepath.Join(home, ".cache", "autotel")
}

func (b *Builder) log() io.Writer {
	if b.Log == nil {
		return io.Discard
	}
	return b.Log
}

func (b *Builder) logf(format string, args ...any) {
	fmt.Fprintf(b.log(), "autotel-image: "+format+"\n", args...)
}

func (b *Builder) specs() []Spec {
	if b.Specs != nil {
		return b.Specs
	}
	return Images
}

func (b *Builder) lookup(n string) (Spec, error) {
	var names []string
	for _, s := range b.specs() {
		if s.Name == n {
			return s, nil
		}
		names = append(names, s.Name)
	}
	return Spec{}, fmt.Errorf("unknown image %q (known: %s)", n, strings.Join(names, " "))
}

func (b *Builder) dir() string { return filepath.Join(b.Cache, "images", fmt.Sprintf("v%d", Version)) }

func (b *Builder) produce(c Content) (Produced, error) {
	if b.produced == nil {
		b.produced = map[string]producedResult{}
	}
	if r, ok := b.produced[c.ID]; ok {
		return r.p, r.err
	}
	p, err := c.Produce(b)
	if err != nil && !errors.Is(err, ErrUnavailable) {
		err = fmt.Errorf("producing %s: %w", c.Desc, err)
	}
	b.produced[c.ID] = producedResult{p, err}
	return p, err
}

// Image assembles the row named n and returns it with its fingerprint: a
// hash of everything that goes into it (tag aside), the same from run to run
// while no input changes.
func (b *Builder) Image(n string) (v1.Image, string, error) {
	if b.built == nil {
		b.built = map[string]builtImage{}
	}
	if r, ok := b.built[n]; ok {
		return r.img, r.fp, nil
	}
	if err := validateTable(b.specs()); err != nil {
		return nil, "", err
	}
	s, err := b.lookup(n)
	if err != nil {
		return nil, "", err
	}
	fp := sha256.New()
	fmt.Fprintf(fp, "autotel-image v%d\n", Version)
	// OCI media types: a docker archive records none, and OCI layout
	// readers (containers/image, skopeo) look only for OCI manifests.
	img := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	cfg := Config{}
	var blobs []string
	if s.Base != "" {
		base, baseFP, err := b.Image(s.Base)
		if err != nil {
			return nil, "", fmt.Errorf("base %s of %s: %w", s.Base, n, err)
		}
		img = base
		blobs = append(blobs, b.built[s.Base].blobs...)
		fmt.Fprintf(fp, "base %s\n", baseFP)
		if cfg, err = configOf(base); err != nil {
			return nil, "", err
		}
	}
	for i, l := range s.Layers {
		layer, layerFP, err := b.layer(l)
		if err != nil {
			return nil, "", fmt.Errorf("image %s, layer %d (%s): %w", n, i+1, l.Desc, err)
		}
		fmt.Fprintf(fp, "layer %s\n", layerFP)
		blobs = append(blobs, layerFP+".tar.gz")
		img, err = mutate.Append(img, mutate.Addendum{
			Layer:   layer,
			History: v1.History{Created: v1.Time{Time: time.Unix(0, 0).UTC()}, CreatedBy: "autotel-image: " + l.Desc, Comment: s.Name},
		})
		if err != nil {
			return nil, "", fmt.Errorf("image %s: appending layer %d: %w", n, i+1, err)
		}
	}
	cfg = mergeConfig(cfg, s.Config)
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, "", fmt.Errorf("image %s: reading its config: %w", n, err)
	}
	cf = cf.DeepCopy()
	cf.Architecture, cf.OS = b.arch(), "linux"
	cf.Created = v1.Time{Time: time.Unix(0, 0).UTC()}
	cf.Config.Entrypoint, cf.Config.Cmd = cfg.Entrypoint, cfg.Cmd
	cf.Config.Env, cf.Config.WorkingDir, cf.Config.User = cfg.Env, cfg.WorkingDir, cfg.User
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		return nil, "", fmt.Errorf("image %s: setting its config: %w", n, err)
	}
	cfgJSON, _ := json.Marshal(cf)
	fmt.Fprintf(fp, "config %s\n", cfgJSON)
	sum := fmt.Sprintf("%x", fp.Sum(nil))
	b.built[n] = builtImage{img, sum, blobs}
	return img, sum, nil
}

func (b *Builder) arch() string {
	if b.Arch != "" {
		return b.Arch
	}
	return runtime.GOARCH
}

func configOf(img v1.Image) (Config, error) {
	cf, err := img.ConfigFile()
	if err != nil {
		return Config{}, err
	}
	return Config{Entrypoint: cf.Config.Entrypoint, Cmd: cf.Config.Cmd, Env: cf.Config.Env, WorkingDir: cf.Config.WorkingDir, User: cf.Config.User}, nil
}

// layer produces a layer's files and returns the layer from the cache,
// writing it first when no layer with the same fingerprint is there. Layers
// are gzip-compressed once, when written: the docker archive and the OCI
// layout carry the compressed blob as it is.
func (b *Builder) layer(l Layer) (v1.Layer, string, error) {
	fp := sha256.New()
	fmt.Fprintf(fp, "layer v%d\n", Version)
	var sources []Source
	for _, f := range l.Files {
		p, err := b.produce(f.From)
		if errors.Is(err, ErrUnavailable) && f.Optional {
			b.logf("leaving out %s: %s", f.Dest, f.From.Desc)
			continue
		}
		if err != nil {
			return nil, "", err
		}
		fmt.Fprintf(fp, "file %s\n", f.Dest)
		if p.Key != "" {
			fmt.Fprintf(fp, "key %s\n", p.Key)
		} else if err := treeFingerprint(fp, p.Path); err != nil {
			return nil, "", err
		}
		sources = append(sources, Source{Path: p.Path, Dest: f.Dest})
	}
	if len(sources) == 0 {
		return nil, "", errors.New("the layer has no files")
	}
	sum := fmt.Sprintf("%x", fp.Sum(nil))
	blob := filepath.Join(b.dir(), "layers", sum+".tar.gz")
	if _, err := os.Stat(blob); err != nil {
		if err := writeBlob(blob, sources); err != nil {
			return nil, "", err
		}
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return os.Open(blob) }, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, "", fmt.Errorf("reading the cached layer %s: %w", blob, err)
	}
	return layer, sum, nil
}

func writeBlob(blob string, sources []Source) error {
	if err := os.MkdirAll(filepath.Dir(blob), 0o755); err != nil {
		return err
	}
	return writeAtomic(blob, func(w io.Writer) error {
		// Fast compression: layers are imported on this machine, not
		// pushed over a network; gzip keeps to what every runtime reads.
		gz, err := gzip.NewWriterLevel(w, gzip.BestSpeed)
		if err != nil {
			return err
		}
		if err := WriteLayer(gz, sources); err != nil {
			return err
		}
		return gz.Close()
	})
}

// writeAtomic writes a file through a temporary name next to it, so an
// interrupted build never leaves a truncated file behind.
func writeAtomic(out string, write func(io.Writer) error) error {
	tmp, err := os.CreateTemp(filepath.Dir(out), ".tmp-*")
	if err != nil {
		return fmt.Errorf("creating a temporary file next to %s: %w", out, err)
	}
	defer os.Remove(tmp.Name())
	if err := write(tmp); err != nil {
		tmp.Close()
		return fmt.Errorf("writing %s: %w", out, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", out, err)
	}
	// CreateTemp makes the file private; images are for any local user
	// (docker load, ctr import under sudo).
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), out); err != nil {
		return fmt.Errorf("moving %s into place: %w", out, err)
	}
	return nil
}

// Build writes the row named n as a docker-archive tarball (what `docker
// save` writes and `ctr images import` and `docker load` read) at
// <outDir>/<n>.tar and returns that path. tag overrides the row's tag
// when not empty. The tarball is kept in the cache by fingerprint: an
// unchanged image is linked or copied, not written again.
func (b *Builder) Build(n, tag, outDir string) (string, error) {
	img, fp, err := b.Image(n)
	if err != nil {
		return "", err
	}
	s, _ := b.lookup(n)
	if tag == "" {
		tag = s.Tag
	}
	ref, err := name.NewTag(tag, name.WeakValidation)
	if err != nil {
		return "", fmt.Errorf("image %s: tag %q: %w", n, tag, err)
	}
	key := fmt.Sprintf("%s %s", fp, tag)
	cached := filepath.Join(b.dir(), n+".tar")
	if old, err := os.ReadFile(cached + ".key"); err != nil || string(old) != key {
		if err := os.MkdirAll(b.dir(), 0o755); err != nil {
			return "", err
		}
		start := time.Now()
		if err := writeAtomic(cached, func(w io.Writer) error { return tarball.Write(ref, img, w) }); err != nil {
			return "", fmt.Errorf("image %s: %w", n, err)
		}
		if err := os.WriteFile(cached+".key", []byte(key), 0o644); err != nil {
			return "", err
		}
		if err := os.WriteFile(cached+".layers", []byte(strings.Join(b.built[n].blobs, "\n")+"\n"), 0o644); err != nil {
			return "", err
		}
		b.logf("wrote %s (%s) in %s", cached, tag, time.Since(start).Round(time.Millisecond))
		if err := b.pruneLayers(); err != nil {
			b.logf("pruning unused layers: %v", err)
		}
	}
	if outDir == "" || samePath(outDir, b.dir()) {
		return cached, nil
	}
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return "", err
	}
	out := filepath.Join(outDir, n+".tar")
	if err := linkOrCopy(cached, out); err != nil {
		return "", fmt.Errorf("image %s: placing it at %s: %w", n, out, err)
	}
	// The fingerprint beside it: callers (hack/demo.sh) restart pods when
	// it changes, since the tag stays :dev.
	if err := os.WriteFile(out+".key", []byte(fp+"\n"), 0o644); err != nil {
		return "", err
	}
	return out, nil
}

// pruneLayers removes cached layers no cached tarball uses (each tarball
// lists its layers in NAME.tar.layers), so that rebuilding a changed binary
// many times does not fill the disk. A layer written in the last few
// minutes is kept: another build may be about to use it.
func (b *Builder) pruneLayers() error {
	used := map[string]bool{}
	lists, err := filepath.Glob(filepath.Join(b.dir(), "*.tar.layers"))
	if err != nil {
		return err
	}
	for _, l := range lists {
		body, err := os.ReadFile(l)
		if err != nil {
			return err
		}
		for _, f := range strings.Fields(string(body)) {
			used[f] = true
		}
	}
	blobs, err := os.ReadDir(filepath.Join(b.dir(), "layers"))
	if err != nil {
		return err
	}
	for _, e := range blobs {
		info, err := e.Info()
		if err != nil || used[e.Name()] || time.Since(info.ModTime()) < layerGrace {
			continue
		}
		if err := os.Remove(filepath.Join(b.dir(), "layers", e.Name())); err != nil {
			return err
		}
	}
	return nil
}

// layerGrace is how long an unused layer is kept (a variable for tests).
var layerGrace = 10 * time.Minute

func samePath(a, b string) bool {
	aa, err1 := filepath.Abs(a)
	bb, err2 := filepath.Abs(b)
	return err1 == nil && err2 == nil && aa == bb
}

// linkOrCopy hard-links src at dst (an image is tens of MiB), copying when
// they are on different filesystems. A tarball is replaced, never written
// in place, so the link never sees a change.
func linkOrCopy(src, dst string) error {
	if a, err1 := os.Stat(src); err1 == nil {
		if d, err2 := os.Stat(dst); err2 == nil && os.SameFile(a, d) {
			return nil
		}
	}
	tmp := filepath.Join(filepath.Dir(dst), ".link-"+filepath.Base(dst))
	os.Remove(tmp)
	if err := os.Link(src, tmp); err == nil {
		return os.Rename(tmp, dst)
	}
	return writeAtomic(dst, func(w io.Writer) error {
		f, err := os.Open(src)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = io.Copy(w, f)
		return err
	})
}

// WriteLayout adds the rows named ns to the OCI image layout at dir
// (created when missing), each under its tag as
// org.opencontainers.image.ref.name, replacing an image with the same tag.
func (b *Builder) WriteLayout(dir string, ns ...string) error {
	p, err := layout.FromPath(dir)
	if err != nil {
		if p, err = layout.Write(dir, empty.Index); err != nil {
			return fmt.Errorf("creating an OCI layout at %s: %w", dir, err)
		}
	}
	for _, n := range ns {
		img, _, err := b.Image(n)
		if err != nil {
			return err
		}
		s, _ := b.lookup(n)
		ann := map[string]string{refAnnotation: s.Tag}
		if err := p.ReplaceImage(img, match.Annotation(refAnnotation, s.Tag), layout.WithAnnotations(ann)); err != nil {
			return fmt.Errorf("image %s: writing it into the OCI layout %s: %w", n, dir, err)
		}
	}
	return nil
}

// Describe is one row as `autotel-image list` prints it.
func Describe(s Spec) string {
	var from []string
	for _, l := range s.Layers {
		from = append(from, l.Desc)
	}
	base := "scratch"
	if s.Base != "" {
		base = s.Base
	}
	return fmt.Sprintf("%-18s %-46s %s (on %s: %s)", s.Name, s.Tag, s.Doc, base, strings.Join(from, "; "))
}
