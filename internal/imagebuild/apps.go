package imagebuild

import (
	"crypto/sha256"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// The Java and Node.js samples' Debian runtimes, pinned to their upstream
// versions like the Python base's (the glob takes Debian's rebuilds of the
// same version). Java 17 is the bookworm security pocket's current update.
var (
	javaPackages   = []string{"openjdk-17-jre-headless=17.0.21.1+2-*"}
	nodejsPackages = []string{"nodejs=18.20.4+dfsg-*"}
)

// javaBin is the runtime's launcher: /usr/bin/java is an alternatives link
// that only the package's maintainer script (not run here) would make.
const javaBin = "/usr/lib/jvm/java-17-openjdk-amd64/bin/java"

// finishLibraries does the one thing of the packages' scripts a runtime
// without Python needs: the shared library cache.
func finishLibraries(b *Builder, rootfs string) error {
	if out, err := exec.Command("ldconfig", "-r", rootfs).CombinedOutput(); err != nil {
		return fmt.Errorf("ldconfig -r %s: %w\n%s", rootfs, err, out)
	}
	return os.Chtimes(filepath.Join(rootfs, "etc", "ld.so.cache"), time.Unix(0, 0), time.Unix(0, 0))
}

// JavaClasses is src (a single-file Java program of the repository)
// compiled by the build machine's javac for Java 17, the classes only.
// Keyed by the source and the compiler's version.
func JavaClasses(src string) Content {
	desc := "javac --release 17 " + src
	return CachedDir("java-classes-"+strings.ReplaceAll(strings.TrimSuffix(src, ".java"), "/", "-"), desc,
		func(b *Builder) (string, error) {
			body, err := os.ReadFile(filepath.Join(b.Repo, src))
			if err != nil {
				return "", fmt.Errorf("%s: %w", src, err)
			}
			version, err := exec.Command("javac", "-version").CombinedOutput()
			if err != nil {
				return "", fmt.Errorf("compiling %s needs a JDK 17 or later (javac on PATH): %w; to fix: apt-get install openjdk-17-jdk-headless", src, err)
			}
			return fmt.Sprintf("java classes v1\n%s%x\n", version, sha256.Sum256(body)), nil
		},
		func(b *Builder, dir string) error {
			cmd := exec.Command("javac", "--release", "17", "-d", dir, filepath.Join(b.Repo, src))
			cmd.Stdout, cmd.Stderr = b.log(), b.log()
			if err := cmd.Run(); err != nil {
				return fmt.Errorf("javac %s: %w", src, err)
			}
			// Fixed times: the layer is the same from build to build.
			return filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
				if err == nil && !d.IsDir() {
					err = os.Chtimes(p, time.Unix(0, 0), time.Unix(0, 0))
				}
				return err
			})
		})
}
