// Command operator serves autotel's admission webhooks: pod
// auto-instrumentation and Instrumentation defaulting and validation.
package main

import (
	"flag"
	"fmt"
	"os"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/autotel/autotel/internal/operator"
)

func main() {
	opts := operator.DefaultOptions()
	opts.BindFlags(flag.CommandLine)
	zapOpts := zap.Options{}
	zapOpts.BindFlags(flag.CommandLine)
	flag.Parse()

	log := zap.New(zap.UseFlagOptions(&zapOpts))
	ctrl.SetLogger(log)
	softMemoryLimit(log)
	cfg, err := ctrl.GetConfig()
	if err != nil {
		fmt.Fprintln(os.Stderr, "autotel operator: no cluster to talk to:", err, "(set KUBECONFIG or run in a pod)")
		os.Exit(2)
	}
	if err := operator.Run(ctrl.SetupSignalHandler(), cfg, opts, log); err != nil {
		fmt.Fprintln(os.Stderr, "autotel operator:", err)
		os.Exit(1)
	}
}
