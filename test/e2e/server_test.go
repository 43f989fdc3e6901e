package e2e

import (
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/secretfed/secretfed/test/e2e/framework"
)

func TestFederatedSecretInANamespaceMissingFromTheHostIsRejected(t *testing.T) {
	ctx := framework.Context(t, time.Minute)
	_, err := f.Secretfed.SecretfedV1alpha1().FederatedSecrets("no-such-namespace").Create(ctx,
		simpleFederatedSecret("no-such-namespace", "orphaned", "x"), metav1.CreateOptions{})
	if !apierrors.IsNotFound(err) || !strings.Contains(err.Error(), "no-such-namespace") {
		t.Fatalf("create in a missing host namespace: %v, want NotFound naming the namespace (NamespaceLifecycle)", err)
	}
}

func TestHealthAndMetricsEndpointsAreServed(t *testing.T) {
	requireLocalBed(t, "reaches secretfed at SECRETFED_URL")
	ctx := framework.Context(t, time.Minute)
	// Reached directly with the host admin identity (system:masters is always allowed).
	cfg := f.RESTConfig(f.HostContext)
	cfg.Host = f.Env["SECRETFED_URL"]
	cfg.TLSClientConfig.CAData, cfg.TLSClientConfig.CAFile = nil, f.Env["SECRETFED_CA_FILE"]
	client := newRawClient(t, cfg)
	for _, path := range []string{"/healthz", "/livez", "/readyz"} {
		body, err := client.Get().AbsPath(path).DoRaw(ctx)
		if err != nil || string(body) != "ok" {
			t.Errorf("GET %s: %q, %v; want ok", path, body, err)
		}
	}
	body, err := client.Get().AbsPath("/metrics").DoRaw(ctx)
	if err != nil || !strings.Contains(string(body), "apiserver_request_total") {
		t.Errorf("GET /metrics: %v; want Prometheus text with apiserver_request_total", err)
	}
}
