package join

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	clienttesting "k8s.io/client-go/testing"

	"github.com/secretfed/secretfed/pkg/apis/secretfed/v1alpha1"
	"github.com/secretfed/secretfed/pkg/cli/clients"
	"github.com/secretfed/secretfed/pkg/cli/internal/clitest"
	"github.com/secretfed/secretfed/pkg/cli/naming"
)

type run struct {
	host   *clitest.Host
	member *clitest.Member
	opts   *Options
	out    *bytes.Buffer
	errOut *bytes.Buffer
}

func newRun(name string, host *clitest.Host, member *clitest.Member) *run {
	r := &run{host: host, member: member, out: &bytes.Buffer{}, errOut: &bytes.Buffer{}}
	r.opts = NewOptions(genericiooptions.IOStreams{In: &bytes.Buffer{}, Out: r.out, ErrOut: r.errOut})
	r.opts.Name = name
	r.opts.ClusterContext = "member1-ctx"
	r.opts.Host = host.Clients()
	r.opts.Member = member.Clients()
	return r
}

// exec runs Validate and Run, and checks that the token appears nowhere.
func (r *run) exec(t *testing.T) error {
	t.Helper()
	err := r.opts.Validate()
	if err == nil {
		err = r.opts.Run(context.Background())
	}
	clitest.AssertNoToken(t, r.out.String(), r.errOut.String(), clitest.ErrString(err))
	return err
}

var gr = schema.GroupResource{Group: rbacv1.GroupName, Resource: "clusterroles"}

func TestJoinCreatesExactlyTheLeastPrivilegeObjects(t *testing.T) {
	host, member := clitest.NewHost(nil), clitest.NewMember()
	r := newRun("member1", host, member)
	r.opts.Labels = map[string]string{"env": "prod", "region": "eu"}
	before := clitest.Snapshot(t, host, member)

	if err := r.exec(t); err != nil {
		t.Fatalf("join: %v", err)
	}

	created := without(clitest.Snapshot(t, host, member), before)
	wantCreated := []string{
		"host FederatedCluster member1",
		"host FederatedSecret secretfed-system/member1-credentials",
		"host Namespace secretfed-system",
		"member ClusterRole secretfed:member:member1",
		"member ClusterRoleBinding secretfed:member:member1",
		"member Namespace secretfed-system",
		"member Role secretfed-system/secretfed:member:member1",
		"member RoleBinding secretfed-system/secretfed:member:member1",
		"member ServiceAccount secretfed-system/secretfed-member1",
	}
	if diff := cmp.Diff(wantCreated, created); diff != "" {
		t.Errorf("created objects (-want +got):\n%s", diff)
	}

	ctx := context.Background()
	rbac := member.Kube.RbacV1()
	cr, err := rbac.ClusterRoles().Get(ctx, "secretfed:member:member1", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	wantClusterRules := []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"get", "list", "watch", "create", "update", "patch", "delete"}},
		{APIGroups: []string{""}, Resources: []string{"namespaces"}, Verbs: []string{"get", "list", "watch", "create"}},
		{NonResourceURLs: []string{"/healthz", "/livez", "/readyz", "/version"}, Verbs: []string{"get"}},
	}
	if diff := cmp.Diff(wantClusterRules, cr.Rules); diff != "" {
		t.Errorf("ClusterRole rules (-want +got):\n%s", diff)
	}
	role, err := rbac.Roles(v1alpha1.SystemNamespace).Get(ctx, "secretfed:member:member1", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	wantRoleRules := []rbacv1.PolicyRule{{
		APIGroups: []string{""}, Resources: []string{"serviceaccounts/token"}, Verbs: []string{"create"},
		ResourceNames: []string{"secretfed-member1"},
	}}
	if diff := cmp.Diff(wantRoleRules, role.Rules); diff != "" {
		t.Errorf("Role rules (-want +got):\n%s", diff)
	}
	for _, rule := range append(cr.Rules, role.Rules...) {
		for _, s := range slices.Concat(rule.APIGroups, rule.Resources, rule.Verbs, rule.NonResourceURLs, rule.ResourceNames) {
			if strings.Contains(s, "*") {
				t.Errorf("wildcard %q in rule %+v", s, rule)
			}
		}
	}

	wantSubjects := []rbacv1.Subject{{Kind: "ServiceAccount", Namespace: "secretfed-system", Name: "secretfed-member1"}}
	crb, err := rbac.ClusterRoleBindings().Get(ctx, "secretfed:member:member1", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "secretfed:member:member1"}, crb.RoleRef); diff != "" {
		t.Errorf("ClusterRoleBinding roleRef (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(wantSubjects, crb.Subjects); diff != "" {
		t.Errorf("ClusterRoleBinding subjects (-want +got):\n%s", diff)
	}
	rb, err := rbac.RoleBindings(v1alpha1.SystemNamespace).Get(ctx, "secretfed:member:member1", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "secretfed:member:member1"}, rb.RoleRef); diff != "" {
		t.Errorf("RoleBinding roleRef (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(wantSubjects, rb.Subjects); diff != "" {
		t.Errorf("RoleBinding subjects (-want +got):\n%s", diff)
	}

	// Every member object join created carries both labels.
	wantLabels := map[string]string{"app.kubernetes.io/managed-by": "secretfed", "secretfed.io/cluster": "member1"}
	sa, err := member.Kube.CoreV1().ServiceAccounts(v1alpha1.SystemNamespace).Get(ctx, "secretfed-member1", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ns, err := member.Kube.CoreV1().Namespaces().Get(ctx, v1alpha1.SystemNamespace, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]string{"app.kubernetes.io/managed-by": "secretfed"}, ns.Labels); diff != "" {
		t.Errorf("labels of the namespace, which outlives the join (-want +got):\n%s", diff)
	}
	for _, o := range []metav1.Object{sa, cr, crb, role, rb} {
		if diff := cmp.Diff(wantLabels, o.GetLabels()); diff != "" {
			t.Errorf("labels of %T %s (-want +got):\n%s", o, o.GetName(), diff)
		}
	}

	// One bounded token, for the new ServiceAccount, with the default TTL.
	if len(member.TokenRequests) != 1 {
		t.Fatalf("token requests = %d, want 1", len(member.TokenRequests))
	}
	if got := member.TokenRequests[0].Spec.ExpirationSeconds; got == nil || *got != int64((24*time.Hour).Seconds()) {
		t.Errorf("token expirationSeconds = %v, want 86400", got)
	}

	fed := host.Fed.SecretfedV1alpha1()
	cred, err := fed.FederatedSecrets(v1alpha1.SystemNamespace).Get(ctx, "member1-credentials", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if string(cred.Spec.Template.Data["token"]) != clitest.Token {
		t.Errorf("credentials data.token is not the issued token")
	}
	if diff := cmp.Diff(v1alpha1.Placement{}, cred.Spec.Placement); diff != "" {
		t.Errorf("credentials must have no placement (-want +got):\n%s", diff)
	}
	wantCredAnnotations := map[string]string{
		"secretfed.io/token-expiry":    "2030-01-02T03:04:05Z",
		"secretfed.io/service-account": "secretfed-system/secretfed-member1",
	}
	if diff := cmp.Diff(wantCredAnnotations, cred.Annotations); diff != "" {
		t.Errorf("credentials annotations (-want +got):\n%s", diff)
	}

	fc, err := fed.FederatedClusters().Get(ctx, "member1", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	wantSpec := v1alpha1.FederatedClusterSpec{
		APIEndpoint: clitest.MemberServer,
		CABundle:    clitest.MemberCA,
		SecretRef:   v1alpha1.LocalSecretReference{Name: "member1-credentials"},
	}
	if diff := cmp.Diff(wantSpec, fc.Spec); diff != "" {
		t.Errorf("FederatedCluster spec (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]string{"env": "prod", "region": "eu"}, fc.Labels); diff != "" {
		t.Errorf("FederatedCluster labels (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]string{"secretfed.io/cluster-id": clitest.MemberUID}, fc.Annotations); diff != "" {
		t.Errorf("FederatedCluster annotations (-want +got):\n%s", diff)
	}
}

func TestJoinOptions(t *testing.T) {
	host, member := clitest.NewHost(nil), clitest.NewMember(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "secretfed-system"}})
	r := newRun("member1", host, member)
	r.opts.APIEndpoint = "https://10.0.0.7:6443"
	r.opts.TokenTTL = 2 * time.Hour
	r.opts.InsecureSkipTLSVerify = true
	if err := r.exec(t); err != nil {
		t.Fatalf("join: %v", err)
	}
	ctx := context.Background()
	fc, err := host.Fed.SecretfedV1alpha1().FederatedClusters().Get(ctx, "member1", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if fc.Spec.APIEndpoint != "https://10.0.0.7:6443" || !fc.Spec.InsecureSkipTLSVerify {
		t.Errorf("spec = %+v, want --api-endpoint and insecureSkipTLSVerify", fc.Spec)
	}
	if got := *member.TokenRequests[0].Spec.ExpirationSeconds; got != 7200 {
		t.Errorf("expirationSeconds = %d, want 7200", got)
	}
	// The namespace existed: join leaves it as it was.
	ns, err := member.Kube.CoreV1().Namespaces().Get(ctx, v1alpha1.SystemNamespace, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(ns.Labels) > 0 {
		t.Errorf("join changed the existing namespace: labels %v", ns.Labels)
	}
	if !strings.Contains(r.errOut.String(), "Warning: --insecure-skip-tls-verify") {
		t.Errorf("no warning about --insecure-skip-tls-verify in stderr:\n%s", r.errOut)
	}
}

func TestJoinValidation(t *testing.T) {
	cases := []struct {
		name    string
		mutate  func(*Options)
		wantErr string
	}{
		{"uppercase name", func(o *Options) { o.Name = "Member1" }, `invalid cluster name "Member1"`},
		{"dotted name", func(o *Options) { o.Name = "member.one" }, `invalid cluster name "member.one"`},
		{"too long name", func(o *Options) { o.Name = strings.Repeat("a", 64) }, "invalid cluster name"},
		{"empty name", func(o *Options) { o.Name = "" }, "a cluster name is required"},
		{"short ttl", func(o *Options) { o.TokenTTL = 5 * time.Minute }, "--token-ttl 5m0s is too short"},
		{"bad label", func(o *Options) { o.Labels = map[string]string{"env": "not valid!"} }, "invalid --labels"},
		{"http endpoint", func(o *Options) { o.APIEndpoint = "http://10.0.0.1:6443" }, "invalid --api-endpoint"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			host, member := clitest.NewHost(nil), clitest.NewMember()
			r := newRun("member1", host, member)
			tc.mutate(r.opts)
			err := r.exec(t)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.wantErr)
			}
			// Nothing was touched: not even a read.
			for side, f := range map[string][]string{"host": actions(host.Kube.Actions()), "fed": actions(host.Fed.Actions()), "member": actions(member.Kube.Actions())} {
				if len(f) > 0 {
					t.Errorf("%s received requests before validation failed: %v", side, f)
				}
			}
		})
	}
}

// TestJoinFailuresLeaveNothingBehind covers every failure rule: one clear
// message, and the clusters exactly as they were before.
func TestJoinFailuresLeaveNothingBehind(t *testing.T) {
	joinedElsewhere := &v1alpha1.FederatedCluster{ObjectMeta: metav1.ObjectMeta{
		Name: "old-name", Annotations: map[string]string{naming.ClusterIDAnnotation: clitest.MemberUID},
	}}
	cases := []struct {
		name     string
		fedObjs  []runtime.Object
		memObjs  []runtime.Object
		setup    func(*clitest.Host, *clitest.Member)
		wantErr  []string
		noMember bool // the member must not even be read
		noWrites bool // neither side may receive a write
	}{{
		name:     "name already joined",
		fedObjs:  []runtime.Object{&v1alpha1.FederatedCluster{ObjectMeta: metav1.ObjectMeta{Name: "member1"}}},
		wantErr:  []string{`cluster "member1" is already joined`},
		noMember: true, noWrites: true,
	}, {
		name:     "same member under another name",
		fedObjs:  []runtime.Object{joinedElsewhere},
		wantErr:  []string{`already joined as "old-name"`, clitest.MemberUID},
		noWrites: true,
	}, {
		name: "secretfed API not served by the host",
		setup: func(h *clitest.Host, _ *clitest.Member) {
			h.Fed.Resources = nil
		},
		wantErr:  []string{"secretfed.io API", "not available on the host", "is secretfed installed?"},
		noMember: true, noWrites: true,
	}, {
		name: "member unreachable",
		setup: func(_ *clitest.Host, m *clitest.Member) {
			m.Kube.PrependReactor("get", "namespaces", clitest.Fail(clitest.Unreachable("/api/v1/namespaces/kube-system")))
		},
		wantErr:  []string{"cannot reach member cluster", clitest.MemberServer, "connection refused"},
		noWrites: true,
	}, {
		name: "member refuses the ClusterRole",
		setup: func(_ *clitest.Host, m *clitest.Member) {
			m.Kube.PrependReactor("create", "clusterroles", clitest.Fail(apierrors.NewForbidden(gr, "secretfed:member:member1", errors.New(`User "dev" cannot create resource "clusterroles"`))))
		},
		wantErr: []string{`create ClusterRole "secretfed:member:member1"`, "forbidden", "cluster-admin-like rights on the member"},
	}, {
		name: "member refuses the token",
		setup: func(_ *clitest.Host, m *clitest.Member) {
			m.Kube.PrependReactor("create", "serviceaccounts", func(a clienttesting.Action) (bool, runtime.Object, error) {
				if a.GetSubresource() == "token" {
					return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: "serviceaccounts/token"}, "secretfed-member1", errors.New("no"))
				}
				return false, nil, nil
			})
		},
		wantErr: []string{`request TokenRequest "secretfed-system/secretfed-member1"`, "cluster-admin-like"},
	}, {
		name: "host refuses the namespace",
		setup: func(h *clitest.Host, _ *clitest.Member) {
			h.Kube.PrependReactor("create", "namespaces", clitest.Fail(apierrors.NewForbidden(schema.GroupResource{Resource: "namespaces"}, "secretfed-system", errors.New("no"))))
		},
		wantErr: []string{`host cluster`, `create Namespace "secretfed-system"`},
	}, {
		name: "host rejects the credentials and echoes the token",
		setup: func(h *clitest.Host, _ *clitest.Member) {
			h.Fed.PrependReactor("create", "federatedsecrets", func(a clienttesting.Action) (bool, runtime.Object, error) {
				fs := a.(clienttesting.CreateAction).GetObject().(*v1alpha1.FederatedSecret)
				return true, nil, apierrors.NewInvalid(v1alpha1.SchemeGroupVersion.WithKind("FederatedSecret").GroupKind(), fs.Name, field.ErrorList{
					field.Invalid(field.NewPath("spec", "template", "data", "token"), string(fs.Spec.Template.Data["token"]), "rejected"),
				})
			})
		},
		wantErr: []string{`create FederatedSecret "secretfed-system/member1-credentials"`, "[REDACTED]"},
	}, {
		name: "host fails the FederatedCluster, the last step",
		setup: func(h *clitest.Host, _ *clitest.Member) {
			h.Fed.PrependReactor("create", "federatedclusters", clitest.Fail(apierrors.NewInternalError(errors.New("etcd is sad"))))
		},
		wantErr: []string{`create FederatedCluster "member1"`, "etcd is sad", "the changes join had made were rolled back"},
	}, {
		name:     "a foreign ClusterRole holds the name",
		memObjs:  []runtime.Object{&rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "secretfed:member:member1"}}},
		wantErr:  []string{`already has ClusterRole "secretfed:member:member1"`, "not created by join"},
		noWrites: true,
	}, {
		name:     "a foreign credentials FederatedSecret holds the name",
		fedObjs:  []runtime.Object{&v1alpha1.FederatedSecret{ObjectMeta: metav1.ObjectMeta{Namespace: "secretfed-system", Name: "member1-credentials"}}},
		wantErr:  []string{`already has FederatedSecret "secretfed-system/member1-credentials"`},
		noWrites: true,
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			host, member := clitest.NewHost(nil, tc.fedObjs...), clitest.NewMember(tc.memObjs...)
			if tc.setup != nil {
				tc.setup(host, member)
			}
			before := clitest.Snapshot(t, host, member)
			member.Kube.ClearActions()
			r := newRun("member1", host, member)

			err := r.exec(t)
			if tc.noMember && len(member.Kube.Actions()) > 0 {
				t.Errorf("the member was contacted: %v", actions(member.Kube.Actions()))
			}
			if err == nil {
				t.Fatalf("join succeeded, want an error")
			}
			t.Logf("error: %v\nstderr:\n%s", err, r.errOut)
			for _, want := range tc.wantErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q\ndoes not contain %q", err, want)
				}
			}
			if strings.Count(err.Error(), "\n") > 0 {
				t.Errorf("error spans several lines: %q", err)
			}
			// The system namespaces are the one thing a rollback keeps (see namespaceStep).
			if diff := cmp.Diff(withoutSystemNamespaces(before), withoutSystemNamespaces(clitest.Snapshot(t, host, member))); diff != "" {
				t.Errorf("objects after the failed join (-before +after):\n%s", diff)
			}
			if tc.noWrites {
				for side, w := range map[string][]string{"host": clitest.Writes(&host.Kube.Fake), "fed": clitest.Writes(&host.Fed.Fake), "member": clitest.Writes(&member.Kube.Fake)} {
					if len(w) > 0 {
						t.Errorf("%s received writes: %v", side, w)
					}
				}
			}
		})
	}
}

func TestJoinReportsWhatRollbackCouldNotRemove(t *testing.T) {
	host, member := clitest.NewHost(nil), clitest.NewMember()
	host.Fed.PrependReactor("create", "federatedclusters", clitest.Fail(apierrors.NewInternalError(errors.New("boom"))))
	member.Kube.PrependReactor("delete", "clusterroles", clitest.Fail(clitest.Unreachable("/apis/rbac.authorization.k8s.io/v1/clusterroles/secretfed:member:member1")))
	r := newRun("member1", host, member)

	err := r.exec(t)
	if err == nil {
		t.Fatal("join succeeded, want an error")
	}
	for _, want := range []string{"boom", "rollback could not remove", `ClusterRole secretfed:member:member1`, "secretfed.io/cluster=member1"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q\ndoes not contain %q", err, want)
		}
	}
	// Everything else was rolled back.
	want := append(clitest.Snapshot(t, clitest.NewHost(nil), clitest.NewMember()), "member ClusterRole secretfed:member:member1")
	slices.Sort(want)
	if diff := cmp.Diff(withoutSystemNamespaces(want), withoutSystemNamespaces(clitest.Snapshot(t, host, member))); diff != "" {
		t.Errorf("objects after rollback (-want +got):\n%s", diff)
	}
}

func TestJoinDryRunCreatesNothing(t *testing.T) {
	host, member := clitest.NewHost(nil), clitest.NewMember()
	r := newRun("member1", host, member)
	r.opts.DryRun = true
	r.opts.Labels = map[string]string{"env": "prod"}
	before := clitest.Snapshot(t, host, member)

	if err := r.exec(t); err != nil {
		t.Fatalf("join --dry-run: %v", err)
	}
	if diff := cmp.Diff(before, clitest.Snapshot(t, host, member)); diff != "" {
		t.Errorf("--dry-run changed objects (-before +after):\n%s", diff)
	}
	for side, w := range map[string][]string{"host": clitest.Writes(&host.Kube.Fake), "fed": clitest.Writes(&host.Fed.Fake), "member": clitest.Writes(&member.Kube.Fake)} {
		if len(w) > 0 {
			t.Errorf("--dry-run sent writes to %s: %v", side, w)
		}
	}
	got := fields(r.out.String())
	want := []string{
		`Dry run: join of cluster "member1" would make these changes (nothing was changed):`,
		`member cluster https://member1.example:6443 (context "member1-ctx"):`,
		"create Namespace secretfed-system system namespace: rollback and unjoin keep it",
		"create ServiceAccount secretfed-system/secretfed-member1",
		"create ClusterRole secretfed:member:member1",
		"create ClusterRoleBinding secretfed:member:member1",
		"create Role secretfed-system/secretfed:member:member1",
		"create RoleBinding secretfed-system/secretfed:member:member1",
		"request TokenRequest secretfed-system/secretfed-member1 for ServiceAccount secretfed-member1, valid 24h0m0s",
		`host cluster https://host.example:6443 (context "host-ctx"):`,
		"create Namespace secretfed-system system namespace: rollback and unjoin keep it",
		"create FederatedSecret secretfed-system/member1-credentials holds the member token; no placement",
		"create FederatedCluster member1 apiEndpoint https://member1.example:6443, labels env=prod",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("dry-run output (-want +got):\n%s", diff)
	}
}

func TestJoinTakesOverItsOwnLeftovers(t *testing.T) {
	leftover := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{
		Namespace: "secretfed-system", Name: "secretfed-member1", Labels: naming.Labels("member1"),
	}}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "secretfed-system"}}
	host, member := clitest.NewHost(nil), clitest.NewMember(ns, leftover)
	r := newRun("member1", host, member)
	if err := r.exec(t); err != nil {
		t.Fatalf("join: %v", err)
	}
	if !strings.Contains(r.out.String(), "ServiceAccount secretfed-system/secretfed-member1 updated") {
		t.Errorf("output does not say the leftover ServiceAccount was updated:\n%s", r.out)
	}
}

// TestJoinWrongContext goes through a real kubeconfig: a context that is not
// there is named, with the kubeconfig it was looked up in.
func TestJoinWrongContext(t *testing.T) {
	kubeconfig := filepath.Join(t.TempDir(), "config")
	if err := os.WriteFile(kubeconfig, []byte(testKubeconfig), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, hostContext, clusterContext string
		want                              []string
	}{
		{"missing member context", "", "nope", []string{`member context "nope" not found in kubeconfig ` + kubeconfig, "known contexts: broken, host, member1"}},
		{"missing host context", "gone", "member1", []string{`host context "gone" not found in kubeconfig ` + kubeconfig}},
		{"context without cluster", "", "broken", []string{`member context "broken"`, `refers to cluster "nowhere"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			flags := clients.NewFlags()
			*flags.ConfigFlags.KubeConfig = kubeconfig
			flags.HostContext = tc.hostContext
			out, errOut := &bytes.Buffer{}, &bytes.Buffer{}
			o := NewOptions(genericiooptions.IOStreams{Out: out, ErrOut: errOut})
			o.ClusterContext = tc.clusterContext
			if err := o.Complete(flags, []string{"member1"}); err != nil {
				t.Fatal(err)
			}
			if err := o.Validate(); err != nil {
				t.Fatal(err)
			}
			err := o.Run(context.Background())
			if err == nil {
				t.Fatal("join succeeded, want an error")
			}
			for _, want := range tc.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q\ndoes not contain %q", err, want)
				}
			}
		})
	}
}

const testKubeconfig = `apiVersion: v1
kind: Config
current-context: host
clusters:
- name: host
  cluster: {server: "https://127.0.0.1:1"}
- name: member1
  cluster: {server: "https://127.0.0.1:2"}
contexts:
- name: host
  context: {cluster: host, user: u}
- name: member1
  context: {cluster: member1, user: u}
- name: broken
  context: {cluster: nowhere, user: u}
users:
- name: u
  user: {token: not-a-real-token}
`

func TestRedact(t *testing.T) {
	secret := "s3cr3t-t0ken"
	err := redact(fmt.Errorf("bad value %q (base64 %s)", secret, "czNjcjN0LXQwa2Vu"), secret)
	if strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), "czNjcjN0LXQwa2Vu") {
		t.Errorf("not redacted: %v", err)
	}
	plain := apierrors.NewNotFound(gr, "x")
	if got := redact(plain, secret); got != error(plain) {
		t.Errorf("an error without the secret was rewritten: %v", got)
	}
}

// withoutSystemNamespaces drops the secretfed-system namespaces from a snapshot.
func withoutSystemNamespaces(snapshot []string) []string {
	return slices.DeleteFunc(slices.Clone(snapshot), func(s string) bool {
		return s == "host Namespace secretfed-system" || s == "member Namespace secretfed-system"
	})
}

// without returns the lines of after that are not in before.
func without(after, before []string) []string {
	var out []string
	for _, s := range after {
		if !slices.Contains(before, s) {
			out = append(out, s)
		}
	}
	return out
}

// fields normalises tabwriter output: one line per entry, runs of blanks collapsed.
func fields(s string) []string {
	var out []string
	for _, line := range strings.Split(strings.TrimSpace(s), "\n") {
		out = append(out, strings.Join(strings.Fields(line), " "))
	}
	return out
}

func actions(as []clienttesting.Action) []string {
	var out []string
	for _, a := range as {
		out = append(out, a.GetVerb()+" "+a.GetResource().Resource)
	}
	return out
}

// TestJoinWaitsForATerminatingNamespace: rerunning join right after a
// rollback or an unjoin finds secretfed-system still terminating.
func TestJoinWaitsForATerminatingNamespace(t *testing.T) {
	now := metav1.Now()
	terminating := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
		Name: "secretfed-system", DeletionTimestamp: &now, Finalizers: []string{"kubernetes"},
	}}
	host, member := clitest.NewHost(nil), clitest.NewMember(terminating)
	reads := 0
	member.Kube.PrependReactor("get", "namespaces", func(a clienttesting.Action) (bool, runtime.Object, error) {
		if a.(clienttesting.GetAction).GetName() != "secretfed-system" {
			return false, nil, nil
		}
		if reads++; reads == 3 { // the namespace controller finishes
			if err := member.Kube.Tracker().Delete(corev1.SchemeGroupVersion.WithResource("namespaces"), "", "secretfed-system"); err != nil {
				return true, nil, err
			}
		}
		return false, nil, nil
	})
	r := newRun("member1", host, member)
	if err := r.exec(t); err != nil {
		t.Fatalf("join: %v", err)
	}
	ns, err := member.Kube.CoreV1().Namespaces().Get(context.Background(), "secretfed-system", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if ns.DeletionTimestamp != nil || ns.Labels[naming.ManagedByLabel] != naming.ManagedByValue {
		t.Errorf("namespace not recreated by join: %+v", ns.ObjectMeta)
	}
}

func TestJoinGivesUpOnANamespaceThatStaysTerminating(t *testing.T) {
	defer func(d time.Duration) { namespaceTerminationTimeout = d }(namespaceTerminationTimeout)
	namespaceTerminationTimeout = 50 * time.Millisecond
	now := metav1.Now()
	terminating := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
		Name: "secretfed-system", DeletionTimestamp: &now, Finalizers: []string{"kubernetes"},
	}}
	host, member := clitest.NewHost(nil), clitest.NewMember(terminating)
	before := clitest.Snapshot(t, host, member)
	r := newRun("member1", host, member)
	err := r.exec(t)
	if err == nil || !strings.Contains(err.Error(), `namespace "secretfed-system" is still being deleted`) {
		t.Fatalf("err = %v, want the namespace named as still being deleted", err)
	}
	if diff := cmp.Diff(before, clitest.Snapshot(t, host, member)); diff != "" {
		t.Errorf("objects after the failed join (-before +after):\n%s", diff)
	}
}
