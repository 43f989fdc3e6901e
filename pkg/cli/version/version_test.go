package version

import (
	"bytes"
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/version"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	fakediscovery "k8s.io/client-go/discovery/fake"

	"github.com/secretfed/secretfed/pkg/cli/internal/clitest"
)

func TestVersion(t *testing.T) {
	for _, tc := range []struct {
		name       string
		clientOnly bool
		served     bool
		want       string
	}{
		{"client only", true, true, "client: kubectl-secretfed dev\n"},
		{"server available", false, true, "client: kubectl-secretfed dev\n" +
			`server: secretfed.io/v1alpha1 available on the host cluster https://host.example:6443 (context "host-ctx"), Kubernetes v1.37.2` + "\n"},
		{"server without secretfed", false, false, "client: kubectl-secretfed dev\n" +
			`server: the secretfed.io API (secretfed.io/v1alpha1) is not available on the host cluster https://host.example:6443 (context "host-ctx"): is secretfed installed?` + "\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			host := clitest.NewHost(nil)
			host.Fed.Discovery().(*fakediscovery.FakeDiscovery).FakedServerVersion = &version.Info{GitVersion: "v1.37.2"}
			if !tc.served {
				host.Fed.Resources = nil
			}
			var out bytes.Buffer
			o := &Options{ClientOnly: tc.clientOnly, Host: host.Clients(), IOStreams: genericiooptions.IOStreams{Out: &out, ErrOut: &out}}
			if err := o.Run(context.Background()); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, out.String()); diff != "" {
				t.Errorf("output (-want +got):\n%s", diff)
			}
		})
	}
}
