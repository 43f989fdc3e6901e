//go:build tools

// Package node records what hack/kind/build-node-image.sh builds into the
// kind node image, so that `go mod tidy` keeps their dependencies in go.sum.
// A separate module: the project's go.mod never pulls in k8s.io/kubernetes.
package node

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-proxy"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubeadm"
	_ "k8s.io/kubernetes/cmd/kubectl"
	_ "k8s.io/kubernetes/cmd/kubelet"
)
