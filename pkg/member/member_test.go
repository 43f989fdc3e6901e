package member

import (
	"context"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	kubefake "k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"

	"github.com/secretfed/secretfed/pkg/apis/secretfed/v1alpha1"
	listers "github.com/secretfed/secretfed/pkg/generated/listers/secretfed/v1alpha1"
)

const testToken = "t0ken-never-logged"

func credentials(name, token string) *v1alpha1.FederatedSecret {
	return &v1alpha1.FederatedSecret{
		ObjectMeta: metav1.ObjectMeta{Namespace: v1alpha1.SystemNamespace, Name: name, ResourceVersion: "1"},
		Spec: v1alpha1.FederatedSecretSpec{Template: v1alpha1.SecretTemplate{
			Data: map[string][]byte{v1alpha1.CredentialsTokenKey: []byte(token)},
		}},
	}
}

func cluster(name, endpoint string) *v1alpha1.FederatedCluster {
	return &v1alpha1.FederatedCluster{
		ObjectMeta: metav1.ObjectMeta{Name: name, ResourceVersion: "1"},
		Spec: v1alpha1.FederatedClusterSpec{
			APIEndpoint: endpoint,
			SecretRef:   v1alpha1.LocalSecretReference{Name: name + "-credentials"},
		},
	}
}

type credStore struct {
	indexer cache.Indexer
	lister  listers.FederatedSecretLister
}

func newCredStore(objs ...*v1alpha1.FederatedSecret) *credStore {
	idx := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
	for _, o := range objs {
		_ = idx.Add(o)
	}
	return &credStore{indexer: idx, lister: listers.NewFederatedSecretLister(idx)}
}

// fakeClients hands out one fake clientset per cluster and records the
// configs they were built from.
type fakeClients struct {
	mu      sync.Mutex
	clients map[string]*kubefake.Clientset
	configs []*rest.Config
}

func (f *fakeClients) newClient(cluster string, cfg *rest.Config) (kubernetes.Interface, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.configs = append(f.configs, cfg)
	if f.clients == nil {
		f.clients = map[string]*kubefake.Clientset{}
	}
	if f.clients[cluster] == nil {
		f.clients[cluster] = kubefake.NewClientset()
	}
	return f.clients[cluster], nil
}

func (f *fakeClients) builds() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.configs)
}

func TestConfigErrors(t *testing.T) {
	goodCA := selfSignedCA(t)
	tests := []struct {
		name   string
		fc     func() *v1alpha1.FederatedCluster
		creds  []*v1alpha1.FederatedSecret
		errMsg string
	}{
		{
			name:   "no endpoint",
			fc:     func() *v1alpha1.FederatedCluster { return cluster("m1", "") },
			creds:  []*v1alpha1.FederatedSecret{credentials("m1-credentials", testToken)},
			errMsg: "spec.apiEndpoint is empty",
		},
		{
			name:   "endpoint not a URL",
			fc:     func() *v1alpha1.FederatedCluster { return cluster("m1", "10.0.0.1:6443") },
			creds:  []*v1alpha1.FederatedSecret{credentials("m1-credentials", testToken)},
			errMsg: "spec.apiEndpoint is not an http(s) URL",
		},
		{
			name:   "no credentials FederatedSecret",
			fc:     func() *v1alpha1.FederatedCluster { return cluster("m1", "https://m1.example") },
			errMsg: "credentials FederatedSecret secretfed-system/m1-credentials not found",
		},
		{
			name:   "no token",
			fc:     func() *v1alpha1.FederatedCluster { return cluster("m1", "https://m1.example") },
			creds:  []*v1alpha1.FederatedSecret{credentials("m1-credentials", "")},
			errMsg: `credentials FederatedSecret secretfed-system/m1-credentials has no "token" key`,
		},
		{
			name: "CA bundle that is not PEM",
			fc: func() *v1alpha1.FederatedCluster {
				fc := cluster("m1", "https://m1.example")
				fc.Spec.CABundle = []byte("not a certificate")
				return fc
			},
			creds:  []*v1alpha1.FederatedSecret{credentials("m1-credentials", testToken)},
			errMsg: "spec.caBundle holds no PEM certificate",
		},
		{
			name: "bad proxy URL",
			fc: func() *v1alpha1.FederatedCluster {
				fc := cluster("m1", "https://m1.example")
				fc.Spec.CABundle = goodCA
				fc.Spec.ProxyURL = "ftp://proxy"
				return fc
			},
			creds:  []*v1alpha1.FederatedSecret{credentials("m1-credentials", testToken)},
			errMsg: "spec.proxyURL is not an http, https or socks5 URL",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fakes := &fakeClients{}
			c := NewCache(t.Context(), newCredStore(tc.creds...).lister, Options{NewClient: fakes.newClient})
			_, err := c.Get(tc.fc())
			if err == nil || err.Error() != tc.errMsg {
				t.Fatalf("Get() error = %v, want %q", err, tc.errMsg)
			}
			if !IsConfigError(err) {
				t.Errorf("Get() error is not a ConfigError")
			}
			if strings.Contains(err.Error(), testToken) {
				t.Errorf("error leaks the token")
			}
		})
	}
}

func TestConfigFromCluster(t *testing.T) {
	ca := selfSignedCA(t)
	fakes := &fakeClients{}
	c := NewCache(t.Context(), newCredStore(credentials("m1-credentials", testToken)).lister,
		Options{QPS: 7, Burst: 9, RequestTimeout: 4 * time.Second, NewClient: fakes.newClient})
	fc := cluster("m1", "https://m1.example:6443")
	fc.Spec.CABundle = ca
	fc.Spec.ProxyURL = "socks5://proxy:1080"
	if _, err := c.Get(fc); err != nil {
		t.Fatal(err)
	}
	if len(fakes.configs) != 2 {
		t.Fatalf("built %d clients, want 2 (requests and watch)", len(fakes.configs))
	}
	req, watch := fakes.configs[0], fakes.configs[1]
	if req.Host != "https://m1.example:6443" || req.BearerToken != testToken || string(req.CAData) != string(ca) ||
		req.Insecure || req.QPS != 7 || req.Burst != 9 || req.Proxy == nil {
		t.Errorf("request config does not reflect the FederatedCluster")
	}
	if req.Timeout != 4*time.Second {
		t.Errorf("request timeout = %v, want 4s", req.Timeout)
	}
	if watch.Timeout != 0 {
		t.Errorf("watch client has a timeout %v; it would cut watches", watch.Timeout)
	}

	fc2 := cluster("m2", "https://m2.example")
	fc2.Spec.CABundle = ca
	fc2.Spec.InsecureSkipTLSVerify = true
	c2 := NewCache(t.Context(), newCredStore(credentials("m2-credentials", testToken)).lister, Options{NewClient: fakes.newClient})
	if _, err := c2.Get(fc2); err != nil {
		t.Fatal(err)
	}
	last := fakes.configs[len(fakes.configs)-1]
	if !last.Insecure || len(last.CAData) != 0 {
		t.Errorf("insecureSkipTLSVerify: Insecure=%v CAData=%d bytes; want Insecure and no CA", last.Insecure, len(last.CAData))
	}
}

func TestCacheRebuildsOnlyWhenInputsChange(t *testing.T) {
	fakes := &fakeClients{}
	creds := newCredStore(credentials("m1-credentials", testToken))
	c := NewCache(t.Context(), creds.lister, Options{NewClient: fakes.newClient})
	fc := cluster("m1", "https://m1.example")

	m1, err := c.Get(fc)
	if err != nil {
		t.Fatal(err)
	}

	// A status write (new resourceVersion, new status) keeps the client.
	fc2 := fc.DeepCopy()
	fc2.ResourceVersion = "2"
	fc2.Status.KubernetesVersion = "v1.37.2"
	fc2.Labels = map[string]string{"env": "prod"}
	if m, _ := c.Get(fc2); m != m1 {
		t.Errorf("client rebuilt after a change that does not affect the connection")
	}
	if fakes.builds() != 2 {
		t.Errorf("builds = %d, want 2", fakes.builds())
	}

	// A new token rebuilds it and stops the old informer.
	_ = creds.indexer.Update(credentials("m1-credentials", "new-token"))
	m2, err := c.Get(fc2)
	if err != nil {
		t.Fatal(err)
	}
	if m2 == m1 {
		t.Fatalf("client not rebuilt after a token change")
	}
	select {
	case <-m1.done:
	case <-time.After(10 * time.Second):
		t.Errorf("old member's informer not stopped")
	}

	// So does a new endpoint.
	fc3 := fc2.DeepCopy()
	fc3.Spec.APIEndpoint = "https://m1-new.example"
	if m3, _ := c.Get(fc3); m3 == m2 {
		t.Errorf("client not rebuilt after an endpoint change")
	}

	// Broken credentials stop the member.
	_ = creds.indexer.Delete(credentials("m1-credentials", ""))
	if _, err := c.Get(fc3); !IsConfigError(err) {
		t.Errorf("Get() error = %v, want a ConfigError", err)
	}
	if c.Peek("m1") != nil {
		t.Errorf("member kept after its credentials disappeared")
	}

	// Remove stops it.
	_ = creds.indexer.Add(credentials("m1-credentials", testToken))
	m4, err := c.Get(fc3)
	if err != nil {
		t.Fatal(err)
	}
	c.Remove("m1")
	select {
	case <-m4.done:
	case <-time.After(10 * time.Second):
		t.Errorf("removed member's informer not stopped")
	}
}

func TestManagedSecretEvents(t *testing.T) {
	fakes := &fakeClients{}
	c := NewCache(t.Context(), newCredStore(credentials("m1-credentials", testToken)).lister, Options{NewClient: fakes.newClient})

	var mu sync.Mutex
	var got []string
	c.AddEventHandler(func(cluster, ns, name string) {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, cluster+"/"+ns+"/"+name)
	})
	m, err := c.Get(cluster("m1", "https://m1.example"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	if err := wait.PollUntilContextTimeout(ctx, 10*time.Millisecond, 10*time.Second, true, func(context.Context) (bool, error) {
		return m.HasSynced(), nil
	}); err != nil {
		t.Fatalf("member cache never synced: %v", err)
	}
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "payments", Name: "db", Labels: map[string]string{v1alpha1.ManagedLabel: "true"}}}
	if _, err := m.Client.CoreV1().Secrets("payments").Create(ctx, s, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := wait.PollUntilContextTimeout(ctx, 10*time.Millisecond, 10*time.Second, true, func(context.Context) (bool, error) {
		mu.Lock()
		defer mu.Unlock()
		return len(got) > 0 && got[0] == "m1/payments/db", nil
	}); err != nil {
		t.Fatalf("no event for the managed Secret: %v (got %v)", err, got)
	}
	obs, err := m.GetSecret(ctx, "payments", "db")
	if err != nil || obs.Name != "db" {
		t.Errorf("GetSecret() = %v, %v", obs, err)
	}
	if _, err := m.GetSecret(ctx, "payments", "absent"); !apierrors.IsNotFound(err) {
		t.Errorf("GetSecret(absent) error = %v, want NotFound", err)
	}
}

// A real client against a TLS server: the CA is verified, the token is sent,
// and the request timeout is applied.
func TestRealClientTLSAndTimeout(t *testing.T) {
	var sawAuth string
	var mu sync.Mutex
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		sawAuth = r.Header.Get("Authorization")
		mu.Unlock()
		if strings.HasSuffix(r.URL.Path, "/slow") {
			<-r.Context().Done()
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"ok"}}`))
	}))
	defer srv.Close()
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})

	c := NewCache(t.Context(), newCredStore(credentials("m1-credentials", testToken)).lister,
		Options{QPS: 100, Burst: 100, RequestTimeout: 300 * time.Millisecond})
	fc := cluster("m1", srv.URL)
	fc.Spec.CABundle = ca
	m, err := c.Get(fc)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	if _, err := m.Client.CoreV1().Namespaces().Get(ctx, "ok", metav1.GetOptions{}); err != nil {
		t.Fatalf("GET through a verified TLS connection failed: %v", err)
	}
	mu.Lock()
	if sawAuth != "Bearer "+testToken {
		t.Errorf("Authorization header = %q", sawAuth)
	}
	mu.Unlock()

	start := time.Now()
	_, err = m.Client.CoreV1().Namespaces().Get(ctx, "slow", metav1.GetOptions{})
	if err == nil || time.Since(start) > 5*time.Second {
		t.Errorf("slow request: err=%v after %v, want a timeout after ~300ms", err, time.Since(start))
	}

	// Without the right CA the connection is refused.
	fc2 := cluster("m1", srv.URL)
	fc2.Spec.CABundle = selfSignedCA(t)
	m2, err := c.Get(fc2)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m2.Client.CoreV1().Namespaces().Get(ctx, "ok", metav1.GetOptions{}); err == nil {
		t.Errorf("GET succeeded with a CA that did not sign the server certificate")
	}
}
