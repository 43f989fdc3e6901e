package integration

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"testing"
	"time"

	"k8s.io/client-go/rest"

	"github.com/secretfed/secretfed/pkg/embeddedetcd"
	"github.com/secretfed/secretfed/pkg/generated/clientset/versioned"
)

type warningRecorder func(string)

func (w warningRecorder) HandleWarningHeader(code int, agent string, text string) { w(text) }

func mustClient(t *testing.T, cfg *rest.Config) versioned.Interface {
	t.Helper()
	c, err := versioned.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// testCA is a PEM certificate for FederatedCluster.spec.caBundle.
var testCA = func() []byte {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "integration-ca"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		panic(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}()

func startBareEtcd(cfg serverConfig) (*embeddedetcd.Etcd, error) {
	return embeddedetcd.Start(context.Background(), embeddedetcd.Config{
		DataDir: cfg.DataDir, ClientURL: cfg.EtcdClientURL, PeerURL: cfg.EtcdPeerURL, LogLevel: "fatal",
	})
}
