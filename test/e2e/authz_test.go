package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"

	"github.com/secretfed/secretfed/pkg/apis/secretfed/v1alpha1"
	"github.com/secretfed/secretfed/pkg/generated/clientset/versioned"
	"github.com/secretfed/secretfed/test/e2e/framework"
)

// The shipped user roles (artifacts/deploy/roles.yaml) are tested by binding
// them directly: the bed runs no kube-controller-manager, so nothing
// aggregates them into view/edit/admin here. Their aggregation labels are
// checked against the selectors of the host's own view, edit and admin.
//
// The aggregated server caches authorization decisions (about 10 s, allowed
// and denied alike), so "becomes allowed" is polled and every Forbidden is
// checked before the grant that would lift it.

const authzGrantDeadline = 60 * time.Second

var shippedRoles = map[string]string{
	"secretfed-view":  "view",
	"secretfed-edit":  "edit",
	"secretfed-admin": "admin",
}

func TestShippedRolesCarryTheLabelsTheStandardRolesAggregate(t *testing.T) {
	ctx := framework.Context(t, time.Minute)
	r := f.Kubectl(ctx, "", "kustomize", filepath.Join(f.RepoRoot, "artifacts", "deploy"))
	if r.Err != nil {
		t.Fatalf("kubectl kustomize artifacts/deploy: %v\n%s", r.Err, r.Output())
	}
	rendered := map[string]map[string]string{}
	for _, o := range decodeAll(t, r.Stdout) {
		if o.GetKind() == "ClusterRole" {
			rendered[o.GetName()] = o.GetLabels()
		}
	}
	for role, standard := range shippedRoles {
		lbls, ok := rendered[role]
		if !ok {
			t.Errorf("artifacts/deploy renders no ClusterRole %s", role)
			continue
		}
		want := "rbac.authorization.k8s.io/aggregate-to-" + standard
		if lbls[want] != "true" {
			t.Errorf("ClusterRole %s labels %v, want %s: \"true\"", role, lbls, want)
		}
		// The host's own role says what it aggregates: our labels must match
		// one of its selectors, and no other standard role's.
		for _, other := range []string{"view", "edit", "admin"} {
			cr, err := f.Host.RbacV1().ClusterRoles().Get(ctx, other, metav1.GetOptions{})
			if err != nil {
				t.Fatalf("reading the host's ClusterRole %s: %v", other, err)
			}
			if got := aggregatedBy(t, cr, lbls); got != (other == standard) {
				t.Errorf("the host's %s aggregates %s: %v, want %v", other, role, got, other == standard)
			}
		}
		// The bed applied the shipped file (hack/local-secretfed.sh).
		if _, err := f.Host.RbacV1().ClusterRoles().Get(ctx, role, metav1.GetOptions{}); err != nil {
			t.Errorf("ClusterRole %s on the bed: %v", role, err)
		}
	}
}

func aggregatedBy(t *testing.T, cr *rbacv1.ClusterRole, lbls map[string]string) bool {
	t.Helper()
	if cr.AggregationRule == nil {
		return false
	}
	for _, s := range cr.AggregationRule.ClusterRoleSelectors {
		sel, err := metav1.LabelSelectorAsSelector(&s)
		if err != nil {
			t.Fatalf("selector of %s: %v", cr.Name, err)
		}
		if sel.Matches(labels.Set(lbls)) {
			return true
		}
	}
	return false
}

func TestViewRoleReadsFederatedClustersButNoFederatedSecretAnywhere(t *testing.T) {
	ctx := framework.Context(t, 3*time.Minute)
	ns := createNamespace(t, "e2e-authz-view")
	if _, err := f.Secretfed.SecretfedV1alpha1().FederatedSecrets(ns).Create(ctx, simpleFederatedSecret(ns, "hidden", "authz-view-value"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	cfg, _ := serviceAccountUser(t, ns, "viewer")
	client := versioned.NewForConfigOrDie(cfg)
	// Cluster-wide, the widest view there is.
	bindClusterRoleClusterWide(t, ns, "viewer", "secretfed-view")

	framework.Eventually(t, authzGrantDeadline, "secretfed-view lists federatedclusters", func(ctx context.Context) error {
		list, err := client.SecretfedV1alpha1().FederatedClusters().List(ctx, metav1.ListOptions{})
		if err != nil {
			return err
		}
		if len(list.Items) < len(f.MemberNames) {
			return fmt.Errorf("listed %d federatedclusters, want the %d members", len(list.Items), len(f.MemberNames))
		}
		return nil
	})
	if _, err := client.SecretfedV1alpha1().FederatedClusters().Get(ctx, f.MemberNames[0], metav1.GetOptions{}); err != nil {
		t.Errorf("get federatedcluster %s as secretfed-view: %v", f.MemberNames[0], err)
	}
	fsecs := client.SecretfedV1alpha1().FederatedSecrets(ns)
	forbidden(t, "list federatedsecrets", func() error { _, err := fsecs.List(ctx, metav1.ListOptions{}); return err })
	forbidden(t, "get federatedsecret", func() error { _, err := fsecs.Get(ctx, "hidden", metav1.GetOptions{}); return err })
	forbidden(t, "watch federatedsecrets", func() error { _, err := fsecs.Watch(ctx, metav1.ListOptions{}); return err })
	forbidden(t, "list federatedsecrets in all namespaces", func() error {
		_, err := client.SecretfedV1alpha1().FederatedSecrets("").List(ctx, metav1.ListOptions{})
		return err
	})
	// The status subresource returns the whole object, data included.
	forbidden(t, "get federatedsecrets/status", func() error {
		return client.SecretfedV1alpha1().RESTClient().Get().Namespace(ns).Resource("federatedsecrets").Name("hidden").SubResource("status").Do(ctx).Error()
	})
	forbidden(t, "create federatedsecret", func() error {
		_, err := fsecs.Create(ctx, simpleFederatedSecret(ns, "sneaky", "x"), metav1.CreateOptions{})
		return err
	})
	forbidden(t, "update federatedcluster (dry run)", func() error {
		fc, err := f.Secretfed.SecretfedV1alpha1().FederatedClusters().Get(ctx, f.MemberNames[0], metav1.GetOptions{})
		if err != nil {
			return err
		}
		_, err = client.SecretfedV1alpha1().FederatedClusters().Update(ctx, fc, metav1.UpdateOptions{DryRun: []string{metav1.DryRunAll}})
		return err
	})
}

func TestEditRoleManagesFederatedSecretsInItsNamespaceOnlyAndNotTheirStatus(t *testing.T) {
	ctx := framework.Context(t, 4*time.Minute)
	ns := createNamespace(t, "e2e-authz-edit")
	other := createNamespace(t, "e2e-authz-other")
	cfg, _ := serviceAccountUser(t, ns, "editor")
	client := versioned.NewForConfigOrDie(cfg)
	fsecs := client.SecretfedV1alpha1().FederatedSecrets(ns)
	bindClusterRole(t, ns, ns, "editor", "secretfed-edit")

	framework.Eventually(t, authzGrantDeadline, "secretfed-edit creates a federatedsecret in its namespace", func(ctx context.Context) error {
		_, err := fsecs.Create(ctx, simpleFederatedSecret(ns, "mine", "authz-edit-value"), metav1.CreateOptions{})
		return err
	})
	got, err := fsecs.Get(ctx, "mine", metav1.GetOptions{})
	if err != nil || string(got.Spec.Template.Data["value"]) != "authz-edit-value" {
		t.Fatalf("get as secretfed-edit: %v", err)
	}
	if _, err := fsecs.List(ctx, metav1.ListOptions{}); err != nil {
		t.Errorf("list as secretfed-edit: %v", err)
	}
	if _, err := fsecs.Patch(ctx, "mine", types.MergePatchType, []byte(`{"metadata":{"labels":{"edited":"yes"}}}`), metav1.PatchOptions{}); err != nil {
		t.Errorf("patch as secretfed-edit: %v", err)
	}
	framework.Eventually(t, 30*time.Second, "update as secretfed-edit", func(ctx context.Context) error {
		cur, err := fsecs.Get(ctx, "mine", metav1.GetOptions{})
		if err != nil {
			return err
		}
		cur.Spec.Template.Data["more"] = []byte("authz-edit-more")
		_, err = fsecs.Update(ctx, cur, metav1.UpdateOptions{})
		return err
	})

	forbidden(t, "create federatedsecret in another namespace", func() error {
		_, err := client.SecretfedV1alpha1().FederatedSecrets(other).Create(ctx, simpleFederatedSecret(other, "theirs", "x"), metav1.CreateOptions{})
		return err
	})
	forbidden(t, "list federatedsecrets in another namespace", func() error {
		_, err := client.SecretfedV1alpha1().FederatedSecrets(other).List(ctx, metav1.ListOptions{})
		return err
	})
	writeStatus := func(ctx context.Context) error {
		cur, err := fsecs.Get(ctx, "mine", metav1.GetOptions{})
		if err != nil {
			return err
		}
		cur.Status.ObservedGeneration = cur.Generation
		_, err = fsecs.UpdateStatus(ctx, cur, metav1.UpdateOptions{})
		return err
	}
	forbidden(t, "update federatedsecrets/status", func() error { return writeStatus(ctx) })
	forbidden(t, "create federatedcluster (dry run)", func() error {
		_, err := client.SecretfedV1alpha1().FederatedClusters().Create(ctx, authzCluster(), metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		return err
	})

	// An explicit grant on the subresource lifts exactly that.
	grantRules(t, ns, "editor", "status-writer", rbacv1.PolicyRule{
		APIGroups: []string{"secretfed.io"}, Resources: []string{"federatedsecrets/status"}, Verbs: []string{"update"},
	})
	framework.Eventually(t, authzGrantDeadline, "status update allowed after an explicit grant", func(ctx context.Context) error {
		err := writeStatus(ctx)
		if apierrors.IsConflict(err) {
			return fmt.Errorf("conflict with the propagation loop, retrying: %w", err)
		}
		return err
	})

	if err := fsecs.Delete(ctx, "mine", metav1.DeleteOptions{}); err != nil {
		t.Errorf("delete as secretfed-edit: %v", err)
	}
}

func TestAdminRoleGetsEverythingInTheGroup(t *testing.T) {
	ctx := framework.Context(t, 3*time.Minute)
	ns := createNamespace(t, "e2e-authz-admin")
	if _, err := f.Secretfed.SecretfedV1alpha1().FederatedSecrets(ns).Create(ctx, simpleFederatedSecret(ns, "owned", "authz-admin-value"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	cfg, _ := serviceAccountUser(t, ns, "admin")
	client := versioned.NewForConfigOrDie(cfg)
	fsecs := client.SecretfedV1alpha1().FederatedSecrets(ns)
	// Bound in one namespace, as admin usually is: cluster-scoped
	// federatedclusters stay out of reach.
	bindClusterRole(t, ns, ns, "admin", "secretfed-admin")
	dryRun := []string{metav1.DryRunAll}

	framework.Eventually(t, authzGrantDeadline, "secretfed-admin writes federatedsecrets/status in its namespace", func(ctx context.Context) error {
		cur, err := fsecs.Get(ctx, "owned", metav1.GetOptions{})
		if err != nil {
			return err
		}
		_, err = fsecs.UpdateStatus(ctx, cur, metav1.UpdateOptions{DryRun: dryRun})
		return err
	})
	if err := fsecs.DeleteCollection(ctx, metav1.DeleteOptions{DryRun: dryRun}, metav1.ListOptions{}); err != nil {
		t.Errorf("deletecollection (dry run) as secretfed-admin: %v", err)
	}
	forbidden(t, "create federatedcluster (dry run) with a namespaced binding", func() error {
		_, err := client.SecretfedV1alpha1().FederatedClusters().Create(ctx, authzCluster(), metav1.CreateOptions{DryRun: dryRun})
		return err
	})

	// Bound cluster-wide, admin manages clusters too (dry run: a real
	// FederatedCluster would be selected by other specs' empty selectors).
	bindClusterRoleClusterWide(t, ns, "admin", "secretfed-admin")
	framework.Eventually(t, authzGrantDeadline, "secretfed-admin bound cluster-wide creates a federatedcluster (dry run)", func(ctx context.Context) error {
		_, err := client.SecretfedV1alpha1().FederatedClusters().Create(ctx, authzCluster(), metav1.CreateOptions{DryRun: dryRun})
		return err
	})
	fc, err := client.SecretfedV1alpha1().FederatedClusters().Get(ctx, f.MemberNames[0], metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get federatedcluster as secretfed-admin: %v", err)
	}
	if _, err := client.SecretfedV1alpha1().FederatedClusters().UpdateStatus(ctx, fc, metav1.UpdateOptions{DryRun: dryRun}); err != nil && !apierrors.IsConflict(err) {
		t.Errorf("update federatedclusters/status (dry run) as secretfed-admin: %v", err)
	}
}

func TestMemberCredentialsAreReadableOnlyWithAGrantInSecretfedSystem(t *testing.T) {
	ctx := framework.Context(t, 3*time.Minute)
	creds := f.MemberNames[0] + "-credentials"
	if _, err := f.Secretfed.SecretfedV1alpha1().FederatedSecrets(v1alpha1.SystemNamespace).Get(ctx, creds, metav1.GetOptions{}); err != nil {
		t.Fatalf("the credentials FederatedSecret %s/%s (made by join): %v", v1alpha1.SystemNamespace, creds, err)
	}
	ns := createNamespace(t, "e2e-authz-creds")
	_, kubeconfig := serviceAccountUser(t, ns, "team")
	bindClusterRole(t, ns, ns, "team", "secretfed-edit")
	framework.Eventually(t, authzGrantDeadline, "secretfed-edit works in its own namespace", func(ctx context.Context) error {
		if r := f.Kubectl(ctx, "", "--kubeconfig", kubeconfig, "get", "fsec", "-n", ns); r.Err != nil {
			return fmt.Errorf("%v: %s", r.Err, r.Output())
		}
		return nil
	})

	getCreds := func(ctx context.Context) framework.Result {
		return f.Kubectl(ctx, "", "--kubeconfig", kubeconfig, "get", "fsec", "-n", v1alpha1.SystemNamespace, creds, "-o", "name")
	}
	for _, args := range [][]string{
		{"get", "fsec", "-n", v1alpha1.SystemNamespace, creds},
		{"get", "fsec", "-n", v1alpha1.SystemNamespace},
		{"get", "fsec", "-A"},
	} {
		r := f.Kubectl(ctx, "", append([]string{"--kubeconfig", kubeconfig}, args...)...)
		if r.Err == nil || !strings.Contains(strings.ToLower(r.Stderr), "forbidden") {
			t.Errorf("kubectl %v with secretfed-edit in %s only: err=%v, want Forbidden\n%s", args, ns, r.Err, r.Output())
		}
	}

	// Granted in secretfed-system, the same user reads them.
	bindClusterRole(t, v1alpha1.SystemNamespace, ns, "team", "secretfed-edit")
	framework.Eventually(t, authzGrantDeadline, "credentials readable after a grant in "+v1alpha1.SystemNamespace, func(ctx context.Context) error {
		if r := getCreds(ctx); r.Err != nil {
			return fmt.Errorf("%v: %s", r.Err, r.Output())
		}
		return nil
	})
}

// --- helpers ---

// forbidden fails unless call returns a Forbidden error.
func forbidden(t *testing.T, what string, call func() error) {
	t.Helper()
	if err := call(); !apierrors.IsForbidden(err) {
		t.Errorf("%s: %v, want Forbidden", what, err)
	}
}

// authzCluster is a FederatedCluster that is only ever created with dry run.
func authzCluster() *v1alpha1.FederatedCluster {
	return &v1alpha1.FederatedCluster{
		ObjectMeta: metav1.ObjectMeta{Name: "e2e-authz-dry-run"},
		Spec: v1alpha1.FederatedClusterSpec{
			APIEndpoint: "https://127.0.0.1:1",
			SecretRef:   v1alpha1.LocalSecretReference{Name: "e2e-authz-dry-run-credentials"},
		},
	}
}

// bindClusterRole binds a ClusterRole in namespace bindingNS to the
// ServiceAccount saNS/sa.
func bindClusterRole(t *testing.T, bindingNS, saNS, sa, role string) {
	t.Helper()
	ctx := framework.Context(t, time.Minute)
	rb := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "e2e-authz-" + role + "-", Namespace: bindingNS},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: sa, Namespace: saNS}},
	}
	created, err := f.Host.RbacV1().RoleBindings(bindingNS).Create(ctx, rb, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = f.Host.RbacV1().RoleBindings(bindingNS).Delete(ctx, created.Name, metav1.DeleteOptions{})
	})
}

// bindClusterRoleClusterWide binds a ClusterRole to saNS/sa in every namespace.
func bindClusterRoleClusterWide(t *testing.T, saNS, sa, role string) {
	t.Helper()
	ctx := framework.Context(t, time.Minute)
	crb := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "e2e-authz-" + role + "-"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: sa, Namespace: saNS}},
	}
	created, err := f.Host.RbacV1().ClusterRoleBindings().Create(ctx, crb, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = f.Host.RbacV1().ClusterRoleBindings().Delete(ctx, created.Name, metav1.DeleteOptions{})
	})
}

// grantRules binds a Role with exactly these rules to ns/sa.
func grantRules(t *testing.T, ns, sa, name string, rules ...rbacv1.PolicyRule) {
	t.Helper()
	ctx := framework.Context(t, time.Minute)
	if _, err := f.Host.RbacV1().Roles(ns).Create(ctx, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, Rules: rules}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	rb := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: name},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: sa, Namespace: ns}},
	}
	if _, err := f.Host.RbacV1().RoleBindings(ns).Create(ctx, rb, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}
