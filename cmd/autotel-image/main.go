// Command autotel-image builds the project's container images from one
// table (internal/imagebuild) as docker-archive tarballs, for
// `ctr -n k8s.io images import` on a node without a registry or a Docker
// engine, and `docker load` elsewhere.
//
//	autotel-image list [--all]                         names, tags, what each holds
//	autotel-image build [-o DIR] [--oci DIR] [--tag REF] NAME...
//	                                                   DIR/NAME.tar for each, paths on stdout
//	autotel-image rootfs NAME DIR                      the image's files, unpacked (tests)
//
// Tarballs and layers are cached under $AUTOTEL_CACHE (default
// ~/.cache/autotel)/images/v<version>, keyed by a fingerprint of everything
// in them; -o defaults to that folder. hack/cluster-images.sh and
// hack/demo.sh call it and import the tarballs into the node's containerd.
package main

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/pflag"

	"github.com/autotel/autotel/internal/imagebuild"
)

const usage = `usage: autotel-image list [--all]
       autotel-image build [-o DIR] [--oci DIR] [--tag REF] NAME...
       autotel-image rootfs NAME DIR
Common flags: --repo DIR (the repository; default: found from the working
directory), --cache DIR (default $AUTOTEL_CACHE or ~/.cache/autotel), -q.`

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintf(os.Stderr, "autotel-image: %v\n", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprintln(os.Stderr, usage)
		if len(args) == 0 {
			return errors.New("no command")
		}
		return nil
	}
	cmd, args := args[0], args[1:]
	fs := pflag.NewFlagSet(cmd, pflag.ContinueOnError)
	fs.Usage = func() { fmt.Fprintln(os.Stderr, usage) }
	repo := fs.String("repo", "", "the repository's root folder")
	cache := fs.String("cache", imagebuild.DefaultCache(), "autotel's cache folder")
	quiet := fs.BoolP("quiet", "q", false, "no progress lines on stderr")
	out := fs.StringP("out", "o", "", "folder for NAME.tar (default: the cache's images folder)")
	oci := fs.String("oci", "", "also add the images to the OCI image layout at this folder")
	tag := fs.String("tag", "", "tag the image REF instead of the table's tag (one NAME only)")
	all := fs.Bool("all", false, "list: also the bases and tooling images")
	for _, a := range args {
		// The builder used to take the image's parts as flags; hack/cluster.sh
		// of an older checkout would call it that way.
		if a == "-tag" || a == "-layer" || a == "-entrypoint" {
			return fmt.Errorf("%s: images are rows of internal/imagebuild's table now; build one by name (autotel-image build pause -o DIR; autotel-image list)", a)
		}
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	b := &imagebuild.Builder{Repo: *repo, Cache: *cache, Log: os.Stderr}
	if *quiet {
		b.Log = nil
	}
	switch cmd {
	case "list":
		w := bufio.NewWriter(os.Stdout)
		for _, s := range imagebuild.Images {
			if *all || !s.Hidden {
				fmt.Fprintln(w, imagebuild.Describe(s))
			}
		}
		return w.Flush()
	case "build":
		names := fs.Args()
		if len(names) == 0 {
			return errors.New("build: name at least one image (autotel-image list)")
		}
		if *tag != "" && len(names) != 1 {
			return errors.New("build: --tag renames one image; name only one")
		}
		if err := findRepo(b); err != nil {
			return err
		}
		for _, n := range names {
			p, err := b.Build(n, *tag, *out)
			if err != nil {
				return err
			}
			fmt.Println(p)
		}
		if *oci != "" {
			if err := b.WriteLayout(*oci, names...); err != nil {
				return err
			}
		}
		return nil
	case "rootfs":
		if fs.NArg() != 2 {
			return errors.New("rootfs: want NAME DIR")
		}
		if err := findRepo(b); err != nil {
			return err
		}
		return b.Rootfs(fs.Arg(0), fs.Arg(1))
	default:
		fmt.Fprintln(os.Stderr, usage)
		return fmt.Errorf("unknown command %q", cmd)
	}
}

// findRepo sets the repository from the working directory when --repo was
// not given: the nearest folder up whose go.mod is autotel's.
func findRepo(b *imagebuild.Builder) error {
	if b.Repo != "" {
		return nil
	}
	dir, err := os.Getwd()
	if err != nil {
		return err
	}
	for {
		if m, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && strings.HasPrefix(string(m), "module github.com/autotel/autotel\n") {
			b.Repo = dir
			return nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return errors.New("not inside the autotel repository; pass --repo DIR")
		}
		dir = parent
	}
}
