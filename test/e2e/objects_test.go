package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"

	"github.com/secretfed/secretfed/pkg/apis/secretfed/v1alpha1"
	"github.com/secretfed/secretfed/test/e2e/framework"
)

type v1alpha1FederatedSecret = v1alpha1.FederatedSecret

// newFS returns a FederatedSecret with the given data and no placement.
func newFS(ns, name string, data map[string][]byte) *v1alpha1.FederatedSecret {
	return &v1alpha1.FederatedSecret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: v1alpha1.FederatedSecretSpec{Template: v1alpha1.SecretTemplate{
			Type: "Opaque",
			Data: data,
		}},
	}
}

func newRawClient(t *testing.T, cfg *rest.Config) *rest.RESTClient {
	t.Helper()
	c, err := rest.UnversionedRESTClientFor(withCodec(cfg))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func withCodec(cfg *rest.Config) *rest.Config {
	c := rest.CopyConfig(cfg)
	c.NegotiatedSerializer = scheme.Codecs.WithoutConversion()
	return c
}

// requireLocalBed skips a spec that needs a part of the local process bed
// the kind bed has in no comparable form (a secretfed process restarted
// with other flags, its etcd at a local URL, extra server instances). The
// reason shows in `go test -v` as the SKIP's message; test/e2e/kind_test.go
// covers the pod-level counterparts.
func requireLocalBed(t *testing.T, why string) {
	t.Helper()
	if f.Provider != "local" {
		t.Skipf("needs the local process bed (E2E_PROVIDER=%s): %s", f.Provider, why)
	}
}

// waitForSentinel creates a FederatedSecret placed nowhere and waits until
// its status reports the current generation: proof that a (re)started
// server's loop has listed and planned, and so has planned everything
// queued before it.
func waitForSentinel(t *testing.T, ns, what string) {
	t.Helper()
	createFS(t, placedFS(ns, "sentinel", "x", v1alpha1.Placement{}))
	framework.Eventually(t, 90*time.Second, what, func(ctx context.Context) error {
		fs, err := f.Secretfed.SecretfedV1alpha1().FederatedSecrets(ns).Get(ctx, "sentinel", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if fs.Status.ObservedGeneration != fs.Generation {
			return fmt.Errorf("observedGeneration %d, generation %d", fs.Status.ObservedGeneration, fs.Generation)
		}
		return nil
	})
}

// assertAllPropagatedWithoutWrites waits until FederatedSecrets s0…s<n-1>
// in ns report Propagated for every member, then checks that no member
// received a write on secrets or namespaces since before (memberWrites).
func assertAllPropagatedWithoutWrites(t *testing.T, ns string, n int, before map[string]int, what string) {
	t.Helper()
	for i := 0; i < n; i++ {
		for _, m := range f.MemberNames {
			waitForClusterStatus(t, ns, fmt.Sprintf("s%d", i), m, v1alpha1.StatusPropagated)
		}
	}
	after := memberWrites(t)
	for m := range before {
		if after[m] != before[m] {
			t.Errorf("%s received %d write requests on secrets/namespaces %s, want 0", m, after[m]-before[m], what)
		}
	}
}
