// Command otlp-receiver runs the test receiver on its own (benchmarks,
// manual checks): it prints its base URL on the first line of stdout and
// serves GET /stats with the counts of what it received, until killed.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"

	"github.com/autotel/autotel/agent/python/harness/receiver"
)

func main() {
	statsAddr := flag.String("stats", "127.0.0.1:0", "address for GET /stats")
	keep := flag.Bool("keep", false, "keep records in memory (default: count only)")
	flag.Parse()
	r, err := receiver.Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if !*keep {
		r.CountOnly()
	}
	ln, err := net.Listen("tcp", *statsAddr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("%s http://%s/stats\n", r.URL(), ln.Addr())
	go func() {
		_ = http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(r.Stats())
		}))
	}()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
	r.Stop()
}
