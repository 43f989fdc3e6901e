package member

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/secretfed/secretfed/pkg/apis/secretfed/v1alpha1"
)

// The propagation loop calls Cache.Get for every pair it syncs and caches
// every managed Secret: these specs keep both cheap (see bench/REPORT.md).

func BenchmarkCacheGetUnchanged(b *testing.B) {
	t := &testing.T{}
	fakes := &fakeClients{}
	c := NewCache(b.Context(), newCredStore(credentials("m1-credentials", testToken)).lister, Options{NewClient: fakes.newClient})
	fc := cluster("m1", "https://m1.example")
	fc.Spec.CABundle = selfSignedCA(t)
	if _, err := c.Get(fc); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Get(fc); err != nil {
			b.Fatal(err)
		}
	}
	if fakes.builds() != 2 {
		b.Fatalf("rebuilt the client: %d builds", fakes.builds())
	}
}

func TestCachedSecretsCarryNoManagedFields(t *testing.T) {
	fakes := &fakeClients{}
	c := NewCache(t.Context(), newCredStore(credentials("m1-credentials", testToken)).lister, Options{NewClient: fakes.newClient})
	m, err := c.Get(cluster("m1", "https://m1.example"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "payments", Name: "db",
		Labels:        map[string]string{v1alpha1.ManagedLabel: "true"},
		ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "secretfed-controller", Operation: metav1.ManagedFieldsOperationUpdate}},
	}}
	if _, err := m.Client.CoreV1().Secrets("payments").Create(ctx, s, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var cached *corev1.Secret
	if err := wait.PollUntilContextTimeout(ctx, 10*time.Millisecond, 10*time.Second, true, func(context.Context) (bool, error) {
		cached, err = m.Secrets().Secrets("payments").Get("db")
		return err == nil, nil
	}); err != nil {
		t.Fatalf("Secret never cached: %v", err)
	}
	if cached.ManagedFields != nil {
		t.Errorf("cached Secret keeps managedFields %v", cached.ManagedFields)
	}
}
