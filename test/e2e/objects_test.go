package e2e

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

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
