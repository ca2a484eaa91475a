// Command autotel-demo is the logic of `make demo` (hack/demo.sh) that
// reads JSON: it sends the demo's requests to the sample app and shows,
// per request, the trace the app's SDK made (from the collector's file
// exporter, OTLP/JSON lines read with testkit/otlpfile) and the log lines
// the store holds with that trace id (VictoriaLogs, LogsQL).
//
//	autotel-demo requests --url http://127.0.0.1:5000 --pod POD \
//	    [--path /hello --path /error] [--traces FILE] [--store 127.0.0.1:9428] [--timeout 90s]
//
// Without --traces (autotel's log agent, which sends no spans) it only
// sends the requests. It exits 1 when a request's trace, spans or log lines
// do not show up within --timeout, naming what is missing.
package main

import (
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/autotel/autotel/testkit/victorialogs"
)

func main() {
	if len(os.Args) < 2 || os.Args[1] != "requests" {
		fmt.Fprintln(os.Stderr, "usage: autotel-demo requests --url URL --pod POD [--path P]... [--traces FILE] [--store HOST:PORT] [--timeout D]")
		os.Exit(2)
	}
	if err := runRequests(os.Args[2:], os.Stdout); err != nil {
		fmt.Fprintf(os.Stderr, "autotel-demo: %v\n", err)
		os.Exit(1)
	}
}

type pathList []string

func (p *pathList) String() string     { return strings.Join(*p, ",") }
func (p *pathList) Set(v string) error { *p = append(*p, v); return nil }

func runRequests(args []string, w io.Writer) error {
	fs := flag.NewFlagSet("requests", flag.ContinueOnError)
	var (
		paths   pathList
		base    = fs.String("url", "", "the app's base URL, e.g. http://127.0.0.1:5000")
		pod     = fs.String("pod", "", "the sample pod's name (the store's `pod` label)")
		traces  = fs.String("traces", "", "the collector file exporter's OTLP/JSON file; empty: no spans to show")
		store   = fs.String("store", "127.0.0.1:9428", "VictoriaLogs' host:port")
		timeout = fs.Duration("timeout", 90*time.Second, "how long to wait for each request's spans and log lines")
	)
	fs.Var(&paths, "path", "a path to GET (repeatable; default /hello and /error)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *base == "" {
		return fmt.Errorf("--url is required (the app's base URL, e.g. http://127.0.0.1:5000)")
	}
	if *traces != "" && *pod == "" {
		return fmt.Errorf("--pod is required with --traces (the store's lines are looked up by pod and trace id)")
	}
	if len(paths) == 0 {
		paths = pathList{"/hello", "/error"}
	}
	s := story{
		client: &http.Client{Timeout: 10 * time.Second},
		base:   strings.TrimSuffix(*base, "/"),
		pod:    *pod,
		traces: *traces,
		store:  &victorialogs.Server{Addr: *store},
		wait:   *timeout,
		poll:   300 * time.Millisecond,
		w:      w,
	}
	return s.run(paths)
}
