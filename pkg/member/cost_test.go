package member

import (
	"testing"

	"k8s.io/apimachinery/pkg/runtime"
)

// The propagation loop calls Cache.Get for every pair it syncs, and talks to
// members about nothing but Secrets, namespaces and token requests: these
// specs keep both cheap (see bench/REPORT.md).

func TestMemberClientsSpeakProtobuf(t *testing.T) {
	fakes := &fakeClients{}
	c := NewCache(t.Context(), newCredStore(credentials("m1-credentials", testToken)).lister, Options{NewClient: fakes.newClient})
	if _, err := c.Get(cluster("m1", "https://m1.example")); err != nil {
		t.Fatal(err)
	}
	for i, cfg := range fakes.configs {
		if cfg.ContentType != runtime.ContentTypeProtobuf || cfg.AcceptContentTypes != runtime.ContentTypeProtobuf+","+runtime.ContentTypeJSON {
			t.Errorf("client %d: content type %q, accept %q; want protobuf, falling back to JSON", i, cfg.ContentType, cfg.AcceptContentTypes)
		}
	}
}

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
