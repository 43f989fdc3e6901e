package integration

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/secretfed/secretfed/pkg/encryption"
	"github.com/secretfed/secretfed/test/kmsplugin"
)

// assertEncrypted checks a raw etcd value's prefix and that no secret value
// appears in it, plain or base64.
func assertEncrypted(t *testing.T, raw []byte, prefix string, values ...string) {
	t.Helper()
	if !bytes.HasPrefix(raw, []byte(prefix)) {
		t.Errorf("raw etcd value starts with %q, want prefix %q", truncate(raw, len(prefix)+8), prefix)
	}
	for _, v := range values {
		if found := contains(raw, v, base64.StdEncoding.EncodeToString([]byte(v))); len(found) > 0 {
			t.Errorf("raw etcd value contains a secret value (%d forms)", len(found))
		}
	}
}

func truncate(b []byte, n int) string {
	if len(b) < n {
		return string(b)
	}
	return string(b[:n])
}

func TestGeneratedSecretboxKeyEncryptsBothResourcesAtRest(t *testing.T) {
	cfg := newServerConfig(t)
	s := startServer(t, cfg)
	ctx := ctxT(t)

	keyFile := filepath.Join(cfg.DataDir, encryption.DefaultConfigFile)
	st, err := os.Stat(keyFile)
	if err != nil {
		t.Fatalf("generated key file: %v", err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("generated key file mode %#o, want 0600", st.Mode().Perm())
	}

	const pw, user = "at-rest-Pa55word", "at-rest-admin-user"
	fs := newFederatedSecret("payments", "db-creds", map[string]string{"password": pw})
	fs.Spec.Template.StringData = map[string]string{"user": user}
	if _, err := s.Client.SecretfedV1alpha1().FederatedSecrets("payments").Create(ctx, fs, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Client.SecretfedV1alpha1().FederatedClusters().Create(ctx, newFederatedCluster("member1"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	assertEncrypted(t, rawEtcdValue(t, cfg.EtcdClientURL, federatedSecretKey("payments", "db-creds")), "k8s:enc:secretbox:v1:key1:", pw, user)
	assertEncrypted(t, rawEtcdValue(t, cfg.EtcdClientURL, federatedClusterKey("member1")), "k8s:enc:secretbox:v1:key1:", "10.1.2.3")
}

func TestRestartOnTheSameDataDirReadsEverythingBack(t *testing.T) {
	cfg := newServerConfig(t)
	s := startServer(t, cfg)
	ctx := ctxT(t)
	for i := 0; i < 5; i++ {
		fs := newFederatedSecret("payments", fmt.Sprintf("s%d", i), map[string]string{"password": fmt.Sprintf("restart-pw-%d", i)})
		if _, err := s.Client.SecretfedV1alpha1().FederatedSecrets("payments").Create(ctx, fs, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Client.SecretfedV1alpha1().FederatedClusters().Create(ctx, newFederatedCluster("member1"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	s.Stop()

	s2 := startServer(t, cfg)
	list, err := s2.Client.SecretfedV1alpha1().FederatedSecrets("payments").List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatalf("list after restart: %v", err)
	}
	if len(list.Items) != 5 {
		t.Fatalf("after restart: %d FederatedSecrets, want 5", len(list.Items))
	}
	for _, fs := range list.Items {
		want := "restart-pw-" + strings.TrimPrefix(fs.Name, "s")
		if string(fs.Spec.Template.Data["password"]) != want {
			t.Errorf("%s: password did not round-trip through the restart", fs.Name)
		}
	}
	if _, err := s2.Client.SecretfedV1alpha1().FederatedClusters().Get(ctx, "member1", metav1.GetOptions{}); err != nil {
		t.Errorf("get FederatedCluster after restart: %v", err)
	}
}

func TestRestartWithADifferentKeyFailsReadsClearlyAndKeepsTheData(t *testing.T) {
	cfg := newServerConfig(t)
	s := startServer(t, cfg)
	ctx := ctxT(t)
	if _, err := s.Client.SecretfedV1alpha1().FederatedSecrets("payments").Create(ctx,
		newFederatedSecret("payments", "keep-me", map[string]string{"password": "wrong-key-pw"}), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	s.Stop()
	before := rawEtcdValueOffline(t, cfg)

	other := writeEncryptionConfig(t, "secretbox", randomKeyB64(t, 32))
	wrong := cfg
	wrong.Flags = []string{"--encryption-provider-config=" + other}
	s2 := startServer(t, wrong)
	_, err := s2.Client.SecretfedV1alpha1().FederatedSecrets("payments").Get(ctx, "keep-me", metav1.GetOptions{})
	if err == nil {
		t.Fatal("get with a different key succeeded, want an error")
	}
	if msg := err.Error(); !strings.Contains(msg, "decrypt") && !strings.Contains(msg, "transform") {
		t.Errorf("error %q does not say that decryption failed", msg)
	}
	if strings.Contains(err.Error(), "wrong-key-pw") {
		t.Errorf("error contains the secret value")
	}
	s2.Stop()

	after := rawEtcdValueOffline(t, cfg)
	if !bytes.Equal(before, after) {
		t.Errorf("the stored value changed while the wrong key was configured")
	}
	s3 := startServer(t, cfg)
	got, err := s3.Client.SecretfedV1alpha1().FederatedSecrets("payments").Get(ctx, "keep-me", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get with the original key again: %v", err)
	}
	if string(got.Spec.Template.Data["password"]) != "wrong-key-pw" {
		t.Errorf("value did not survive the wrong-key start")
	}
}

func TestAESGCMConfigurationChangesTheStoredPrefixAndRoundTrips(t *testing.T) {
	cfg := newServerConfig(t)
	cfg.Flags = []string{"--encryption-provider-config=" + writeEncryptionConfig(t, "aesgcm", randomKeyB64(t, 32))}
	s := startServer(t, cfg)
	ctx := ctxT(t)
	const pw = "aesgcm-pw-value"
	if _, err := s.Client.SecretfedV1alpha1().FederatedSecrets("payments").Create(ctx,
		newFederatedSecret("payments", "gcm", map[string]string{"password": pw}), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	assertEncrypted(t, rawEtcdValue(t, cfg.EtcdClientURL, federatedSecretKey("payments", "gcm")), "k8s:enc:aesgcm:v1:key1:", pw)
	got, err := s.Client.SecretfedV1alpha1().FederatedSecrets("payments").Get(ctx, "gcm", metav1.GetOptions{})
	if err != nil || string(got.Spec.Template.Data["password"]) != pw {
		t.Fatalf("round trip through aesgcm failed: %v", err)
	}
}

func TestKMSv2ConfigurationChangesTheStoredPrefixAndRoundTrips(t *testing.T) {
	sock := filepath.Join(shortTempDir(t), "kms.sock")
	pctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	go func() { _ = kmsplugin.Serve(pctx, sock, key) }()

	conf := fmt.Sprintf(`apiVersion: apiserver.config.k8s.io/v1
kind: EncryptionConfiguration
resources:
- resources: [federatedsecrets.secretfed.io, federatedclusters.secretfed.io]
  providers:
  - kms:
      apiVersion: v2
      name: testkms
      endpoint: unix://%s
      timeout: 5s
`, sock)
	path := filepath.Join(t.TempDir(), "kms.yaml")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := newServerConfig(t)
	cfg.Flags = []string{"--encryption-provider-config=" + path}
	s := startServer(t, cfg)
	ctx := ctxT(t)
	const pw = "kms-v2-pw-value"
	if _, err := s.Client.SecretfedV1alpha1().FederatedSecrets("payments").Create(ctx,
		newFederatedSecret("payments", "kms", map[string]string{"password": pw}), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	assertEncrypted(t, rawEtcdValue(t, cfg.EtcdClientURL, federatedSecretKey("payments", "kms")), "k8s:enc:kms:v2:testkms:", pw)
	got, err := s.Client.SecretfedV1alpha1().FederatedSecrets("payments").Get(ctx, "kms", metav1.GetOptions{})
	if err != nil || string(got.Spec.Template.Data["password"]) != pw {
		t.Fatalf("round trip through KMS v2 failed: %v", err)
	}
}

func TestIdentityFirstForFederatedSecretsIsRefusedUnlessAllowed(t *testing.T) {
	path := writeEncryptionConfig(t, "identity", "")
	cfg := newServerConfig(t)
	cfg.Flags = []string{"--encryption-provider-config=" + path}
	_, err := buildOptions(t, cfg)
	if err == nil || !strings.Contains(err.Error(), "identity") || !strings.Contains(err.Error(), "--allow-unencrypted-storage") {
		t.Fatalf("validation error = %v, want a refusal naming identity and --allow-unencrypted-storage", err)
	}
	cfg.Flags = append(cfg.Flags, "--allow-unencrypted-storage")
	if _, err := buildOptions(t, cfg); err != nil {
		t.Fatalf("with --allow-unencrypted-storage: %v", err)
	}
}

// writeEncryptionConfig writes a one-provider EncryptionConfiguration.
func writeEncryptionConfig(t *testing.T, provider, keyB64 string) string {
	t.Helper()
	var body string
	switch provider {
	case "identity":
		body = "  - identity: {}\n"
	default:
		body = fmt.Sprintf("  - %s:\n      keys:\n      - name: key1\n        secret: %s\n", provider, keyB64)
	}
	conf := "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n" +
		"- resources: [federatedsecrets.secretfed.io, federatedclusters.secretfed.io]\n  providers:\n" + body
	path := filepath.Join(t.TempDir(), provider+".yaml")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func randomKeyB64(t *testing.T, n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(b)
}

// shortTempDir returns a directory with a short path: unix socket paths are
// limited to ~108 bytes.
func shortTempDir(t *testing.T) string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	d := filepath.Join(os.TempDir(), "sf-"+hex.EncodeToString(b))
	if err := os.MkdirAll(d, 0o700); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

// rawEtcdValueOffline reads the stored FederatedSecret keep-me with the
// embedded etcd started on its own, with no apiserver in front.
func rawEtcdValueOffline(t *testing.T, cfg serverConfig) []byte {
	t.Helper()
	e, err := startBareEtcd(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	return rawEtcdValue(t, cfg.EtcdClientURL, federatedSecretKey("payments", "keep-me"))
}
