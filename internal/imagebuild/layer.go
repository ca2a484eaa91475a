package imagebuild

import (
	"archive/tar"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
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

// entry is one path of the layer, from whichever source provides it.
type entry struct {
	name string // relative, no leading slash; directories without trailing slash
	src  string // file on disk; "" for a parent directory the layer implies
}

// WriteLayer writes sources as one uncompressed layer tar. Output is
// deterministic for the same inputs: entries are sorted, owners are root,
// directories and symlinks get a fixed time. Regular files keep their
// modification times because Python checks them against its compiled .pyc
// files. When two sources provide the same path, the later one wins, as a
// later COPY would.
func WriteLayer(w io.Writer, sources []Source) error {
	entries := map[string]entry{}
	for _, s := range sources {
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
		// A directory's time says when something in it was last created
		// on the build machine; nothing in a container reads it.
		hdr.ModTime = time.Unix(0, 0)
		hdr.Name += "/"
		return tw.WriteHeader(hdr)
	case info.Mode()&fs.ModeSymlink != 0:
		hdr.ModTime = time.Unix(0, 0) // likewise
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

// treeFingerprint describes a file or tree by what goes into a layer besides
// content that changes with it: names, sizes, modification times, modes and
// link targets. Reading every byte of a 100 MiB root filesystem on each run
// would cost seconds; producers whose output is rewritten on every run give
// a content key instead (see Content).
func treeFingerprint(w io.Writer, root string) error {
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("fingerprinting %s: %w", root, err)
		}
		info, err := d.Info()
		if err != nil {
			return fmt.Errorf("fingerprinting %s: %w", p, err)
		}
		rel, _ := filepath.Rel(root, p)
		link := ""
		if info.Mode()&fs.ModeSymlink != 0 {
			link, _ = os.Readlink(p)
		}
		_, err = fmt.Fprintf(w, "%s %d %d %o %s\n", filepath.ToSlash(rel), info.Size(), info.ModTime().UnixNano(), info.Mode(), link)
		return err
	})
}
