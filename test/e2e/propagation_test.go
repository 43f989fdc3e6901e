package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	"github.com/secretfed/secretfed/pkg/apis/secretfed/v1alpha1"
	"github.com/secretfed/secretfed/test/e2e/framework"
)

const propagationDeadline = 60 * time.Second

func placedFS(ns, name string, value string, placement v1alpha1.Placement) *v1alpha1.FederatedSecret {
	fs := newFS(ns, name, map[string][]byte{"password": []byte(value)})
	fs.Spec.Template.Metadata.Labels = map[string]string{"app": "e2e"}
	fs.Spec.Placement = placement
	return fs
}

func all() v1alpha1.Placement {
	return v1alpha1.Placement{ClusterSelector: &metav1.LabelSelector{}}
}

func list(names ...string) v1alpha1.Placement {
	p := v1alpha1.Placement{Clusters: []v1alpha1.ClusterReference{}}
	for _, n := range names {
		p.Clusters = append(p.Clusters, v1alpha1.ClusterReference{Name: n})
	}
	return p
}

func createFS(t *testing.T, fs *v1alpha1.FederatedSecret) {
	t.Helper()
	ctx := framework.Context(t, time.Minute)
	if _, err := f.Secretfed.SecretfedV1alpha1().FederatedSecrets(fs.Namespace).Create(ctx, fs, metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating FederatedSecret %s/%s: %v", fs.Namespace, fs.Name, err)
	}
}

// memberSecret returns the member's Secret or an error describing its absence.
func memberSecret(ctx context.Context, member, ns, name string) (*corev1.Secret, error) {
	return f.Members[member].CoreV1().Secrets(ns).Get(ctx, name, metav1.GetOptions{})
}

// waitForValue waits until the member Secret holds password=value and the managed label.
func waitForValue(t *testing.T, member, ns, name, value string) *corev1.Secret {
	t.Helper()
	var got *corev1.Secret
	framework.Eventually(t, propagationDeadline, fmt.Sprintf("%s/%s in %s holds the desired value", ns, name, member), func(ctx context.Context) error {
		s, err := memberSecret(ctx, member, ns, name)
		if err != nil {
			return err
		}
		if string(s.Data["password"]) != value {
			return fmt.Errorf("password differs from the desired value")
		}
		if s.Labels[v1alpha1.ManagedLabel] != "true" {
			return fmt.Errorf("no %s=true label", v1alpha1.ManagedLabel)
		}
		got = s
		return nil
	})
	return got
}

func waitForAbsence(t *testing.T, member, ns, name string) {
	t.Helper()
	framework.Eventually(t, propagationDeadline, fmt.Sprintf("%s/%s absent from %s", ns, name, member), func(ctx context.Context) error {
		_, err := memberSecret(ctx, member, ns, name)
		if apierrors.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return err
		}
		return fmt.Errorf("still present")
	})
}

func waitForClusterStatus(t *testing.T, ns, name, cluster string, want v1alpha1.PropagationStatus) {
	t.Helper()
	framework.Eventually(t, propagationDeadline, fmt.Sprintf("status of %s for %s is %s", name, cluster, want), func(ctx context.Context) error {
		fs, err := f.Secretfed.SecretfedV1alpha1().FederatedSecrets(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		for _, c := range fs.Status.Clusters {
			if c.Name == cluster {
				if c.Status == want {
					return nil
				}
				return fmt.Errorf("status %s (%s)", c.Status, c.Message)
			}
		}
		return fmt.Errorf("no status entry; clusters: %+v", fs.Status.Clusters)
	})
}

func TestCreateReachesEveryPlacedMemberWithTheManagedLabel(t *testing.T) {
	ns := createNamespace(t, "e2e-create")
	createFS(t, placedFS(ns, "db", "create-pw", all()))
	for _, m := range f.MemberNames {
		s := waitForValue(t, m, ns, "db", "create-pw")
		if s.Labels["app"] != "e2e" {
			t.Errorf("%s: template label app missing: %v", m, s.Labels)
		}
	}
	framework.Eventually(t, propagationDeadline, "Propagated condition True", func(ctx context.Context) error {
		fs, err := f.Secretfed.SecretfedV1alpha1().FederatedSecrets(ns).Get(ctx, "db", metav1.GetOptions{})
		if err != nil {
			return err
		}
		for _, c := range fs.Status.Conditions {
			if c.Type == v1alpha1.ConditionPropagated && c.Status == metav1.ConditionTrue {
				return nil
			}
		}
		return fmt.Errorf("conditions %+v", fs.Status.Conditions)
	})
}

func TestUpdateReachesEveryPlacedMember(t *testing.T) {
	ns := createNamespace(t, "e2e-update")
	createFS(t, placedFS(ns, "db", "v1-pw", all()))
	for _, m := range f.MemberNames {
		waitForValue(t, m, ns, "db", "v1-pw")
	}
	patchData(t, ns, "db", "v2-pw")
	for _, m := range f.MemberNames {
		waitForValue(t, m, ns, "db", "v2-pw")
	}
}

func TestPlacementByListSelectorEmptySelectorAndNone(t *testing.T) {
	ns := createNamespace(t, "e2e-placement")
	m1, m2 := f.MemberNames[0], f.MemberNames[1]
	createFS(t, placedFS(ns, "by-list", "l", list(m2)))
	createFS(t, placedFS(ns, "by-selector", "s", v1alpha1.Placement{ClusterSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"env": "prod"}}}))
	createFS(t, placedFS(ns, "by-empty-selector", "e", all()))
	createFS(t, placedFS(ns, "empty-list-wins", "x", v1alpha1.Placement{Clusters: []v1alpha1.ClusterReference{}, ClusterSelector: &metav1.LabelSelector{}}))
	createFS(t, placedFS(ns, "nowhere", "n", v1alpha1.Placement{}))

	waitForValue(t, m2, ns, "by-list", "l")
	waitForValue(t, m1, ns, "by-selector", "s") // member1 is env=prod
	waitForValue(t, m1, ns, "by-empty-selector", "e")
	waitForValue(t, m2, ns, "by-empty-selector", "e")
	// Negative cases: give the loop the time the positive ones needed.
	for _, c := range []struct{ member, name string }{{m1, "by-list"}, {m2, "by-selector"}, {m1, "empty-list-wins"}, {m2, "empty-list-wins"}, {m1, "nowhere"}, {m2, "nowhere"}} {
		if _, err := memberSecret(framework.Context(t, time.Minute), c.member, ns, c.name); !apierrors.IsNotFound(err) {
			t.Errorf("%s reached %s, which its placement does not select (err %v)", c.name, c.member, err)
		}
	}
}

func TestPerClusterOverridesApplyOnlyToTheirCluster(t *testing.T) {
	ns := createNamespace(t, "e2e-override")
	m1, m2 := f.MemberNames[0], f.MemberNames[1]
	fs := placedFS(ns, "db", "base-pw", all())
	fs.Spec.Overrides = []v1alpha1.ClusterOverride{{ClusterName: m2, ClusterOverrides: []v1alpha1.OverridePatch{
		{Op: "replace", Path: "/data/password", Value: &v1alpha1.OverrideValue{Raw: []byte(`"b3ZlcnJpZGRlbi1wdw=="`)}}, // overridden-pw
		{Op: "add", Path: "/metadata/labels/tier", Value: &v1alpha1.OverrideValue{Raw: []byte(`"gold"`)}},
	}}}
	createFS(t, fs)
	s1 := waitForValue(t, m1, ns, "db", "base-pw")
	s2 := waitForValue(t, m2, ns, "db", "overridden-pw")
	if s1.Labels["tier"] != "" || s2.Labels["tier"] != "gold" {
		t.Errorf("tier label: %s=%q %s=%q, want only %s=gold", m1, s1.Labels["tier"], m2, s2.Labels["tier"], m2)
	}
}

func TestUnknownClusterInPlacementIsReportedAsClusterNotFound(t *testing.T) {
	ns := createNamespace(t, "e2e-notfound")
	createFS(t, placedFS(ns, "db", "nf-pw", list(f.MemberNames[0], "no-such-cluster")))
	waitForValue(t, f.MemberNames[0], ns, "db", "nf-pw")
	waitForClusterStatus(t, ns, "db", "no-such-cluster", v1alpha1.StatusClusterNotFound)
}

func TestDriftInAMemberIsCorrected(t *testing.T) {
	ns := createNamespace(t, "e2e-drift")
	m1 := f.MemberNames[0]
	createFS(t, placedFS(ns, "db", "drift-pw", list(m1)))
	s := waitForValue(t, m1, ns, "db", "drift-pw")
	ctx := framework.Context(t, time.Minute)

	s = s.DeepCopy()
	s.Data["password"] = []byte("tampered")
	if _, err := f.Members[m1].CoreV1().Secrets(ns).Update(ctx, s, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitForValue(t, m1, ns, "db", "drift-pw")

	if err := f.Members[m1].CoreV1().Secrets(ns).Delete(ctx, "db", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitForValue(t, m1, ns, "db", "drift-pw")
}

func TestUnmanagedSecretIsLeftAloneUnlessAdopted(t *testing.T) {
	ns := createNamespace(t, "e2e-adopt")
	m1 := f.MemberNames[0]
	ctx := framework.Context(t, 2*time.Minute)
	ensureMemberNamespace(t, m1, ns)
	if _, err := f.Members[m1].CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: ns},
		Data:       map[string][]byte{"password": []byte("theirs")},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	createFS(t, placedFS(ns, "db", "ours", list(m1)))
	waitForClusterStatus(t, ns, "db", m1, v1alpha1.StatusAlreadyExists)
	if s, err := memberSecret(ctx, m1, ns, "db"); err != nil || string(s.Data["password"]) != "theirs" || s.Labels[v1alpha1.ManagedLabel] != "" {
		t.Fatalf("the unmanaged Secret was touched (err %v)", err)
	}
	patch := fmt.Sprintf(`{"metadata":{"annotations":{%q:"true"}}}`, v1alpha1.AdoptAnnotation)
	if _, err := f.Secretfed.SecretfedV1alpha1().FederatedSecrets(ns).Patch(ctx, "db", types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	waitForValue(t, m1, ns, "db", "ours")
	waitForClusterStatus(t, ns, "db", m1, v1alpha1.StatusPropagated)
}

func TestLeavingPlacementRemovesTheSecretFromThatMember(t *testing.T) {
	ns := createNamespace(t, "e2e-leave")
	m1, m2 := f.MemberNames[0], f.MemberNames[1]
	createFS(t, placedFS(ns, "db", "leave-pw", list(m1, m2)))
	waitForValue(t, m1, ns, "db", "leave-pw")
	waitForValue(t, m2, ns, "db", "leave-pw")
	ctx := framework.Context(t, time.Minute)
	patch := fmt.Sprintf(`{"spec":{"placement":{"clusters":[{"name":%q}]}}}`, m1)
	if _, err := f.Secretfed.SecretfedV1alpha1().FederatedSecrets(ns).Patch(ctx, "db", types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	waitForAbsence(t, m2, ns, "db")
	waitForValue(t, m1, ns, "db", "leave-pw")
}

func TestRelabellingAClusterMovesSecrets(t *testing.T) {
	ns := createNamespace(t, "e2e-relabel")
	m2 := f.MemberNames[1]
	createFS(t, placedFS(ns, "db", "relabel-pw", v1alpha1.Placement{ClusterSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"tier-" + ns: "on"}}}))
	ctx := framework.Context(t, 2*time.Minute)
	label := func(value *string) {
		patch := fmt.Sprintf(`{"metadata":{"labels":{%q:null}}}`, "tier-"+ns)
		if value != nil {
			patch = fmt.Sprintf(`{"metadata":{"labels":{%q:%q}}}`, "tier-"+ns, *value)
		}
		if _, err := f.Secretfed.SecretfedV1alpha1().FederatedClusters().Patch(ctx, m2, types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { label(nil) })
	label(ptr.To("on"))
	waitForValue(t, m2, ns, "db", "relabel-pw")
	label(nil)
	waitForAbsence(t, m2, ns, "db")
}

func TestDeletingRemovesEverywhereAndOrphanLeavesUnlabelledCopies(t *testing.T) {
	ns := createNamespace(t, "e2e-delete")
	createFS(t, placedFS(ns, "gone", "gone-pw", all()))
	orphan := placedFS(ns, "kept", "kept-pw", all())
	orphan.Annotations = map[string]string{v1alpha1.OrphanAnnotation: "true"}
	createFS(t, orphan)
	for _, m := range f.MemberNames {
		waitForValue(t, m, ns, "gone", "gone-pw")
		waitForValue(t, m, ns, "kept", "kept-pw")
	}
	ctx := framework.Context(t, 2*time.Minute)
	for _, name := range []string{"gone", "kept"} {
		if err := f.Secretfed.SecretfedV1alpha1().FederatedSecrets(ns).Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	for _, m := range f.MemberNames {
		waitForAbsence(t, m, ns, "gone")
		framework.Eventually(t, propagationDeadline, "orphaned copy unlabelled in "+m, func(ctx context.Context) error {
			s, err := memberSecret(ctx, m, ns, "kept")
			if err != nil {
				return err
			}
			if _, managed := s.Labels[v1alpha1.ManagedLabel]; managed || string(s.Data["password"]) != "kept-pw" {
				return fmt.Errorf("labels %v", s.Labels)
			}
			return nil
		})
	}
	framework.Eventually(t, propagationDeadline, "FederatedSecrets gone after their finalizer", func(ctx context.Context) error {
		l, err := f.Secretfed.SecretfedV1alpha1().FederatedSecrets(ns).List(ctx, metav1.ListOptions{})
		if err != nil || len(l.Items) != 0 {
			return fmt.Errorf("%d left (err %v)", len(l.Items), err)
		}
		return nil
	})
}

func TestImmutableSecretWithChangedContentIsRecreated(t *testing.T) {
	ns := createNamespace(t, "e2e-immutable")
	m1 := f.MemberNames[0]
	fs := placedFS(ns, "db", "imm-1", list(m1))
	fs.Spec.Template.Immutable = ptr.To(true)
	createFS(t, fs)
	before := waitForValue(t, m1, ns, "db", "imm-1")
	patchData(t, ns, "db", "imm-2")
	after := waitForValue(t, m1, ns, "db", "imm-2")
	if before.UID == after.UID {
		t.Errorf("the immutable Secret was not recreated (same UID)")
	}
	if after.Immutable == nil || !*after.Immutable {
		t.Errorf("the recreated Secret is not immutable")
	}
}

func TestMissingMemberNamespaceIsCreated(t *testing.T) {
	ns := createNamespace(t, "e2e-newns")
	m1 := f.MemberNames[0]
	ctx := framework.Context(t, time.Minute)
	if _, err := f.Members[m1].CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("namespace %s already in %s (err %v)", ns, m1, err)
	}
	createFS(t, placedFS(ns, "db", "ns-pw", list(m1)))
	waitForValue(t, m1, ns, "db", "ns-pw")
	got, err := f.Members[m1].CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
	if err != nil || got.Labels[v1alpha1.ManagedNamespaceLabel] != "true" {
		t.Errorf("member namespace: %v, labels %v; want label %s=true", err, got.GetLabels(), v1alpha1.ManagedNamespaceLabel)
	}
}

func patchData(t *testing.T, ns, name, value string) {
	t.Helper()
	ctx := framework.Context(t, time.Minute)
	patch := fmt.Sprintf(`{"spec":{"template":{"stringData":{"password":%q}}}}`, value)
	if _, err := f.Secretfed.SecretfedV1alpha1().FederatedSecrets(ns).Patch(ctx, name, types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
}

func ensureMemberNamespace(t *testing.T, member, ns string) {
	t.Helper()
	ctx := framework.Context(t, time.Minute)
	_, err := f.Members[member].CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
}
