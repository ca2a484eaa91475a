//go:build tools

// Package tools pins kwok (Kubernetes WithOut Kubelet), the fake-node
// controller the scale tier (test/scale) runs against the real API server.
// A module of its own so kwok's dependencies never enter the operator's
// go.mod; hack/kwok.sh builds it.
package tools

import _ "sigs.k8s.io/kwok/cmd/kwok"
