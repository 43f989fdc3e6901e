// Command pause is the pod sandbox ("infra") container of the kind node
// image: it holds a pod's namespaces and does nothing else until it is
// told to stop. Upstream's pause is a tiny C program; no image can be
// pulled on the project's machines, so the node image carries this
// equivalent instead, tagged as the pause image kubeadm expects.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
	for s := range sigs {
		if s != syscall.SIGCHLD {
			os.Exit(0)
		}
		// As PID 1 of a pod that shares its process namespace, reap the
		// orphans re-parented to us.
		for {
			pid, err := syscall.Wait4(-1, nil, syscall.WNOHANG, nil)
			if pid <= 0 || err != nil {
				break
			}
		}
	}
}
