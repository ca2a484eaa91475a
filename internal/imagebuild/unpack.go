package imagebuild

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/google/go-containerregistry/pkg/v1/mutate"
)

// Unpack extracts a flattened image file system (mutate.Extract's tar) into
// dir, the way a runtime lays out a container's root: directories, files
// with their modes, symlinks and hard links. It is for tests that run the
// image's own programs (the agent's init container copy) without a runtime.
func Unpack(r io.ReadCloser, dir string) error {
	defer r.Close()
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading the image's files: %w", err)
		}
		name := filepath.Clean("/" + h.Name)
		if strings.Contains(h.Name, "..") {
			return fmt.Errorf("unsafe path %q in the image", h.Name)
		}
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		switch h.Typeflag {
		case tar.TypeDir:
			err = os.MkdirAll(p, os.FileMode(h.Mode)&0o7777|0o700)
		case tar.TypeSymlink:
			err = os.Symlink(h.Linkname, p)
		case tar.TypeLink:
			err = os.Link(filepath.Join(dir, filepath.Clean("/"+h.Linkname)), p)
		case tar.TypeReg:
			var f *os.File
			if f, err = os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, os.FileMode(h.Mode)&0o777); err == nil {
				_, err = io.Copy(f, tr)
				if cerr := f.Close(); err == nil {
					err = cerr
				}
			}
			if err == nil {
				err = os.Chtimes(p, h.ModTime, h.ModTime)
			}
		default:
			err = fmt.Errorf("entry type %q is not supported", h.Typeflag)
		}
		if err != nil {
			return fmt.Errorf("unpacking %s: %w", h.Name, err)
		}
	}
}

// Rootfs unpacks the file system of the row named n into dir (its layers
// applied in order), for tests that run an image's programs without a
// container runtime.
func (b *Builder) Rootfs(n, dir string) error {
	img, _, err := b.Image(n)
	if err != nil {
		return err
	}
	if err := Unpack(mutate.Extract(img), dir); err != nil {
		return fmt.Errorf("image %s: %w", n, err)
	}
	return nil
}
