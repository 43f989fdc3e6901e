// Package e2e holds one spec per user-visible rule, run against real
// clusters: real etcd, real kube-apiservers as host and members, secretfed
// behind the host's aggregation layer, the real kubectl and kubectl-secretfed.
// `make e2e` builds the binaries and runs it; see test/e2e/framework.
package e2e

import (
	"fmt"
	"os"
	"testing"

	"github.com/secretfed/secretfed/test/e2e/framework"
)

var f *framework.Framework

func TestMain(m *testing.M) {
	var err error
	f, err = framework.Setup()
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e setup failed:", err)
		os.Exit(1)
	}
	if err := f.JoinMembers(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e setup failed:", err)
		f.Teardown()
		os.Exit(1)
	}
	code := m.Run()
	f.Teardown()
	os.Exit(code)
}
