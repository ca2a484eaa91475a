// Command pause is the pod sandbox's process: it holds the pod's namespaces
// open and does nothing else. As PID 1 of a pod that shares its process
// namespace it also reaps orphaned children. It exits 0 on SIGINT or SIGTERM.
//
// Built static (CGO_ENABLED=0) into autotel.local/pause:dev by
// hack/cluster.sh, because no registry is reachable to pull one.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	sig := make(chan os.Signal, 8)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
	for s := range sig {
		if s != syscall.SIGCHLD {
			os.Exit(0)
		}
		for {
			var ws syscall.WaitStatus
			pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
			if pid <= 0 || err != nil {
				break
			}
		}
	}
}
