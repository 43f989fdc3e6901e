package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"

	"github.com/secretfed/secretfed/pkg/generated/clientset/versioned"
	"github.com/secretfed/secretfed/test/e2e/framework"
)

func TestDiscoveryThroughTheHostListsBothResources(t *testing.T) {
	ctx := framework.Context(t, time.Minute)
	r := f.Kubectl(ctx, "", "--context", f.HostContext, "api-resources", "--api-group=secretfed.io", "--no-headers")
	if r.Err != nil {
		t.Fatalf("kubectl api-resources: %v\n%s", r.Err, r.Output())
	}
	for _, want := range [][]string{
		{"federatedclusters", "fcl", "secretfed.io/v1alpha1", "false", "FederatedCluster"},
		{"federatedsecrets", "fsec", "secretfed.io/v1alpha1", "true", "FederatedSecret"},
	} {
		if !hasRow(r.Stdout, want) {
			t.Errorf("api-resources has no row %v:\n%s", want, r.Stdout)
		}
	}
}

func TestKubectlExplainDescribesPlacement(t *testing.T) {
	// The host's OpenAPI v3 aggregation picks the group up shortly after the
	// APIService turns Available, so allow it a moment.
	framework.Eventually(t, 90*time.Second, "kubectl explain federatedsecret.spec.placement", func(ctx context.Context) error {
		r := f.Kubectl(ctx, "", "--context", f.HostContext, "explain", "federatedsecret.spec.placement")
		if r.Err != nil {
			return fmt.Errorf("%v: %s", r.Err, r.Output())
		}
		for _, want := range []string{"clusterSelector", "clusters", "takes precedence"} {
			if !strings.Contains(r.Stdout, want) {
				return fmt.Errorf("explain output lacks %q:\n%s", want, r.Stdout)
			}
		}
		return nil
	})
	ctx := framework.Context(t, time.Minute)
	r := f.Kubectl(ctx, "", "--context", f.HostContext, "explain", "federatedcluster.spec.insecureSkipTLSVerify")
	if r.Err != nil || !strings.Contains(r.Stdout, "Opt-in") {
		t.Errorf("explain federatedcluster.spec.insecureSkipTLSVerify: %v\n%s", r.Err, r.Output())
	}
}

func TestApplyGetDescribeDeleteThroughTheAggregator(t *testing.T) {
	ctx := framework.Context(t, 2*time.Minute)
	ns := createNamespace(t, "e2e-crud")
	manifest := fmt.Sprintf(`apiVersion: secretfed.io/v1alpha1
kind: FederatedSecret
metadata:
  name: api-token
  namespace: %s
spec:
  template:
    type: Opaque
    stringData: {token: e2e-crud-t0ken}
`, ns)
	if r := f.Kubectl(ctx, manifest, "--context", f.HostContext, "apply", "-f", "-"); r.Err != nil {
		t.Fatalf("kubectl apply: %v\n%s", r.Err, r.Output())
	}
	r := f.Kubectl(ctx, "", "--context", f.HostContext, "get", "fsec", "-n", ns)
	if r.Err != nil {
		t.Fatalf("kubectl get: %v\n%s", r.Err, r.Output())
	}
	lines := strings.Split(strings.TrimSpace(r.Stdout), "\n")
	if got := strings.Fields(lines[0]); strings.Join(got, " ") != "NAME TYPE CLUSTERS PROPAGATED AGE" {
		t.Errorf("kubectl get columns = %v, want NAME TYPE CLUSTERS PROPAGATED AGE", got)
	}
	if len(lines) != 2 || !hasRow(lines[1], []string{"api-token", "Opaque", "0", "0/0"}) {
		t.Errorf("kubectl get rows:\n%s", r.Stdout)
	}
	if r := f.Kubectl(ctx, "", "--context", f.HostContext, "describe", "fsec", "api-token", "-n", ns); r.Err != nil || !strings.Contains(r.Stdout, "api-token") {
		t.Errorf("kubectl describe: %v\n%s", r.Err, r.Output())
	}
	if r := f.Kubectl(ctx, "", "--context", f.HostContext, "get", "secretfed", "-A"); r.Err != nil || !strings.Contains(r.Stdout, "api-token") {
		t.Errorf("kubectl get secretfed (category): %v\n%s", r.Err, r.Output())
	}
	if r := f.Kubectl(ctx, "", "--context", f.HostContext, "delete", "fsec", "api-token", "-n", ns, "--timeout=60s"); r.Err != nil {
		t.Fatalf("kubectl delete: %v\n%s", r.Err, r.Output())
	}
	if _, err := f.Secretfed.SecretfedV1alpha1().FederatedSecrets(ns).Get(ctx, "api-token", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("after delete: %v, want NotFound", err)
	}
}

func TestInvalidFederatedSecretIsRejectedWith422NamingTheField(t *testing.T) {
	ctx := framework.Context(t, time.Minute)
	ns := createNamespace(t, "e2e-invalid")
	manifest := fmt.Sprintf(`apiVersion: secretfed.io/v1alpha1
kind: FederatedSecret
metadata: {name: bad, namespace: %s}
spec:
  template: {type: kubernetes.io/tls, stringData: {tls.crt: x}}
  overrides:
  - clusterName: member1
    clusterOverrides:
    - {op: replace, path: /metadata/namespace, value: other}
`, ns)
	r := f.Kubectl(ctx, manifest, "--context", f.HostContext, "create", "-f", "-")
	if r.Err == nil {
		t.Fatal("kubectl create accepted an invalid FederatedSecret")
	}
	for _, want := range []string{"spec.template.data[tls.key]", "spec.overrides[0].clusterOverrides[0].path"} {
		if !strings.Contains(r.Stderr, want) {
			t.Errorf("error lacks field %q:\n%s", want, r.Stderr)
		}
	}
}

func TestUsersGetExactlyWhatRBACGrants(t *testing.T) {
	ctx := framework.Context(t, 3*time.Minute)
	ns := createNamespace(t, "e2e-rbac")
	if _, err := f.Secretfed.SecretfedV1alpha1().FederatedSecrets(ns).Create(ctx, simpleFederatedSecret(ns, "visible", "rbac-value"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	userCfg, kubeconfig := serviceAccountUser(t, ns, "nobody")
	client := versioned.NewForConfigOrDie(userCfg)

	// No RBAC at all: everything is forbidden, through kubectl and the API.
	for _, args := range [][]string{
		{"get", "fsec", "visible", "-n", ns},
		{"get", "fsec", "-n", ns},
		{"create", "-f", "-"},
	} {
		stdin := ""
		if args[0] == "create" {
			stdin = fmt.Sprintf("apiVersion: secretfed.io/v1alpha1\nkind: FederatedSecret\nmetadata: {name: sneaky, namespace: %s}\n", ns)
		}
		r := f.Kubectl(ctx, stdin, append([]string{"--kubeconfig", kubeconfig}, args...)...)
		if r.Err == nil || !strings.Contains(r.Stderr, "Forbidden") && !strings.Contains(r.Stderr, "forbidden") {
			t.Errorf("kubectl %v as a user without RBAC: err=%v, want Forbidden\n%s", args, r.Err, r.Output())
		}
	}
	if _, err := client.SecretfedV1alpha1().FederatedSecrets(ns).Watch(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("watch without RBAC: %v, want Forbidden", err)
	}

	// Granted get but not list: get works, list does not.
	grant(t, ns, "nobody", []string{"get"})
	framework.Eventually(t, 60*time.Second, "get allowed after the Role is bound", func(ctx context.Context) error {
		_, err := client.SecretfedV1alpha1().FederatedSecrets(ns).Get(ctx, "visible", metav1.GetOptions{})
		return err
	})
	if _, err := client.SecretfedV1alpha1().FederatedSecrets(ns).List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("list with only get granted: %v, want Forbidden", err)
	}
	if _, err := client.SecretfedV1alpha1().FederatedSecrets(ns).Create(ctx, simpleFederatedSecret(ns, "sneaky", "x"), metav1.CreateOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("create with only get granted: %v, want Forbidden", err)
	}
}

func TestStoredFederatedSecretIsEncryptedInSecretfedEtcd(t *testing.T) {
	requireLocalBed(t, "reads secretfed's etcd at SECRETFED_ETCD_URL")
	etcdURL := f.Env["SECRETFED_ETCD_URL"]
	if etcdURL == "" {
		t.Fatal("the bed records no SECRETFED_ETCD_URL")
	}
	ctx := framework.Context(t, time.Minute)
	ns := createNamespace(t, "e2e-atrest")
	const value = "e2e-at-rest-V4lue"
	if _, err := f.Secretfed.SecretfedV1alpha1().FederatedSecrets(ns).Create(ctx, simpleFederatedSecret(ns, "raw", value), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	c, err := clientv3.New(clientv3.Config{Endpoints: []string{etcdURL}, DialTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	resp, err := c.Get(ctx, "/registry/secretfed.io/federatedsecrets/"+ns+"/raw")
	if err != nil || len(resp.Kvs) != 1 {
		t.Fatalf("raw etcd read: %v (%d values)", err, len(resp.Kvs))
	}
	raw := resp.Kvs[0].Value
	if !bytes.HasPrefix(raw, []byte("k8s:enc:")) {
		t.Errorf("raw value is not encrypted: starts with %q", raw[:min(len(raw), 12)])
	}
	if bytes.Contains(raw, []byte(value)) || bytes.Contains(raw, []byte(base64.StdEncoding.EncodeToString([]byte(value)))) {
		t.Errorf("raw etcd value contains the secret value")
	}
}

// --- helpers ---

func hasRow(out string, fields []string) bool {
	for _, line := range strings.Split(out, "\n") {
		got := strings.Fields(line)
		if len(got) < len(fields) {
			continue
		}
		ok := true
		for i, want := range fields {
			if got[i] != want {
				ok = false
				break
			}
		}
		if ok {
			return true
		}
	}
	return false
}

// createNamespace creates a uniquely named host namespace and deletes its
// FederatedSecrets afterwards (the host runs no namespace controller).
func createNamespace(t *testing.T, prefix string) string {
	t.Helper()
	ctx := framework.Context(t, time.Minute)
	ns, err := f.Host.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: prefix + "-"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("creating namespace: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_ = f.Secretfed.SecretfedV1alpha1().FederatedSecrets(ns.Name).DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{})
	})
	return ns.Name
}

func simpleFederatedSecret(ns, name, value string) *v1alpha1FederatedSecret {
	return newFS(ns, name, map[string][]byte{"value": []byte(value)})
}

// serviceAccountUser returns a client config and a kubeconfig file for a
// fresh ServiceAccount of the host, authenticated by a bound token only.
func serviceAccountUser(t *testing.T, ns, name string) (*rest.Config, string) {
	t.Helper()
	ctx := framework.Context(t, time.Minute)
	if _, err := f.Host.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	tr, err := f.Host.CoreV1().ServiceAccounts(ns).CreateToken(ctx, name, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](3600)},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cfg := &rest.Config{
		Host:            f.HostREST.Host,
		BearerToken:     tr.Status.Token,
		TLSClientConfig: rest.TLSClientConfig{CAFile: f.HostREST.CAFile, CAData: f.HostREST.CAData},
		Timeout:         30 * time.Second,
	}
	ca := f.HostREST.CAFile
	if ca == "" {
		ca = filepath.Join(t.TempDir(), "ca.crt")
		if err := os.WriteFile(ca, f.HostREST.CAData, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	content := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters: [{name: host, cluster: {server: %q, certificate-authority: %q}}]
users: [{name: %s, user: {token: %q}}]
contexts: [{name: user, context: {cluster: host, user: %s}}]
current-context: user
`, f.HostREST.Host, ca, name, tr.Status.Token, name)
	if err := os.WriteFile(kubeconfig, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return cfg, kubeconfig
}

// grant binds a Role with the given verbs on federatedsecrets to a ServiceAccount.
func grant(t *testing.T, ns, sa string, verbs []string) {
	t.Helper()
	ctx := framework.Context(t, time.Minute)
	role := &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Name: sa + "-fsec", Namespace: ns},
		Rules:      []rbacv1.PolicyRule{{APIGroups: []string{"secretfed.io"}, Resources: []string{"federatedsecrets"}, Verbs: verbs}},
	}
	if _, err := f.Host.RbacV1().Roles(ns).Create(ctx, role, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	rb := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: sa + "-fsec", Namespace: ns},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: role.Name},
		Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Name: sa, Namespace: ns}},
	}
	if _, err := f.Host.RbacV1().RoleBindings(ns).Create(ctx, rb, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}
