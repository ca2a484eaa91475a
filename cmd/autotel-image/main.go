// Command autotel-image builds a container image as a docker-archive
// tarball from directory trees, for `ctr images import` on a node without a
// registry or a Docker engine (see hack/cluster.sh and hack/cluster-images.sh).
//
//	autotel-image build -tag autotel.local/app:dev -o app.tar \
//	    -layer /path/to/rootfs:/ -layer ./examples/flask:/app \
//	    -entrypoint python3,-m,flask -cmd --app,app,run -env PYTHONUNBUFFERED=1 -workdir /app
//
// Each -layer is one layer; SRC,SRC2:DEST... puts several sources in one
// layer as SRC:DEST,SRC2:DEST2.
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/autotel/autotel/internal/imagebuild"
)

type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, " ") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

func main() {
	if len(os.Args) < 2 || os.Args[1] != "build" {
		fail("usage: autotel-image build -tag NAME:TAG -o OUT.tar -layer SRC:DEST [-layer ...] [-entrypoint a,b] [-cmd a,b] [-env K=V] [-workdir DIR] [-user U]")
	}
	fs := flag.NewFlagSet("build", flag.ExitOnError)
	tag := fs.String("tag", "", "repository:tag of the image (e.g. autotel.local/pause:dev)")
	out := fs.String("o", "", "output tarball")
	entrypoint := fs.String("entrypoint", "", "comma-separated entrypoint")
	cmd := fs.String("cmd", "", "comma-separated default arguments")
	workdir := fs.String("workdir", "", "working directory")
	user := fs.String("user", "", "user to run as")
	var layers, env, labels listFlag
	fs.Var(&layers, "layer", "SRC:DEST[,SRC:DEST...] making one layer (repeatable, bottom first)")
	fs.Var(&env, "env", "K=V environment variable (repeatable)")
	fs.Var(&labels, "label", "K=V image label (repeatable)")
	_ = fs.Parse(os.Args[2:])
	if *out == "" {
		fail("-o OUT.tar is required")
	}

	img := imagebuild.Image{Tag: *tag, Config: imagebuild.Config{
		Entrypoint: split(*entrypoint), Cmd: split(*cmd), Env: env, WorkingDir: *workdir, User: *user,
	}}
	for _, l := range labels {
		k, v, ok := strings.Cut(l, "=")
		if !ok {
			fail("-label %q: want K=V", l)
		}
		if img.Config.Labels == nil {
			img.Config.Labels = map[string]string{}
		}
		img.Config.Labels[k] = v
	}
	for _, spec := range layers {
		var layer imagebuild.Layer
		for _, part := range strings.Split(spec, ",") {
			src, dest, ok := strings.Cut(part, ":")
			if !ok || src == "" || dest == "" {
				fail("-layer %q: want SRC:DEST (DEST an absolute path in the image)", part)
			}
			layer = append(layer, imagebuild.Source{Path: src, Dest: dest})
		}
		img.Layers = append(img.Layers, layer)
	}
	if err := imagebuild.WriteFile(*out, img); err != nil {
		fail("%v", err)
	}
	fmt.Fprintf(os.Stderr, "autotel-image: wrote %s (%s)\n", *out, *tag)
}

func split(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "autotel-image: "+format+"\n", args...)
	os.Exit(2)
}
