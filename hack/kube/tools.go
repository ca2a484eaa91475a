//go:build tools

// Package kube pins the Kubernetes and etcd releases whose binaries the
// project builds from source (no prebuilt downloads are reachable here).
// It is its own module so that these heavy dependencies never enter the
// operator's go.mod.
package kube

import (
	_ "go.etcd.io/etcd/server/v3"
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubectl"
	_ "k8s.io/kubernetes/cmd/kubelet"
)
