package unjoin

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	clienttesting "k8s.io/client-go/testing"

	"github.com/secretfed/secretfed/pkg/apis/secretfed/v1alpha1"
	"github.com/secretfed/secretfed/pkg/cli/internal/clitest"
	"github.com/secretfed/secretfed/pkg/cli/join"
	"github.com/secretfed/secretfed/pkg/cli/naming"
)

// world is a host and a member where member1 has been joined and secretfed
// has propagated one Secret; before is the state before the join.
type world struct {
	host   *clitest.Host
	member *clitest.Member
	before []string
}

const propagated = "member Secret payments/db-creds"

func joined(t *testing.T) *world {
	t.Helper()
	w := &world{
		host: clitest.NewHost(nil),
		member: clitest.NewMember(
			&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "payments"}},
			&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "payments", Name: "own"}},
			&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "payments", Name: "db-creds",
				Labels: map[string]string{v1alpha1.ManagedLabel: "true", "app": "payments"}}},
		),
	}
	w.before = clitest.Snapshot(t, w.host, w.member)
	var out bytes.Buffer
	o := join.NewOptions(genericiooptions.IOStreams{Out: &out, ErrOut: &out})
	o.Name, o.ClusterContext = "member1", "member1-ctx"
	o.Host, o.Member = w.host.Clients(), w.member.Clients()
	if err := o.Run(context.Background()); err != nil {
		t.Fatalf("join: %v\n%s", err, out.String())
	}
	if err := clitest.AddFinalizer(w.host, "member1"); err != nil {
		t.Fatal(err)
	}
	w.host.Fed.ClearActions()
	w.member.Kube.ClearActions()
	return w
}

type result struct {
	out, errOut string
	err         error
}

func (w *world) unjoin(t *testing.T, mutate func(*Options)) result {
	t.Helper()
	var out, errOut bytes.Buffer
	o := NewOptions(genericiooptions.IOStreams{Out: &out, ErrOut: &errOut})
	o.Name, o.ClusterContext = "member1", "member1-ctx"
	o.Host, o.Member = w.host.Clients(), w.member.Clients()
	o.Timeout, o.PollInterval = 2*time.Second, time.Millisecond
	if mutate != nil {
		mutate(o)
	}
	err := o.Validate()
	if err == nil {
		err = o.Run(context.Background())
	}
	clitest.AssertNoToken(t, out.String(), errOut.String(), clitest.ErrString(err))
	t.Logf("stdout:\n%sstderr:\n%serr: %v", out.String(), errOut.String(), err)
	return result{out.String(), errOut.String(), err}
}

func minus(list []string, drop ...string) []string {
	return slices.DeleteFunc(slices.Clone(list), func(s string) bool { return slices.Contains(drop, s) })
}

// afterUnjoin is the state a clean unjoin leaves: the state before join,
// without the dropped objects, plus the system namespaces, which stay.
func (w *world) afterUnjoin(drop ...string) []string {
	out := append(minus(w.before, drop...), "host Namespace secretfed-system", "member Namespace secretfed-system")
	slices.Sort(out)
	return out
}

func TestUnjoinRemovesEverythingJoinCreatedAndThePropagatedSecrets(t *testing.T) {
	for _, tc := range []struct {
		name   string
		server *clitest.Server
	}{
		{"server cleans the member", &clitest.Server{FinishAfter: 3, CleansMember: true}},
		{"server finishes without cleaning, client falls back", &clitest.Server{FinishAfter: 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := joined(t)
			tc.server.Install(w.host, w.member)

			r := w.unjoin(t, nil)
			if r.err != nil {
				t.Fatalf("unjoin: %v", r.err)
			}
			if !tc.server.Finished {
				t.Errorf("unjoin did not wait for the server to release the FederatedCluster")
			}
			if diff := cmp.Diff(w.afterUnjoin(propagated), clitest.Snapshot(t, w.host, w.member)); diff != "" {
				t.Errorf("objects after unjoin (-want +got):\n%s", diff)
			}
			// The credentials go only after the FederatedCluster: the server needs them to clean up.
			acts := verbs(w.host.Fed.Actions())
			lastFCRead := slices.Index(acts, "delete federatedsecrets") - 1
			if lastFCRead < 0 || !slices.Contains(acts[:lastFCRead+1], "delete federatedclusters") {
				t.Errorf("host actions out of order: %v", acts)
			}
		})
	}
}

func TestUnjoinKeepSecrets(t *testing.T) {
	for _, tc := range []struct {
		name   string
		server *clitest.Server
	}{
		{"server honours secretfed.io/keep-secrets", &clitest.Server{FinishAfter: 2, CleansMember: true}},
		{"server ignores it, client falls back", &clitest.Server{FinishAfter: 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := joined(t)
			tc.server.Install(w.host, w.member)

			r := w.unjoin(t, func(o *Options) { o.KeepSecrets = true })
			if r.err != nil {
				t.Fatalf("unjoin --keep-secrets: %v", r.err)
			}
			if diff := cmp.Diff(w.afterUnjoin(), clitest.Snapshot(t, w.host, w.member)); diff != "" {
				t.Errorf("objects after unjoin --keep-secrets (-want +got):\n%s", diff)
			}
			s, err := w.member.Kube.CoreV1().Secrets("payments").Get(context.Background(), "db-creds", metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(map[string]string{"app": "payments"}, s.Labels); diff != "" {
				t.Errorf("kept Secret labels (-want +got):\n%s", diff)
			}
			// The annotation was set before the deletion, so the server saw it.
			acts := verbs(w.host.Fed.Actions())
			patch, del := slices.Index(acts, "patch federatedclusters"), slices.Index(acts, "delete federatedclusters")
			if patch < 0 || patch > del {
				t.Errorf("want the keep-secrets patch before the delete, got %v", acts)
			}
		})
	}
}

func TestUnjoinWithoutKeepSecretsClearsAnEarlierKeepSecrets(t *testing.T) {
	w := joined(t)
	patch := []byte(`{"metadata":{"annotations":{"secretfed.io/keep-secrets":"true"}}}`)
	if _, err := w.host.Fed.SecretfedV1alpha1().FederatedClusters().Patch(context.Background(), "member1", types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	(&clitest.Server{FinishAfter: 1, CleansMember: true}).Install(w.host, w.member)

	if r := w.unjoin(t, nil); r.err != nil {
		t.Fatalf("unjoin: %v", r.err)
	}
	if diff := cmp.Diff(w.afterUnjoin(propagated), clitest.Snapshot(t, w.host, w.member)); diff != "" {
		t.Errorf("objects after unjoin (-want +got):\n%s", diff)
	}
}

func TestUnjoinRefusals(t *testing.T) {
	for _, tc := range []struct {
		name    string
		setup   func(*world)
		mutate  func(*Options)
		wantErr []string
	}{{
		name:    "not joined",
		mutate:  func(o *Options) { o.Name = "member2" },
		wantErr: []string{`cluster "member2" is not joined`},
	}, {
		name:    "invalid name",
		mutate:  func(o *Options) { o.Name = "Member_1" },
		wantErr: []string{`invalid cluster name "Member_1"`},
	}, {
		name: "context of another cluster",
		setup: func(w *world) {
			other := clitest.NewMember()
			obj, _ := other.Kube.Tracker().Get(corev1.SchemeGroupVersion.WithResource("namespaces"), "", "kube-system")
			ns := obj.(*corev1.Namespace)
			ns.UID = "99999999-0000-0000-0000-000000000000"
			if err := other.Kube.Tracker().Update(corev1.SchemeGroupVersion.WithResource("namespaces"), ns, ""); err != nil {
				panic(err)
			}
			w.member = other
		},
		wantErr: []string{`context "member1-ctx" is not the cluster joined as "member1"`, clitest.MemberUID},
	}, {
		name: "member unreachable without --force",
		setup: func(w *world) {
			w.member.Kube.PrependReactor("get", "namespaces", clitest.Fail(clitest.Unreachable("/api/v1/namespaces/kube-system")))
		},
		wantErr: []string{"cannot reach member cluster " + clitest.MemberServer, "--force"},
	}, {
		name:    "secretfed not installed",
		setup:   func(w *world) { w.host.Fed.Resources = nil },
		wantErr: []string{"is secretfed installed?"},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			w := joined(t)
			if tc.setup != nil {
				tc.setup(w)
			}
			hostBefore := clitest.Snapshot(t, w.host, nil)
			r := w.unjoin(t, tc.mutate)
			if r.err == nil {
				t.Fatal("unjoin succeeded, want an error")
			}
			for _, want := range tc.wantErr {
				if !strings.Contains(r.err.Error(), want) {
					t.Errorf("error %q\ndoes not contain %q", r.err, want)
				}
			}
			if diff := cmp.Diff(hostBefore, clitest.Snapshot(t, w.host, nil)); diff != "" {
				t.Errorf("host changed (-before +after):\n%s", diff)
			}
			for side, writes := range map[string][]string{"host": clitest.Writes(&w.host.Fed.Fake), "member": clitest.Writes(&w.member.Kube.Fake)} {
				if len(writes) > 0 {
					t.Errorf("%s received writes: %v", side, writes)
				}
			}
		})
	}
}

func TestUnjoinStopsWhenTheServerDoesNotFinish(t *testing.T) {
	w := joined(t)
	(&clitest.Server{FinishAfter: -1}).Install(w.host, w.member)

	r := w.unjoin(t, func(o *Options) { o.Timeout = 50 * time.Millisecond })
	if r.err == nil {
		t.Fatal("unjoin succeeded, want a timeout")
	}
	for _, want := range []string{`FederatedCluster "member1" is still being deleted after 50ms`, "secretfed.io/cluster", "--force"} {
		if !strings.Contains(r.err.Error(), want) {
			t.Errorf("error %q\ndoes not contain %q", r.err, want)
		}
	}
	// Nothing the server still needs was removed: a rerun can finish the job.
	snap := clitest.Snapshot(t, w.host, w.member)
	for _, want := range []string{
		"host FederatedCluster member1",
		"host FederatedSecret secretfed-system/member1-credentials",
		"member ServiceAccount secretfed-system/secretfed-member1",
		"member ClusterRole secretfed:member:member1",
	} {
		if !slices.Contains(snap, want) {
			t.Errorf("%s was removed while the server still held the cluster", want)
		}
	}
}

func TestUnjoinForceRemovesTheFinalizerWhenTheServerDoesNotFinish(t *testing.T) {
	w := joined(t)
	(&clitest.Server{FinishAfter: -1}).Install(w.host, w.member)

	r := w.unjoin(t, func(o *Options) { o.Timeout, o.Force = 50*time.Millisecond, true })
	if r.err != nil {
		t.Fatalf("unjoin --force: %v", r.err)
	}
	if !strings.Contains(r.errOut, "removing finalizer secretfed.io/cluster") {
		t.Errorf("no warning about the finalizer:\n%s", r.errOut)
	}
	// The member was reachable, so the client cleaned it up itself.
	if diff := cmp.Diff(w.afterUnjoin(propagated), clitest.Snapshot(t, w.host, w.member)); diff != "" {
		t.Errorf("objects after unjoin --force (-want +got):\n%s", diff)
	}
}

func TestUnjoinForceWithUnreachableMember(t *testing.T) {
	w := joined(t)
	(&clitest.Server{FinishAfter: -1}).Install(w.host, w.member)
	memberBefore := clitest.Snapshot(t, nil, w.member)
	w.member.Kube.PrependReactor("*", "*", clitest.Fail(clitest.Unreachable("/api")))

	r := w.unjoin(t, func(o *Options) { o.Force = true })
	if r.err != nil {
		t.Fatalf("unjoin --force: %v", r.err)
	}
	hostAfter := clitest.Snapshot(t, w.host, nil)
	if diff := cmp.Diff(minus(w.afterUnjoin(), memberBefore...), hostAfter); diff != "" {
		t.Errorf("host after unjoin --force (-want +got):\n%s", diff)
	}
	if got := clitest.Writes(&w.member.Kube.Fake); len(got) > 0 {
		t.Errorf("the unreachable member was written to: %v", got)
	}
	for _, want := range []string{
		"cannot reach member cluster " + clitest.MemberServer,
		"removed finalizer secretfed.io/cluster",
		`kubectl --context "member1-ctx" delete clusterrole,clusterrolebinding -l app.kubernetes.io/managed-by=secretfed,secretfed.io/cluster=member1`,
		`kubectl --context "member1-ctx" delete secrets -A -l secretfed.io/managed=true`,
	} {
		if !strings.Contains(r.errOut, want) {
			t.Errorf("stderr does not contain %q:\n%s", want, r.errOut)
		}
	}
}

func TestUnjoinLeavesObjectsJoinDidNotCreate(t *testing.T) {
	w := joined(t)
	// Someone replaced the ClusterRole with their own.
	cr := naming.RBAC("member1")
	rbac := w.member.Kube.RbacV1().ClusterRoles()
	if err := rbac.Delete(context.Background(), cr, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := rbac.Create(context.Background(), &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: cr}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	r := w.unjoin(t, nil)
	if r.err != nil {
		t.Fatalf("unjoin: %v", r.err)
	}
	if !slices.Contains(clitest.Snapshot(t, nil, w.member), "member ClusterRole "+cr) {
		t.Errorf("a ClusterRole join did not create was deleted")
	}
	if !strings.Contains(r.errOut, "was not created by join") {
		t.Errorf("no warning about the foreign ClusterRole:\n%s", r.errOut)
	}
}

func verbs(actions []clienttesting.Action) []string {
	var out []string
	for _, a := range actions {
		out = append(out, a.GetVerb()+" "+a.GetResource().Resource)
	}
	return out
}
