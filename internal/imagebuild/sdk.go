package imagebuild

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// The upstream-equivalent SDK images: what the OpenTelemetry Operator's
// autoinstrumentation-{python,java,nodejs} images hold at the versions its
// release defaults to, installed here from the package registries with each
// ecosystem's own client (pip, Maven, npm) as configured on this machine; no
// registry address is written in the repository. Versions and hashes are
// pinned in files under images/sdk/; each install is cached under
// <cache>/images/content keyed by those files, so a warm build runs no
// client at all.

// sdkRecipe is bumped when the way an SDK tree is installed or laid out
// changes, so cached trees are made anew.
const sdkRecipe = 3

// Python target of the SDK trees: the interpreter of the python base row
// (Debian bookworm's CPython 3.11). Upstream builds on python:3.14; the
// compiled wheels in the tree (wrapt, protobuf, psutil, charset-normalizer)
// are chosen for the interpreter the apps run, which here is 3.11.
const (
	sdkPythonVersion = "3.11"
	sdkPythonABI     = "cp311"
)

// pythonPlatforms are the wheel tags pip may pick for each libc (x86_64;
// other architectures are not built here).
var pythonPlatforms = map[string][]string{
	"glibc": {"manylinux2014_x86_64", "manylinux_2_17_x86_64"},
	"musl":  {"musllinux_1_1_x86_64", "musllinux_1_2_x86_64"},
}

// PythonSDKTree is images/sdk/python/requirements.lock installed with
// `pip install --target` for libc ("glibc" or "musl"), hash-checked
// (--require-hashes) and wheels only, for CPython 3.11: the tree upstream's
// image keeps at /autoinstrumentation (glibc) or /autoinstrumentation-musl.
// Sources are not byte-compiled (upstream's are, for its build's Python
// 3.14, which no 3.11 app could use): the app compiles them into the
// writable agent volume on first import. $AUTOTEL_PYTHON names the
// interpreter whose pip runs (default python3).
func PythonSDKTree(libc string) Content {
	desc := "pip install --target (" + libc + ", CPython " + sdkPythonVersion + ") of images/sdk/python/requirements.lock"
	lock := filepath.Join("images", "sdk", "python", "requirements.lock")
	return CachedDir("python-sdk-"+libc, desc,
		func(b *Builder) (string, error) {
			body, err := os.ReadFile(filepath.Join(b.Repo, lock))
			if err != nil {
				return "", fmt.Errorf("%s: %w (run images/sdk/python/lock.sh)", lock, err)
			}
			return fmt.Sprintf("python sdk recipe %d %s %s %s\n%s", sdkRecipe, libc, sdkPythonABI, strings.Join(pythonPlatforms[libc], ","), body), nil
		},
		func(b *Builder, dir string) error {
			platforms, ok := pythonPlatforms[libc]
			if !ok {
				return fmt.Errorf("no wheel platforms for libc %q", libc)
			}
			args := []string{"-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-input", "--root-user-action=ignore",
				"--require-hashes", "--only-binary=:all:", "--no-compile",
				"--python-version", sdkPythonVersion, "--implementation", "cp", "--abi", sdkPythonABI,
				"--cache-dir", filepath.Join(b.Cache, "pip"),
				"--target", dir, "-r", filepath.Join(b.Repo, lock)}
			for _, p := range platforms {
				args = append(args, "--platform", p)
			}
			py := envOr("AUTOTEL_PYTHON", "python3")
			cmd := exec.Command(py, args...)
			cmd.Stdout, cmd.Stderr = b.log(), b.log()
			b.logf("%s %s", py, strings.Join(args, " "))
			if err := cmd.Run(); err != nil {
				return fmt.Errorf("pip install of %s for %s failed (%w): check that `%s -m pip` works and reaches its index; after editing images/sdk/python/requirements.txt, run images/sdk/python/lock.sh", lock, libc, err, py)
			}
			sitecustomize := filepath.Join(dir, "opentelemetry", "instrumentation", "auto_instrumentation", "sitecustomize.py")
			if _, err := os.Stat(sitecustomize); err != nil {
				return fmt.Errorf("the install has no %s: the operator's PYTHONPATH would load nothing", strings.TrimPrefix(sitecustomize, dir))
			}
			if err := portableShebangs(filepath.Join(dir, "bin")); err != nil {
				return err
			}
			return readableByAll(dir)
		})
}

// portableShebangs points the console scripts pip wrote (opentelemetry-
// instrument, opentelemetry-bootstrap...) at `/usr/bin/env python3`: pip
// writes the path of the interpreter that ran it, which is this build
// machine's and would make the tree differ from machine to machine. In
// upstream's image they name its build image's interpreter, which an app
// container rarely has either.
func portableShebangs(bin string) error {
	entries, err := os.ReadDir(bin)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		p := filepath.Join(bin, e.Name())
		body, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		first, rest, _ := strings.Cut(string(body), "\n")
		if !strings.HasPrefix(first, "#!") || !strings.Contains(first, "python") {
			continue
		}
		if err := os.WriteFile(p, []byte("#!/usr/bin/env python3\n"+rest), 0o755); err != nil {
			return err
		}
	}
	return nil
}

// JavaAgentJar is the Java agent named in images/sdk/java/javaagent.txt,
// fetched with Maven (maven-dependency-plugin's copy goal, from the
// repositories Maven is configured with, into a local repository under the
// cache) and checked against the sha256 pinned there.
func JavaAgentJar() Content {
	const pin = "images/sdk/java/javaagent.txt"
	cached := CachedDir("java-agent", "Maven artifact of "+pin,
		func(b *Builder) (string, error) {
			coords, sum, err := readJavaPin(filepath.Join(b.Repo, pin))
			if err != nil {
				return "", err
			}
			return fmt.Sprintf("java agent recipe %d %s sha256:%s", sdkRecipe, coords, sum), nil
		},
		func(b *Builder, dir string) error {
			coords, sum, err := readJavaPin(filepath.Join(b.Repo, pin))
			if err != nil {
				return err
			}
			mvn := envOr("AUTOTEL_MVN", "mvn")
			args := []string{"-B", "-q", "-Dmaven.repo.local=" + filepath.Join(b.Cache, "maven"),
				mavenDependencyPlugin + ":copy", "-Dartifact=" + coords + ":jar",
				"-DoutputDirectory=" + dir, "-Dmdep.stripVersion=true"}
			cmd := exec.Command(mvn, args...)
			cmd.Dir = dir // no project here: the goal needs none
			cmd.Stdout, cmd.Stderr = b.log(), b.log()
			b.logf("%s %s", mvn, strings.Join(args, " "))
			if err := cmd.Run(); err != nil {
				return fmt.Errorf("maven could not fetch %s (%w): install Maven (Debian's maven package) and check that it reaches its configured repository", coords, err)
			}
			_, artifact, _ := strings.Cut(coords, ":")
			artifact, _, _ = strings.Cut(artifact, ":")
			got := filepath.Join(dir, artifact+".jar")
			h, err := sha256File(got)
			if err != nil {
				return fmt.Errorf("maven reported success but: %w", err)
			}
			if h != sum {
				return fmt.Errorf("%s: sha256 %s, but %s pins %s; if the version changed on purpose, put the new hash in %s", coords, h, pin, sum, pin)
			}
			// Upstream's image names it /javaagent.jar.
			if err := os.Rename(got, filepath.Join(dir, "javaagent.jar")); err != nil {
				return err
			}
			return readableByAll(dir)
		})
	return Content{ID: cached.ID, Desc: cached.Desc, Produce: func(b *Builder) (Produced, error) {
		p, err := cached.Produce(b)
		if err != nil {
			return p, err
		}
		p.Path = filepath.Join(p.Path, "javaagent.jar")
		return p, nil
	}}
}

// mavenDependencyPlugin is pinned: an unversioned goal would take whatever
// Maven resolves as latest.
const mavenDependencyPlugin = "org.apache.maven.plugins:maven-dependency-plugin:3.8.1"

// readJavaPin reads "group:artifact:version sha256:HEX" from the pin file.
func readJavaPin(p string) (coords, sum string, err error) {
	f, err := os.Open(p)
	if err != nil {
		return "", "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if len(f) != 2 || strings.Count(f[0], ":") != 2 || !strings.HasPrefix(f[1], "sha256:") || len(f[1]) != len("sha256:")+64 {
			return "", "", fmt.Errorf("%s: want one line `groupId:artifactId:version sha256:HEX`, got %q", p, line)
		}
		return f[0], strings.TrimPrefix(f[1], "sha256:"), nil
	}
	if err := sc.Err(); err != nil {
		return "", "", err
	}
	return "", "", fmt.Errorf("%s: no artifact line", p)
}

// NodeJSSDKTree is images/sdk/nodejs (package.json and its lock, every
// package with its integrity hash) installed with `npm ci` and laid out as
// upstream's Node.js image: node_modules/ and package.json, the
// auto-instrumentations-node package's build/src/ copied to the top, and
// autoinstrumentation.js (the file the operator's NODE_OPTIONS requires) a
// hard link to register.js. Scripts are not run: nothing in the set needs a
// build step, and scripts would make the tree depend on more than the lock.
func NodeJSSDKTree() Content {
	src := filepath.Join("images", "sdk", "nodejs")
	return CachedDir("nodejs-sdk", "npm ci of "+src+", laid out as upstream's image",
		func(b *Builder) (string, error) {
			var key strings.Builder
			fmt.Fprintf(&key, "nodejs sdk recipe %d\n", sdkRecipe)
			for _, f := range []string{"package.json", "package-lock.json"} {
				body, err := os.ReadFile(filepath.Join(b.Repo, src, f))
				if err != nil {
					return "", err
				}
				fmt.Fprintf(&key, "%s %x\n", f, sha256.Sum256(body))
			}
			return key.String(), nil
		},
		func(b *Builder, dir string) error {
			work, err := os.MkdirTemp(filepath.Dir(dir), ".npm-build-")
			if err != nil {
				return err
			}
			defer os.RemoveAll(work)
			for _, f := range []string{"package.json", "package-lock.json"} {
				if err := copyFile(filepath.Join(b.Repo, src, f), filepath.Join(work, f), 0o644); err != nil {
					return err
				}
			}
			npm := envOr("AUTOTEL_NPM", "npm")
			args := []string{"ci", "--omit=dev", "--ignore-scripts", "--engine-strict", "--no-audit", "--no-fund", "--loglevel=error",
				"--cache", filepath.Join(b.Cache, "npm")}
			cmd := exec.Command(npm, args...)
			cmd.Dir = work
			cmd.Stdout, cmd.Stderr = b.log(), b.log()
			b.logf("%s %s (in %s)", npm, strings.Join(args, " "), src)
			if err := cmd.Run(); err != nil {
				return fmt.Errorf("npm ci of %s failed (%w): put Node.js >= 20.6 and npm on PATH and check that `npm ping` works", src, err)
			}
			for _, f := range []string{"node_modules", "package.json"} {
				if err := os.Rename(filepath.Join(work, f), filepath.Join(dir, f)); err != nil {
					return err
				}
			}
			buildSrc := filepath.Join(dir, "node_modules", "@opentelemetry", "auto-instrumentations-node", "build", "src")
			if err := copyTree(buildSrc, dir); err != nil {
				return fmt.Errorf("laying out auto-instrumentations-node's build/src: %w", err)
			}
			if err := os.Link(filepath.Join(dir, "register.js"), filepath.Join(dir, "autoinstrumentation.js")); err != nil {
				return fmt.Errorf("auto-instrumentations-node has no register.js to link as autoinstrumentation.js: %w", err)
			}
			return readableByAll(dir)
		})
}

// copyTree copies the files and folders below src into dst.
func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		switch {
		case d.IsDir():
			return os.MkdirAll(target, 0o755)
		case d.Type().IsRegular():
			return copyFile(p, target, 0o644)
		default:
			return fmt.Errorf("%s: only files and folders are copied", p)
		}
	})
}

// readableByAll does what upstream's `chmod -R go+r` does (and makes
// folders searchable): the init container may run as any user. Times are
// fixed, since they say only when the install ran: the same lock then
// gives the same layer on every machine. (The trees hold no compiled
// Python, whose caches would check a source's time; the init container's
// `cp -r` gives the copies new times anyway.)
func readableByAll(dir string) error {
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type()&fs.ModeSymlink != 0 {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		mode := info.Mode().Perm() | 0o444
		if d.IsDir() || info.Mode()&0o100 != 0 {
			mode |= 0o111
		}
		if err := os.Chmod(p, mode); err != nil {
			return err
		}
		return os.Chtimes(p, time.Unix(0, 0), time.Unix(0, 0))
	})
}

func sha256File(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("hashing %s: %w", p, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
