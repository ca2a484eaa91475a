// Package integration runs autotel's webhooks behind a real kube-apiserver
// and etcd (built by hack/kube-binaries.sh) and checks what the API server
// stores when pods and Instrumentations are created through it.
package integration

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/autotel/autotel/internal/testenv"
)

var env *testenv.Env

func TestMain(m *testing.M) {
	log := zap.New(zap.WriteTo(os.Stderr), zap.Level(zapLevel()))
	var err error
	env, err = testenv.Start(log, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, "integration tests need a control plane:", err)
		os.Exit(1)
	}
	code := m.Run()
	env.Stop()
	os.Exit(code)
}

func k8sClient() client.Client { return env.Client }

func ctx(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}
