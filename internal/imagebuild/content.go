package imagebuild

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// ErrUnavailable is what a Content's Produce returns when this machine
// cannot provide it; a File marked Optional is then left out.
var ErrUnavailable = errors.New("not available on this machine")

// Content produces a file or directory tree for a layer. Producers are
// plain functions so that a row can be filled by anything with a cache key:
// a go build, Debian packages, files of the repository, or (later) pip run
// into a folder, a jar from Maven, packages from npm.
type Content struct {
	// ID names the content for the run: each ID is produced once per
	// Builder and shared by every image that uses it.
	ID string
	// Desc says what it is, for history entries and docs.
	Desc string
	// Produce puts the content on disk (under b.Cache when it must write)
	// and says where.
	Produce func(b *Builder) (Produced, error)
}

// Produced is a producer's result.
type Produced struct {
	// Path is a file or a directory; a directory's contents go under the
	// File's Dest.
	Path string
	// Key changes whenever the content does (a hash of a binary, the exact
	// package versions a root filesystem was made from). Empty means the
	// builder fingerprints Path's names, sizes, times and modes instead,
	// which is right for trees whose files keep their times from run to run.
	Key string
}

// RepoFile is a file or tree of the repository, relative to its root.
func RepoFile(rel string) Content {
	return Content{ID: "repo:" + rel, Desc: rel, Produce: func(b *Builder) (Produced, error) {
		p := filepath.Join(b.Repo, rel)
		if _, err := os.Lstat(p); err != nil {
			return Produced{}, fmt.Errorf("%s: %w", rel, err)
		}
		return Produced{Path: p}, nil
	}}
}

// HostFile is a file of this machine (e.g. its CA bundle), ErrUnavailable
// when it has none.
func HostFile(p string) Content {
	return Content{ID: "host:" + p, Desc: p + " of the build machine", Produce: func(b *Builder) (Produced, error) {
		if _, err := os.Stat(p); err != nil {
			return Produced{}, fmt.Errorf("%s: %w", p, ErrUnavailable)
		}
		return Produced{Path: p}, nil
	}}
}

// GoBinary is a static build (CGO_ENABLED=0, -trimpath, -s -w) of the main
// package pkg inside the Go module at moduleDir (relative to the
// repository), as the Dockerfiles' build stages run it. The module is built
// on its own (GOWORK=off): a workspace of a test folder must not change it.
// extraLDFlags are appended to -ldflags.
func GoBinary(out, moduleDir, pkg string, extraLDFlags ...string) Content {
	return Content{ID: "go:" + moduleDir + ":" + pkg, Desc: "go build " + pkg + " (module " + moduleDir + ")", Produce: func(b *Builder) (Produced, error) {
		bin := filepath.Join(b.Cache, "images", "bin", out)
		if err := os.MkdirAll(filepath.Dir(bin), 0o755); err != nil {
			return Produced{}, err
		}
		ldflags := strings.Join(append([]string{"-s", "-w"}, extraLDFlags...), " ")
		cmd := exec.Command("go", "build", "-trimpath", "-ldflags", ldflags, "-o", bin, pkg)
		cmd.Dir = filepath.Join(b.Repo, moduleDir)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOWORK=off", "GOFLAGS=-buildvcs=false")
		cmd.Stdout, cmd.Stderr = b.log(), b.log()
		b.logf("go build %s (in %s)", pkg, moduleDir)
		if err := cmd.Run(); err != nil {
			return Produced{}, fmt.Errorf("go build %s in %s: %w", pkg, moduleDir, err)
		}
		return fileKey(bin)
	}}
}

// collectorBinary is the collector's static binary: $AUTOTEL_COLLECTOR_BIN
// when set, else a build of $AUTOTEL_COLLECTOR_PKG (./cmd/autotel-collector)
// in the Go module $AUTOTEL_COLLECTOR_MODULE (collector), with the version
// build/Dockerfile.collector stamps.
func collectorBinary() Content {
	c := Content{ID: "collector-binary", Desc: "go build ./cmd/autotel-collector (module collector)"}
	c.Produce = func(b *Builder) (Produced, error) {
		if p := os.Getenv("AUTOTEL_COLLECTOR_BIN"); p != "" {
			if st, err := os.Stat(p); err != nil || st.Mode()&0o111 == 0 {
				return Produced{}, fmt.Errorf("AUTOTEL_COLLECTOR_BIN=%s is not an executable; unset it to build the collector from collector/", p)
			}
			return fileKey(p)
		}
		module := envOr("AUTOTEL_COLLECTOR_MODULE", "collector")
		pkg := envOr("AUTOTEL_COLLECTOR_PKG", "./cmd/autotel-collector")
		if _, err := os.Stat(filepath.Join(b.Repo, module, pkg)); err != nil {
			return Produced{}, fmt.Errorf("no collector main package at %s/%s: set AUTOTEL_COLLECTOR_MODULE and AUTOTEL_COLLECTOR_PKG, or AUTOTEL_COLLECTOR_BIN to a built binary", module, pkg)
		}
		return GoBinary("autotel-collector", module, pkg, "-X main.version=dev").Produce(b)
	}
	return c
}

// pythonAgentTree is what the agent image carries at /autoinstrumentation
// and /autoinstrumentation-musl: the files of agent/python/src without
// compiled caches, readable by any user (the init container may run as
// non-root), with their modification times. It is copied into the cache
// once per version of the sources (names, sizes, times, modes), so runs in
// parallel never rewrite a tree another is packing.
// $AUTOTEL_PYTHON_AGENT_TREE replaces it with any directory (for instance
// upstream's tree, to compare).
func pythonAgentTree() Content {
	const desc = "agent/python/src (no __pycache__, *.pyc, *.pyo)"
	cached := CachedDir("python-agent-tree", desc,
		func(b *Builder) (string, error) {
			var key strings.Builder
			err := walkAgent(filepath.Join(b.Repo, "agent", "python", "src"), func(p, rel string, d fs.DirEntry) error {
				info, err := d.Info()
				if err != nil {
					return err
				}
				fmt.Fprintf(&key, "%s %v %d %d\n", rel, d.IsDir(), info.Size(), info.ModTime().UnixNano())
				return nil
			})
			return "agent tree v1\n" + key.String(), err
		},
		func(b *Builder, out string) error {
			src := filepath.Join(b.Repo, "agent", "python", "src")
			n := 0
			err := walkAgent(src, func(p, rel string, d fs.DirEntry) error {
				dst := filepath.Join(out, rel)
				if d.IsDir() {
					return os.MkdirAll(dst, 0o755)
				}
				n++
				return copyFile(p, dst, 0o644)
			})
			if err != nil {
				return fmt.Errorf("copying the agent from %s: %w", src, err)
			}
			if _, err := os.Stat(filepath.Join(out, "opentelemetry", "instrumentation", "auto_instrumentation", "sitecustomize.py")); err != nil {
				return fmt.Errorf("no sitecustomize.py under %s/opentelemetry/instrumentation/auto_instrumentation: the operator's PYTHONPATH would find no agent", src)
			}
			// Directory times follow the copy, not the source: fix them so
			// the layer is the same from copy to copy.
			err = filepath.WalkDir(out, func(p string, d fs.DirEntry, err error) error {
				if err == nil && d.IsDir() {
					err = os.Chtimes(p, time.Unix(0, 0), time.Unix(0, 0))
				}
				return err
			})
			b.logf("python agent: %d files from agent/python/src", n)
			return err
		})
	return Content{ID: cached.ID, Desc: desc, Produce: func(b *Builder) (Produced, error) {
		if p := os.Getenv("AUTOTEL_PYTHON_AGENT_TREE"); p != "" {
			if st, err := os.Stat(p); err != nil || !st.IsDir() {
				return Produced{}, fmt.Errorf("AUTOTEL_PYTHON_AGENT_TREE=%s is not a directory", p)
			}
			return Produced{Path: p}, nil
		}
		return cached.Produce(b)
	}}
}

// walkAgent visits the agent's sources below src in lexical order, without
// compiled caches; rel is relative to src ("." for src itself).
func walkAgent(src string, visit func(p, rel string, d fs.DirEntry) error) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		switch {
		case d.IsDir() && d.Name() == "__pycache__":
			return filepath.SkipDir
		case !d.IsDir() && (strings.HasSuffix(p, ".pyc") || strings.HasSuffix(p, ".pyo")):
			return nil
		case !d.IsDir() && !d.Type().IsRegular():
			return fmt.Errorf("%s: the agent tree holds only files and folders", p)
		}
		return visit(p, rel, d)
	})
}

// copyFile copies src to dst with mode, keeping the modification time.
func copyFile(src, dst string, mode os.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	st, err := in.Stat()
	if err != nil {
		return err
	}
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Close(); err != nil {
		return err
	}
	if err := os.Chmod(dst, mode); err != nil { // umask
		return err
	}
	return os.Chtimes(dst, st.ModTime(), st.ModTime())
}

// fileKey keys a file by its content: a go build rewrites its output on
// every run, so its time says nothing.
func fileKey(p string) (Produced, error) {
	f, err := os.Open(p)
	if err != nil {
		return Produced{}, err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return Produced{}, fmt.Errorf("hashing %s: %w", p, err)
	}
	st, err := f.Stat()
	if err != nil {
		return Produced{}, err
	}
	return Produced{Path: p, Key: fmt.Sprintf("sha256:%x mode %o", h.Sum(nil), st.Mode())}, nil
}

func envOr(k, d string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return d
}

// ---------------------------------------------------------------- Debian

// rootfsRecipe is bumped when the way a root filesystem is assembled
// changes, so cached ones are made anew.
const rootfsRecipe = 1

// DebianRootfs is a root filesystem made of Debian packages (pinned like
// "python3=3.11.2-*": the glob takes Debian's security rebuilds of the same
// upstream version) and their dependency closure, unpacked without running
// maintainer scripts: a container needs their files, not dpkg's database or
// services. finish, if set, does what the packages' scripts would that the
// image needs; it runs once per root filesystem. Cached under
// <cache>/rootfs/<kind>-<key>, keyed by the exact versions of every package
// in the closure, so a rebuild happens only when Debian publishes a new
// version of one.
func DebianRootfs(kind string, packages []string, finish func(b *Builder, rootfs string) error) Content {
	return Content{ID: "debian:" + kind, Desc: "Debian packages " + strings.Join(packages, " ") + " and their dependencies", Produce: func(b *Builder) (Produced, error) {
		closure, err := aptResolve(b, packages)
		if err != nil {
			return Produced{}, err
		}
		sum := sha256.Sum256([]byte(fmt.Sprintf("recipe %d\n%s\n", rootfsRecipe, strings.Join(closure, "\n"))))
		key := hex.EncodeToString(sum[:])[:16]
		dir := filepath.Join(b.Cache, "rootfs", kind+"-"+key)
		rootfs := filepath.Join(dir, "rootfs")
		if _, err := os.Stat(rootfs); err != nil {
			if err := assembleRootfs(b, kind, closure, dir); err != nil {
				return Produced{}, err
			}
		}
		marker := filepath.Join(dir, "finished")
		if _, err := os.Stat(marker); err != nil && finish != nil {
			if err := finish(b, rootfs); err != nil {
				return Produced{}, fmt.Errorf("finishing the %s root filesystem: %w", kind, err)
			}
		}
		if err := os.WriteFile(marker, nil, 0o644); err != nil {
			return Produced{}, err
		}
		// The key, not the tree's times: finish steps touch files.
		return Produced{Path: rootfs, Key: fmt.Sprintf("debian %s recipe %d\n%s", kind, rootfsRecipe, strings.Join(closure, "\n"))}, nil
	}}
}

// aptResolve is the full dependency closure of packages as sorted
// "name=version" lines, from apt's own resolver run against an empty
// package database.
func aptResolve(b *Builder, packages []string) ([]string, error) {
	args := append([]string{"install", "-s", "-qq", "--no-install-recommends", "-o", "Dir::State::status=/dev/null"}, packages...)
	out, err := exec.Command("apt-get", args...).CombinedOutput()
	if err != nil {
		b.logf("refreshing Debian package lists (apt-get update)")
		up := exec.Command("apt-get", "update", "-qq")
		up.Stdout, up.Stderr = b.log(), b.log()
		if err := up.Run(); err != nil {
			return nil, fmt.Errorf("apt-get update failed (%w); check the machine's Debian package sources", err)
		}
		if out, err = exec.Command("apt-get", args...).CombinedOutput(); err != nil {
			return nil, fmt.Errorf("apt cannot resolve %s: %w\n%s\nIf Debian moved one of them to a new upstream version, update the pins in internal/imagebuild/table.go", strings.Join(packages, " "), err, out)
		}
	}
	var closure []string
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) >= 3 && f[0] == "Inst" {
			closure = append(closure, f[1]+"="+strings.Trim(f[2], "()"))
		}
	}
	if len(closure) == 0 {
		return nil, fmt.Errorf("apt resolved no packages for %s:\n%s", strings.Join(packages, " "), out)
	}
	sort.Strings(closure)
	return closure, nil
}

// debOf is the downloaded package file of "name=version" in dir (apt
// writes an epoch's colon as %3a).
func debOf(dir, pkg string) string {
	name, version, _ := strings.Cut(pkg, "=")
	m, _ := filepath.Glob(filepath.Join(dir, name+"_"+strings.Replace(version, ":", "%3a", 1)+"_*.deb"))
	if len(m) == 0 {
		return ""
	}
	return m[0]
}

func assembleRootfs(b *Builder, kind string, closure []string, dir string) error {
	start := time.Now()
	b.logf("assembling the %s root filesystem from %d Debian packages into %s", kind, len(closure), dir)
	debs := filepath.Join(b.Cache, "debs")
	if err := os.MkdirAll(debs, 0o755); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return err
	}
	var want []string
	for _, p := range closure {
		if debOf(debs, p) == "" {
			want = append(want, p)
		}
	}
	if len(want) > 0 {
		dl := exec.Command("apt-get", append([]string{"download", "-qq", "-o", "APT::Sandbox::User=root"}, want...)...)
		dl.Dir, dl.Stdout, dl.Stderr = debs, b.log(), b.log()
		if err := dl.Run(); err != nil {
			return fmt.Errorf("downloading Debian packages for %s (%s): %w", kind, strings.Join(want, " "), err)
		}
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), "."+kind+".")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	rootfs := filepath.Join(tmp, "rootfs")
	// Debian bookworm is merged-/usr: packages still ship /bin, /lib...,
	// which must land in /usr through these links.
	for _, d := range []string{"bin", "lib", "lib64", "sbin"} {
		if err := os.MkdirAll(filepath.Join(rootfs, "usr", d), 0o755); err != nil {
			return err
		}
		if err := os.Symlink("usr/"+d, filepath.Join(rootfs, d)); err != nil {
			return err
		}
	}
	for _, p := range closure {
		deb := debOf(debs, p)
		if deb == "" {
			return fmt.Errorf("package file for %s missing from %s after download", p, debs)
		}
		if err := extractDeb(deb, rootfs); err != nil {
			return err
		}
	}
	for _, d := range []string{"tmp", "etc", "root"} {
		if err := os.MkdirAll(filepath.Join(rootfs, d), 0o755); err != nil {
			return err
		}
	}
	if err := os.Chmod(filepath.Join(rootfs, "tmp"), 0o1777); err != nil {
		return err
	}
	files := map[string]string{
		"etc/passwd": "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n",
		"etc/group":  "root:x:0:\nnogroup:x:65534:\n",
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(rootfs, name), []byte(body), 0o644); err != nil {
			return err
		}
		// Fixed times for files made here, so the layer is the same on
		// every machine that assembles it.
		if err := os.Chtimes(filepath.Join(rootfs, name), time.Unix(0, 0), time.Unix(0, 0)); err != nil {
			return err
		}
	}
	if err := os.WriteFile(filepath.Join(tmp, "packages.txt"), []byte(strings.Join(closure, "\n")+"\n"), 0o644); err != nil {
		return err
	}
	if err := os.Rename(tmp, dir); err != nil {
		return fmt.Errorf("moving the %s root filesystem into place: %w", kind, err)
	}
	b.logf("assembled the %s root filesystem in %s", kind, time.Since(start).Round(time.Second))
	return nil
}

// extractDeb unpacks a package's files with dpkg-deb and tar, keeping the
// merged-/usr links in place.
func extractDeb(deb, rootfs string) error {
	var stderr bytes.Buffer
	dpkg := exec.Command("dpkg-deb", "--fsys-tarfile", deb)
	untar := exec.Command("tar", "-x", "--keep-directory-symlink", "-C", rootfs)
	pipe, err := dpkg.StdoutPipe()
	if err != nil {
		return err
	}
	untar.Stdin = pipe
	dpkg.Stderr, untar.Stderr = &stderr, &stderr
	if err := dpkg.Start(); err != nil {
		return fmt.Errorf("dpkg-deb (from Debian's dpkg) is needed to unpack %s: %w", deb, err)
	}
	uerr := untar.Run()
	derr := dpkg.Wait()
	if derr != nil || uerr != nil {
		return fmt.Errorf("extracting %s: %v %v\n%s", deb, derr, uerr, stderr.String())
	}
	return nil
}

// finishPython does what the packages' postinst would that a container
// needs: the shared library cache, and byte-compiled modules so that a pod
// start does not recompile the standard library and Flask.
func finishPython(b *Builder, rootfs string) error {
	if out, err := exec.Command("ldconfig", "-r", rootfs).CombinedOutput(); err != nil {
		return fmt.Errorf("ldconfig -r %s: %w\n%s", rootfs, err, out)
	}
	if out, err := exec.Command("chroot", rootfs, "/usr/bin/python3", "-m", "compileall", "-q", "/usr/lib/python3.11", "/usr/lib/python3/dist-packages").CombinedOutput(); err != nil {
		return fmt.Errorf("byte-compiling the Python root filesystem (chroot, needs root): %w\n%s", err, out)
	}
	// The made files' own times are never checked (a .pyc records its
	// source's time inside); fixed ones keep the layer the same from
	// machine to machine.
	return filepath.WalkDir(rootfs, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() && (strings.HasSuffix(p, ".pyc") || p == filepath.Join(rootfs, "etc", "ld.so.cache")) {
			err = os.Chtimes(p, time.Unix(0, 0), time.Unix(0, 0))
		}
		return err
	})
}

// finishBusybox adds busybox's applet links (sh, cp, ls...), which
// busybox-static's package does not ship.
func finishBusybox(b *Builder, rootfs string) error {
	out, err := exec.Command(filepath.Join(rootfs, "bin", "busybox"), "--list").Output()
	if err != nil {
		return fmt.Errorf("busybox --list: %w", err)
	}
	for _, a := range strings.Fields(string(out)) {
		link := filepath.Join(rootfs, "bin", a)
		if _, err := os.Lstat(link); err == nil {
			continue
		}
		if err := os.Symlink("busybox", link); err != nil {
			return err
		}
	}
	return nil
}

// CachedDir is a Content made by a function that fills a folder, run only
// when no folder with the same key is in the cache: the shape of producers
// that install from a package registry (pip --target, a Maven jar, npm
// install), whose key is what they install (names, exact versions, the
// interpreter) and which are too slow to run on every build. key is cheap;
// fill writes into an empty folder that becomes the content when it
// returns without error.
func CachedDir(id, desc string, key func(b *Builder) (string, error), fill func(b *Builder, dir string) error) Content {
	return Content{ID: id, Desc: desc, Produce: func(b *Builder) (Produced, error) {
		k, err := key(b)
		if err != nil {
			return Produced{}, err
		}
		sum := sha256.Sum256([]byte(k))
		dir := filepath.Join(b.Cache, "images", "content", id+"-"+hex.EncodeToString(sum[:])[:16])
		if _, err := os.Stat(dir); err == nil {
			return Produced{Path: dir, Key: k}, nil
		}
		if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
			return Produced{}, err
		}
		tmp, err := os.MkdirTemp(filepath.Dir(dir), "."+id+"-")
		if err != nil {
			return Produced{}, err
		}
		defer os.RemoveAll(tmp)
		b.logf("producing %s", desc)
		if err := fill(b, tmp); err != nil {
			return Produced{}, err
		}
		if err := os.Chmod(tmp, 0o755); err != nil { // MkdirTemp's 0700 would go into the layer
			return Produced{}, err
		}
		if err := os.Rename(tmp, dir); err != nil {
			if _, serr := os.Stat(dir); serr == nil {
				// Another run made the same content meanwhile.
				return Produced{Path: dir, Key: k}, nil
			}
			return Produced{}, fmt.Errorf("moving %s into place: %w", desc, err)
		}
		return Produced{Path: dir, Key: k}, nil
	}}
}
