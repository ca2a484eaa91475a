// Package imagebuild writes container images as docker-archive tarballs
// (what `docker save` produces and `ctr images import` reads) from directory
// trees on disk, without a Docker engine or a registry: one uncompressed
// layer tar per tree, an image config, and manifest.json.
//
// Output is deterministic for the same inputs: entries are sorted, owners are
// root, and nothing records the build time. File modification times are kept
// because Python checks them against its compiled .pyc files.
package imagebuild

import (
	"archive/tar"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"syscall"
	"time"
)

// Source is a file or directory tree on disk placed at Dest (an absolute
// path) inside the image. A directory's contents go under Dest.
type Source struct {
	Path string
	Dest string
}

// Layer is one image layer made of one or more sources.
type Layer []Source

// Config is the part of the image config a container runtime reads.
type Config struct {
	Entrypoint []string          `json:"Entrypoint,omitempty"`
	Cmd        []string          `json:"Cmd,omitempty"`
	Env        []string          `json:"Env,omitempty"`
	WorkingDir string            `json:"WorkingDir,omitempty"`
	User       string            `json:"User,omitempty"`
	Labels     map[string]string `json:"Labels,omitempty"`
}

// Image is what Write turns into a tarball.
type Image struct {
	// Tag is the repository:tag the runtime stores the image under; a name
	// with a dotted first component (autotel.local/x:dev) is used verbatim.
	Tag    string
	Layers []Layer
	Config Config
	// Arch defaults to the machine's (GOARCH).
	Arch string
}

type imageConfig struct {
	Architecture string    `json:"architecture"`
	OS           string    `json:"os"`
	Created      time.Time `json:"created"`
	Config       Config    `json:"config"`
	RootFS       struct {
		Type    string   `json:"type"`
		DiffIDs []string `json:"diff_ids"`
	} `json:"rootfs"`
}

// ManifestEntry is one element of a docker archive's manifest.json.
type ManifestEntry struct {
	Config   string   `json:"Config"`
	RepoTags []string `json:"RepoTags"`
	Layers   []string `json:"Layers"`
}

// WriteFile builds img into a tarball at out, written through a temporary
// name so an interrupted build never leaves a truncated image behind.
func WriteFile(out string, img Image) error {
	dir := filepath.Dir(out)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("creating %s: %w", dir, err)
	}
	tmp, err := os.CreateTemp(dir, ".image-*.tar")
	if err != nil {
		return fmt.Errorf("creating a temporary file next to %s: %w", out, err)
	}
	defer os.Remove(tmp.Name())
	if err := Write(tmp, img, dir); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", tmp.Name(), err)
	}
	if err := os.Rename(tmp.Name(), out); err != nil {
		return fmt.Errorf("moving the image into place at %s: %w", out, err)
	}
	return nil
}

// Write builds img as a docker archive on w. Layers are staged in scratch
// (a directory; "" means the system's temporary folder) because a tar entry's
// size must be known before its content.
func Write(w io.Writer, img Image, scratch string) error {
	if img.Tag == "" {
		return errors.New("image needs a tag (repository:tag)")
	}
	if !strings.Contains(path.Base(img.Tag), ":") {
		return fmt.Errorf("image tag %q has no :tag part; say which (e.g. %s:dev) so that pods can use imagePullPolicy IfNotPresent", img.Tag, img.Tag)
	}
	if len(img.Layers) == 0 {
		return errors.New("image needs at least one layer")
	}
	arch := img.Arch
	if arch == "" {
		arch = runtime.GOARCH
	}

	out := tar.NewWriter(w)
	cfg := imageConfig{Architecture: arch, OS: "linux", Created: time.Unix(0, 0).UTC(), Config: img.Config}
	cfg.RootFS.Type = "layers"
	var manifest ManifestEntry
	manifest.RepoTags = []string{img.Tag}
	for i, l := range img.Layers {
		digest, err := copyLayer(out, l, scratch)
		if err != nil {
			return fmt.Errorf("layer %d of %s: %w", i+1, img.Tag, err)
		}
		cfg.RootFS.DiffIDs = append(cfg.RootFS.DiffIDs, "sha256:"+digest)
		manifest.Layers = append(manifest.Layers, digest+"/layer.tar")
	}
	cfgJSON, err := json.Marshal(cfg)
	if err != nil {
		return fmt.Errorf("encoding image config: %w", err)
	}
	sum := sha256.Sum256(cfgJSON)
	manifest.Config = hex.EncodeToString(sum[:]) + ".json"
	if err := writeBytes(out, manifest.Config, cfgJSON); err != nil {
		return err
	}
	mJSON, err := json.Marshal([]ManifestEntry{manifest})
	if err != nil {
		return fmt.Errorf("encoding manifest.json: %w", err)
	}
	if err := writeBytes(out, "manifest.json", mJSON); err != nil {
		return err
	}
	if err := out.Close(); err != nil {
		return fmt.Errorf("finishing the image archive: %w", err)
	}
	return nil
}

func writeBytes(tw *tar.Writer, name string, b []byte) error {
	if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(b)), Typeflag: tar.TypeReg, Format: tar.FormatPAX}); err != nil {
		return fmt.Errorf("writing %s: %w", name, err)
	}
	if _, err := tw.Write(b); err != nil {
		return fmt.Errorf("writing %s: %w", name, err)
	}
	return nil
}

// copyLayer stages the layer tar, then copies it into the archive under
// its digest, returned as hex.
func copyLayer(out *tar.Writer, l Layer, scratch string) (string, error) {
	f, err := os.CreateTemp(scratch, ".layer-*.tar")
	if err != nil {
		return "", fmt.Errorf("creating a scratch file for the layer: %w", err)
	}
	defer os.Remove(f.Name())
	defer f.Close()
	h := sha256.New()
	if err := WriteLayer(io.MultiWriter(f, h), l); err != nil {
		return "", err
	}
	size, err := f.Seek(0, io.SeekCurrent)
	if err != nil {
		return "", fmt.Errorf("sizing the layer: %w", err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return "", fmt.Errorf("rewinding the layer: %w", err)
	}
	digest := hex.EncodeToString(h.Sum(nil))
	if err := out.WriteHeader(&tar.Header{Name: digest + "/", Mode: 0o755, Typeflag: tar.TypeDir, Format: tar.FormatPAX}); err != nil {
		return "", fmt.Errorf("writing layer directory: %w", err)
	}
	if err := out.WriteHeader(&tar.Header{Name: digest + "/layer.tar", Mode: 0o644, Size: size, Typeflag: tar.TypeReg, Format: tar.FormatPAX}); err != nil {
		return "", fmt.Errorf("writing layer header: %w", err)
	}
	if _, err := io.Copy(out, f); err != nil {
		return "", fmt.Errorf("copying layer into the archive: %w", err)
	}
	return digest, nil
}

// entry is one path of the layer, from whichever source provides it.
type entry struct {
	name string // relative, no leading slash; directories without trailing slash
	src  string // file on disk; "" for a parent directory the layer implies
}

// WriteLayer writes l as an uncompressed layer tar. When two sources
// provide the same path, the later one wins, as a later COPY would.
func WriteLayer(w io.Writer, l Layer) error {
	entries := map[string]entry{}
	for _, s := range l {
		if !path.IsAbs(s.Dest) {
			return fmt.Errorf("destination %q of %s must be an absolute path", s.Dest, s.Path)
		}
		dest := strings.TrimPrefix(path.Clean(s.Dest), "/")
		if err := collect(entries, s.Path, dest); err != nil {
			return err
		}
	}
	// Parent directories a source implies (e.g. /app for /app/main.py).
	for name := range entries {
		for dir := path.Dir(name); dir != "." && dir != ""; dir = path.Dir(dir) {
			if _, ok := entries[dir]; !ok {
				entries[dir] = entry{name: dir}
			}
		}
	}
	names := make([]string, 0, len(entries))
	for n := range entries {
		names = append(names, n)
	}
	sort.Strings(names)

	tw := tar.NewWriter(w)
	links := map[[2]uint64]string{} // (dev, inode) of regular files already written
	for _, n := range names {
		if err := writeEntry(tw, entries[n], links); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("finishing layer: %w", err)
	}
	return nil
}

func collect(entries map[string]entry, src, dest string) error {
	info, err := os.Lstat(src)
	if err != nil {
		return fmt.Errorf("reading layer source: %w", err)
	}
	if !info.IsDir() {
		if dest == "" {
			return fmt.Errorf("file %s needs a destination path, not /", src)
		}
		entries[dest] = entry{name: dest, src: src}
		return nil
	}
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("walking %s: %w", src, err)
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		name := path.Join(dest, filepath.ToSlash(rel))
		if name == "." || name == "" {
			return nil // the image root itself
		}
		entries[name] = entry{name: name, src: p}
		return nil
	})
}

func writeEntry(tw *tar.Writer, e entry, links map[[2]uint64]string) error {
	hdr := &tar.Header{Name: e.name, Mode: 0o755, Typeflag: tar.TypeDir, Format: tar.FormatPAX, ModTime: time.Unix(0, 0)}
	if e.src == "" {
		hdr.Name += "/"
		return tw.WriteHeader(hdr)
	}
	info, err := os.Lstat(e.src)
	if err != nil {
		return fmt.Errorf("reading %s: %w", e.src, err)
	}
	hdr.Mode = int64(info.Mode().Perm())
	if info.Mode()&fs.ModeSetuid != 0 {
		hdr.Mode |= 0o4000
	}
	if info.Mode()&fs.ModeSetgid != 0 {
		hdr.Mode |= 0o2000
	}
	if info.Mode()&fs.ModeSticky != 0 {
		hdr.Mode |= 0o1000
	}
	hdr.ModTime = info.ModTime().Truncate(time.Second)
	switch {
	case info.IsDir():
		hdr.Name += "/"
		return tw.WriteHeader(hdr)
	case info.Mode()&fs.ModeSymlink != 0:
		target, err := os.Readlink(e.src)
		if err != nil {
			return fmt.Errorf("reading link %s: %w", e.src, err)
		}
		hdr.Typeflag, hdr.Linkname = tar.TypeSymlink, target
		return tw.WriteHeader(hdr)
	case info.Mode().IsRegular():
	default:
		return fmt.Errorf("%s is a %s; layers hold only files, directories and symlinks", e.src, info.Mode().Type())
	}
	if st, ok := info.Sys().(*syscall.Stat_t); ok && st.Nlink > 1 {
		key := [2]uint64{uint64(st.Dev), st.Ino}
		if first, seen := links[key]; seen {
			hdr.Typeflag, hdr.Linkname = tar.TypeLink, first
			return tw.WriteHeader(hdr)
		}
		links[key] = e.name
	}
	hdr.Typeflag, hdr.Size = tar.TypeReg, info.Size()
	if err := tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("writing header of %s: %w", e.name, err)
	}
	f, err := os.Open(e.src)
	if err != nil {
		return fmt.Errorf("opening %s: %w", e.src, err)
	}
	defer f.Close()
	if n, err := io.Copy(tw, f); err != nil {
		return fmt.Errorf("copying %s: %w", e.src, err)
	} else if n != info.Size() {
		return fmt.Errorf("%s changed size while being read", e.src)
	}
	return nil
}

// DiffID is the digest a layer tar is known by in the image config.
func DiffID(r io.Reader) (string, error) {
	h := sha256.New()
	if _, err := io.Copy(h, r); err != nil {
		return "", err
	}
	return digestOf(h), nil
}

func digestOf(h hash.Hash) string { return "sha256:" + hex.EncodeToString(h.Sum(nil)) }
