// Command autotel-local runs the autotel operator against a control plane
// it brings up itself (etcd and kube-apiserver built from source by
// hack/kube-binaries.sh), for a machine without a cluster. It writes a
// kubeconfig, prints how to use it, and serves until interrupted; then it
// stops every process it started.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/autotel/autotel/internal/operator"
	"github.com/autotel/autotel/internal/testenv"
)

func main() {
	kubeconfig := flag.String("kubeconfig-out", "", "where to write the kubeconfig (default: <cache>/autotel/local/kubeconfig)")
	zapOpts := zap.Options{Development: true}
	zapOpts.BindFlags(flag.CommandLine)
	flag.Parse()
	log := zap.New(zap.UseFlagOptions(&zapOpts))
	ctrl.SetLogger(log)

	if *kubeconfig == "" {
		cache, err := os.UserCacheDir()
		if err != nil {
			fail("finding a cache folder for the kubeconfig: %v", err)
		}
		*kubeconfig = filepath.Join(cache, "autotel", "local", "kubeconfig")
	}

	env, err := testenv.Start(log, func(o *operator.Options) {
		// There is no operator namespace here; publish the injection
		// settings where they can be written, for autotel inject/explain.
		o.InjectionConfig.Namespace = "default"
	})
	if err != nil {
		fail("%v", err)
	}
	defer env.Stop()

	if err := env.WriteKubeconfig(*kubeconfig); err != nil {
		env.Stop()
		fail("%v", err)
	}
	kubectl := filepath.Join(env.BinaryDir, "kubectl")
	fmt.Printf(`
autotel operator is running against a local control plane (kube-apiserver %s).

  export KUBECONFIG=%s
  %s create namespace example
  %s -n example apply -f testdata/seed/instrumentation-console.yaml
  %s -n example run sample --image=sample --restart=Never \
      --annotations=instrumentation.opentelemetry.io/inject-python=true
  %s -n example get pod sample -o yaml

There is no kubelet here: pods are stored, not run. Press Ctrl-C to stop everything.
`, env.Config.Host, *kubeconfig, kubectl, kubectl, kubectl, kubectl)

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	<-sig
	fmt.Println("stopping operator, kube-apiserver and etcd")
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "autotel-local: "+format+"\n", args...)
	os.Exit(1)
}
