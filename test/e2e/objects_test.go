package e2e

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"

	"github.com/secretfed/secretfed/pkg/apis/secretfed/v1alpha1"
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
