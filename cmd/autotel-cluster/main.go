// Command autotel-cluster is what hack/cluster.sh and hack/demo.sh call for
// the parts that are logic rather than glue: the cluster's certificates and
// kubeconfigs, starting, finding and stopping daemons by pid file, and
// printing the log store's JSON answers.
//
//	autotel-cluster pki --dir D --kubeconfig-dir K --node-name N --service-ip IP --server URL
//	autotel-cluster start --pids D --log FILE NAME -- COMMAND [ARG...]
//	autotel-cluster pid --pids D NAME          (exit 1 when NAME is not running)
//	autotel-cluster stop --pids D [--grace 10s] [--prefix P] [-q] NAME...
//	autotel-cluster stop-shims --address SOCKET [--grace 10s]
//	autotel-cluster status --pids D NAME...    (exit 0 all run, 3 none, 1 some)
//	autotel-cluster entries < logsql-answer
package main

import (
	"flag"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"github.com/autotel/autotel/internal/cluster"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	cmd, args := os.Args[1], os.Args[2:]
	run, ok := commands[cmd]
	if !ok {
		usage()
	}
	code, err := run(args)
	if err != nil {
		fmt.Fprintf(os.Stderr, "autotel-cluster %s: %v\n", cmd, err)
		os.Exit(2)
	}
	os.Exit(code)
}

// noCode adapts a command that only fails or succeeds.
func noCode(f func([]string) error) func([]string) (int, error) {
	return func(args []string) (int, error) { return 0, f(args) }
}

// commands are the subcommands; each returns its exit code (pid and status
// answer with one) or an error.
var commands = map[string]func([]string) (int, error){
	"pki":        noCode(pki),
	"start":      noCode(start),
	"pid":        pid,
	"stop":       noCode(stop),
	"stop-shims": noCode(stopShims),
	"status":     status,
	"entries":    func([]string) (int, error) { return 0, cluster.PrintEntries(os.Stdin, os.Stdout) },
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: autotel-cluster pki|start|pid|stop|stop-shims|status|entries ... (see cmd/autotel-cluster/main.go)")
	os.Exit(2)
}

// logPrefix starts every progress line, as the calling script's own do.
var logPrefix = "cluster"

func logf(format string, a ...any) { fmt.Fprintf(os.Stderr, logPrefix+": "+format+"\n", a...) }

func pki(args []string) error {
	fs := flag.NewFlagSet("pki", flag.ExitOnError)
	var o cluster.PKIOptions
	var ip string
	fs.StringVar(&o.Dir, "dir", "", "folder for the CA, component certificates and keys")
	fs.StringVar(&o.KubeconfigDir, "kubeconfig-dir", "", "folder for the components' kubeconfigs")
	fs.StringVar(&o.NodeName, "node-name", "", "the kubelet's node name")
	fs.StringVar(&ip, "service-ip", "", "the first address of the Service range")
	fs.StringVar(&o.Server, "server", "", "the API server's URL")
	_ = fs.Parse(args)
	if o.ServiceIP = net.ParseIP(ip); ip != "" && o.ServiceIP == nil {
		return fmt.Errorf("--service-ip %q is not an IP address", ip)
	}
	return cluster.WritePKI(o)
}

func supervisorFlags(name string) (*flag.FlagSet, *string) {
	fs := flag.NewFlagSet(name, flag.ExitOnError)
	return fs, fs.String("pids", "", "folder of the pid files")
}

func needPids(dir string) error {
	if dir == "" {
		return fmt.Errorf("--pids is required")
	}
	return nil
}

func start(args []string) error {
	fs, dir := supervisorFlags("start")
	logPath := fs.String("log", "", "file the daemon's stdout and stderr are appended to")
	_ = fs.Parse(args)
	rest := fs.Args()
	// NAME -- COMMAND...; flag stops at "--" or the first non-flag.
	if len(rest) > 1 && rest[1] == "--" {
		rest = append(rest[:1], rest[2:]...)
	}
	if err := needPids(*dir); err != nil {
		return err
	}
	if *logPath == "" || len(rest) < 2 {
		return fmt.Errorf("usage: start --pids D --log FILE NAME -- COMMAND [ARG...]")
	}
	_, err := cluster.Supervisor{Dir: *dir}.Start(rest[0], *logPath, rest[1:])
	return err
}

func pid(args []string) (int, error) {
	fs, dir := supervisorFlags("pid")
	_ = fs.Parse(args)
	if err := needPids(*dir); err != nil {
		return 0, err
	}
	if fs.NArg() != 1 {
		return 0, fmt.Errorf("usage: pid --pids D NAME")
	}
	p, ok := cluster.Supervisor{Dir: *dir}.PID(fs.Arg(0))
	if !ok {
		return 1, nil
	}
	fmt.Println(p)
	return 0, nil
}

func stop(args []string) error {
	fs, dir := supervisorFlags("stop")
	grace := fs.Duration("grace", 10*time.Second, "how long SIGTERM has before SIGKILL")
	fs.StringVar(&logPrefix, "prefix", logPrefix, "what progress lines start with")
	quiet := fs.Bool("q", false, "say nothing when a daemon stops at SIGTERM (a SIGKILL is still reported)")
	_ = fs.Parse(args)
	if err := needPids(*dir); err != nil {
		return err
	}
	say := logf
	if *quiet {
		say = func(f string, a ...any) {
			if strings.HasPrefix(f, "stopping ") {
				return
			}
			logf(f, a...)
		}
	}
	s := cluster.Supervisor{Dir: *dir}
	for _, name := range fs.Args() {
		if err := s.Stop(name, *grace, say); err != nil {
			return err
		}
	}
	return nil
}

func stopShims(args []string) error {
	fs := flag.NewFlagSet("stop-shims", flag.ExitOnError)
	addr := fs.String("address", "", "containerd socket the shims name")
	grace := fs.Duration("grace", 10*time.Second, "how long SIGTERM has before SIGKILL")
	_ = fs.Parse(args)
	if *addr == "" {
		return fmt.Errorf("--address is required")
	}
	return cluster.StopShims(*addr, *grace, logf)
}

func status(args []string) (int, error) {
	fs, dir := supervisorFlags("status")
	quiet := fs.Bool("q", false, "print nothing; only the exit code")
	_ = fs.Parse(args)
	if err := needPids(*dir); err != nil {
		return 0, err
	}
	running := 0
	for _, st := range (cluster.Supervisor{Dir: *dir}).Statuses(fs.Args()) {
		if st.Running {
			running++
		}
		switch {
		case *quiet:
		case st.Running:
			fmt.Printf("%-24s running (pid %d, rss %d MiB)\n", st.Name, st.PID, st.RSSKiB/1024)
		default:
			fmt.Printf("%-24s stopped\n", st.Name)
		}
	}
	switch running {
	case fs.NArg():
		return 0, nil
	case 0:
		return 3, nil
	}
	return 1, nil
}
