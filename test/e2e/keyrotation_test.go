package e2e

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	apiserverv1 "k8s.io/apiserver/pkg/apis/apiserver/v1"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/yaml"

	"github.com/secretfed/secretfed/pkg/apis/secretfed/v1alpha1"
	"github.com/secretfed/secretfed/pkg/encryption"
	"github.com/secretfed/secretfed/test/e2e/framework"
)

// The Kubernetes key rotation procedure, as docs/key-rotation.md tells it:
// from an explicit configuration with key1, add key2 second, restart, make
// it first, restart, rewrite every object through the API, remove key1,
// restart. Every object stays readable at every step, and the raw etcd
// values end on key2. "Every object" includes the credentials
// FederatedSecrets (secretfed-system/*-credentials) and the
// FederatedClusters: left on key1, they would be unreadable once key1 is
// gone, and the loops could reach no member.
func TestEncryptionKeyRotationKeepsEverythingReadableAndEndsOnTheNewKey(t *testing.T) {
	requireLocalBed(t, "restarts secretfed with new keys, reads its data dir and etcd")
	if strings.Contains(os.Getenv("E2E_SECRETFED_ARGS"), "encryption-provider-config") {
		t.Skip("E2E_SECRETFED_ARGS sets an encryption configuration: this spec starts from the generated default one")
	}
	key1 := generatedKey(t)
	key2 := secretboxKey{"key2", randomKey(t)}
	dir := t.TempDir()
	config := func(name string, keys ...secretboxKey) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(encryptionConfig("secretbox", keys...)), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	restart := func(step, config string) {
		t.Helper()
		t0 := time.Now()
		var args []string
		if config != "" {
			args = append(args, "--encryption-provider-config="+config)
		}
		if err := f.RestartSecretfed(args...); err != nil {
			t.Fatalf("%s: restarting secretfed: %v", step, err)
		}
		t.Logf("%s: restarted in %s", step, time.Since(t0).Round(time.Millisecond))
	}

	// 0. The generated key, named key1, as an explicit configuration.
	restart("explicit key1", config("1-key1.yaml", key1))
	// Whatever happened, go back to the default configuration (key1 only):
	// key1 first with key2 still readable, rewrite, then the default.
	t.Cleanup(func() {
		restart("restore: key1 first, key2 second", config("restore-key1-key2.yaml", key1, key2))
		rewriteEverything(t)
		restart("restore: the default configuration", "")
		assertReadable(t, "restored", "", nil)
		assertRawPrefix(t, "k8s:enc:secretbox:v1:key1:")
	})

	ns := createNamespace(t, "e2e-rotation")
	t.Cleanup(func() { deleteAllAndWait(t, ns) })
	values := map[string]string{"rot-0": "rot-v0", "rot-1": "rot-v1", "rot-2": "rot-v2"}
	for name, v := range values {
		createFS(t, placedFS(ns, name, v, all()))
	}
	for name, v := range values {
		for _, m := range f.MemberNames {
			waitForValue(t, m, ns, name, v)
		}
	}
	assertReadable(t, "key1", ns, values)
	assertRawPrefix(t, "k8s:enc:secretbox:v1:key1:")

	// 1. Add key2 as the second key: every server can read it before any writes with it.
	restart("key2 second", config("2-key1-key2.yaml", key1, key2))
	assertReadable(t, "key2 second", ns, values)
	assertRawPrefix(t, "k8s:enc:secretbox:v1:key1:")

	// 2. Make key2 the first key: new writes use it.
	restart("key2 first", config("3-key2-key1.yaml", key2, key1))
	assertReadable(t, "key2 first", ns, values)
	values["rot-3"] = "rot-v3"
	createFS(t, placedFS(ns, "rot-3", "rot-v3", all()))
	if p := rawPrefixes(t)["/registry/secretfed.io/federatedsecrets/"+ns+"/rot-3"]; p != "k8s:enc:secretbox:v1:key2:" {
		t.Errorf("a FederatedSecret created with key2 first is stored as %q", p)
	}

	// 3. Rewrite every FederatedSecret and FederatedCluster through the API.
	rewriteEverything(t)
	assertRawPrefix(t, "k8s:enc:secretbox:v1:key2:")

	// 4. Remove key1.
	restart("key1 removed", config("4-key2.yaml", key2))
	assertReadable(t, "key1 removed", ns, values)
	assertRawPrefix(t, "k8s:enc:secretbox:v1:key2:")
	// The loops still read the members' credentials: a change propagates.
	patchData(t, ns, "rot-0", "rot-v0-after")
	for _, m := range f.MemberNames {
		waitForValue(t, m, ns, "rot-0", "rot-v0-after")
		waitForValue(t, m, ns, "rot-3", "rot-v3")
	}
}

// generatedKey is the secretbox key the bed's server generated on its first
// start (named key1).
func generatedKey(t *testing.T) secretboxKey {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(f.Env["SECRETFED_DATA_DIR"], encryption.DefaultConfigFile))
	if err != nil {
		t.Fatalf("reading the generated encryption configuration: %v", err)
	}
	var cfg apiserverv1.EncryptionConfiguration
	if err := yaml.UnmarshalStrict(data, &cfg); err != nil {
		t.Fatal(err)
	}
	if len(cfg.Resources) != 1 || len(cfg.Resources[0].Providers) != 1 || cfg.Resources[0].Providers[0].Secretbox == nil ||
		len(cfg.Resources[0].Providers[0].Secretbox.Keys) != 1 {
		t.Fatalf("the generated configuration is not one secretbox key")
	}
	k := cfg.Resources[0].Providers[0].Secretbox.Keys[0]
	return secretboxKey{k.Name, k.Secret}
}

func randomKey(t *testing.T) string {
	t.Helper()
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(key)
}

// rewriteEverything updates every FederatedSecret and FederatedCluster
// without a change, as `kubectl get fsec -A -o json | kubectl replace -f -`
// does: the server rewrites an object read with a key that is not the first
// one, so it is stored again with the first.
func rewriteEverything(t *testing.T) {
	t.Helper()
	ctx := framework.Context(t, 3*time.Minute)
	sf := f.Secretfed.SecretfedV1alpha1()
	fss, err := sf.FederatedSecrets("").List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatalf("listing FederatedSecrets to rewrite them: %v", err)
	}
	for _, item := range fss.Items {
		err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
			cur, err := sf.FederatedSecrets(item.Namespace).Get(ctx, item.Name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			_, err = sf.FederatedSecrets(item.Namespace).Update(ctx, cur, metav1.UpdateOptions{})
			return err
		})
		if err != nil && !apierrors.IsNotFound(err) {
			t.Errorf("rewriting FederatedSecret %s/%s: %v", item.Namespace, item.Name, err)
		}
	}
	fcs, err := sf.FederatedClusters().List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatalf("listing FederatedClusters to rewrite them: %v", err)
	}
	for _, item := range fcs.Items {
		err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
			cur, err := sf.FederatedClusters().Get(ctx, item.Name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			_, err = sf.FederatedClusters().Update(ctx, cur, metav1.UpdateOptions{})
			return err
		})
		if err != nil && !apierrors.IsNotFound(err) {
			t.Errorf("rewriting FederatedCluster %s: %v", item.Name, err)
		}
	}
	t.Logf("rewrote %d FederatedSecrets and %d FederatedClusters", len(fss.Items), len(fcs.Items))
}

// assertReadable lists every FederatedSecret and FederatedCluster (a list
// fails as a whole if one object cannot be decrypted), reads every
// cluster's credentials, and checks the spec's own values.
func assertReadable(t *testing.T, step, ns string, values map[string]string) {
	t.Helper()
	ctx := framework.Context(t, time.Minute)
	sf := f.Secretfed.SecretfedV1alpha1()
	if _, err := sf.FederatedSecrets("").List(ctx, metav1.ListOptions{}); err != nil {
		t.Fatalf("%s: listing every FederatedSecret: %v", step, err)
	}
	fcs, err := sf.FederatedClusters().List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatalf("%s: listing every FederatedCluster: %v", step, err)
	}
	for _, fc := range fcs.Items {
		c, err := sf.FederatedSecrets(v1alpha1.SystemNamespace).Get(ctx, fc.Spec.SecretRef.Name, metav1.GetOptions{})
		if err != nil || len(c.Spec.Template.Data[v1alpha1.CredentialsTokenKey]) == 0 {
			t.Fatalf("%s: the credentials of %s are unreadable or empty (%v)", step, fc.Name, err)
		}
	}
	for name, v := range values {
		fs, err := sf.FederatedSecrets(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatalf("%s: reading %s/%s: %v", step, ns, name, err)
		}
		if !bytes.Equal(fs.Spec.Template.Data["password"], []byte(v)) {
			t.Errorf("%s: %s/%s holds another value", step, ns, name)
		}
	}
}

// rawPrefixes reads secretfed's embedded etcd and returns, for every stored
// FederatedSecret and FederatedCluster, the envelope prefix of its value
// ("k8s:enc:<provider>:v1:<key>:").
func rawPrefixes(t *testing.T) map[string]string {
	t.Helper()
	ctx := framework.Context(t, time.Minute)
	c, err := clientv3.New(clientv3.Config{Endpoints: []string{f.Env["SECRETFED_ETCD_URL"]}, DialTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	out := map[string]string{}
	for _, res := range []string{"federatedsecrets", "federatedclusters"} {
		resp, err := c.Get(ctx, "/registry/secretfed.io/"+res+"/", clientv3.WithPrefix())
		if err != nil {
			t.Fatalf("raw etcd read: %v", err)
		}
		for _, kv := range resp.Kvs {
			parts := strings.SplitN(string(kv.Value), ":", 6)
			if len(parts) < 6 {
				out[string(kv.Key)] = "unencrypted"
				continue
			}
			out[string(kv.Key)] = strings.Join(parts[:5], ":") + ":"
		}
	}
	return out
}

// assertRawPrefix checks that every stored object is encrypted with want.
func assertRawPrefix(t *testing.T, want string) {
	t.Helper()
	raw := rawPrefixes(t)
	var wrong []string
	for k, p := range raw {
		if p != want {
			wrong = append(wrong, fmt.Sprintf("%s (%s)", k, p))
		}
	}
	sort.Strings(wrong)
	if len(wrong) > 0 {
		t.Errorf("%d of %d stored objects are not encrypted with %s: %v", len(wrong), len(raw), want, wrong[:min(5, len(wrong))])
	}
	if len(raw) == 0 {
		t.Errorf("no stored object found under /registry/secretfed.io/")
	}
}
