package propagation

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clienttesting "k8s.io/client-go/testing"
	"k8s.io/component-base/metrics/testutil"

	"github.com/secretfed/secretfed/pkg/apis/secretfed/v1alpha1"
)

func objs(o ...runtime.Object) []runtime.Object { return o }

func TestCreateReachesEveryPlacedMemberWithManagedLabel(t *testing.T) {
	h := start(t, setup{
		objects: append(clusters("member1", "member2", "member3"), federatedSecret(onClusters("member1", "member2"))),
		members: map[string][]runtime.Object{"member1": nil, "member2": objs(namespace("payments")), "member3": nil},
	})
	h.propagatedTo("payments", "db-creds", "member1", "member2")

	for _, cl := range []string{"member1", "member2"} {
		s := h.secret(cl, "payments", "db-creds")
		if s == nil {
			t.Fatalf("%s has no Secret", cl)
		}
		want := map[string]string{"app": "payments", v1alpha1.ManagedLabel: "true"}
		if diff := cmp.Diff(want, s.Labels); diff != "" {
			t.Errorf("%s labels (-want +got):\n%s", cl, diff)
		}
		if string(s.Data["password"]) != secretValue || s.Type != corev1.SecretTypeOpaque {
			t.Errorf("%s Secret content is not the template's", cl)
		}
	}
	if h.secret("member3", "payments", "db-creds") != nil {
		t.Errorf("member3 is not placed but got the Secret")
	}
	if w := h.writes("member3"); len(w) != 0 {
		t.Errorf("member3 received writes: %v", w)
	}

	// The namespace was created where missing, labelled, and only there.
	ns, err := h.members["member1"].Tracker().Get(corev1.SchemeGroupVersion.WithResource("namespaces"), "", "payments")
	if err != nil {
		t.Fatalf("member1 namespace not created: %v", err)
	}
	if ns.(*corev1.Namespace).Labels[v1alpha1.ManagedNamespaceLabel] != "true" {
		t.Errorf("created namespace lacks %s", v1alpha1.ManagedNamespaceLabel)
	}
	if diff := cmp.Diff([]string{"create secrets payments/db-creds"}, h.writes("member2")); diff != "" {
		t.Errorf("member2 writes (-want +got):\n%s", diff)
	}

	fs := h.fs("payments", "db-creds")
	if !slices.Contains(fs.Finalizers, v1alpha1.PropagationFinalizer) {
		t.Errorf("finalizer not added: %v", fs.Finalizers)
	}
	if fs.Status.ObservedGeneration != 1 {
		t.Errorf("observedGeneration = %d, want 1", fs.Status.ObservedGeneration)
	}
	wantStatus := []v1alpha1.ClusterPropagationStatus{
		{Name: "member1", Status: v1alpha1.StatusPropagated},
		{Name: "member2", Status: v1alpha1.StatusPropagated},
	}
	if diff := cmp.Diff(wantStatus, fs.Status.Clusters); diff != "" {
		t.Errorf("status.clusters (-want +got):\n%s", diff)
	}
	cond := h.condition("payments", "db-creds")
	if cond.Message != "2/2 clusters propagated" || cond.ObservedGeneration != 1 {
		t.Errorf("condition = %+v", cond)
	}
}

func TestUpdatePropagates(t *testing.T) {
	h := start(t, setup{
		objects: append(clusters("member1", "member2"), federatedSecret(onClusters("member1", "member2"))),
		members: map[string][]runtime.Object{"member1": nil, "member2": nil},
	})
	h.propagatedTo("payments", "db-creds", "member1", "member2")

	h.updateFS("payments", "db-creds", func(fs *v1alpha1.FederatedSecret) {
		fs.Spec.Template.Data["password"] = []byte("rotated")
		fs.Spec.Template.Metadata.Annotations = map[string]string{"team": "core"}
	})
	h.eventually("both members hold the new content", func() bool {
		for _, cl := range []string{"member1", "member2"} {
			s := h.secret(cl, "payments", "db-creds")
			if s == nil || string(s.Data["password"]) != "rotated" || s.Annotations["team"] != "core" {
				return false
			}
		}
		fs := h.fs("payments", "db-creds")
		return fs.Status.ObservedGeneration == 2 && h.condition("payments", "db-creds").Status == metav1.ConditionTrue
	})
	for _, cl := range []string{"member1", "member2"} {
		w := h.writes(cl)
		if !slices.Contains(w, "update secrets payments/db-creds") {
			t.Errorf("%s: no update among %v", cl, w)
		}
	}
}

func TestPlacement(t *testing.T) {
	tests := []struct {
		name       string
		placement  v1alpha1.Placement
		wantStatus []v1alpha1.ClusterPropagationStatus
		wantCond   string // reason
		wantIn     []string
	}{
		{
			name:     "neither clusters nor selector: nowhere",
			wantCond: v1alpha1.ReasonNoClustersPlaced,
		},
		{
			name:      "empty clusters list: nowhere, selector ignored",
			placement: v1alpha1.Placement{Clusters: []v1alpha1.ClusterReference{}, ClusterSelector: &metav1.LabelSelector{}},
			wantCond:  v1alpha1.ReasonNoClustersPlaced,
		},
		{
			name:      "clusters list: exactly those",
			placement: onClusters("member2"),
			wantStatus: []v1alpha1.ClusterPropagationStatus{
				{Name: "member2", Status: v1alpha1.StatusPropagated},
			},
			wantCond: v1alpha1.ReasonAllClustersPropagated,
			wantIn:   []string{"member2"},
		},
		{
			name:      "empty selector: every cluster",
			placement: v1alpha1.Placement{ClusterSelector: &metav1.LabelSelector{}},
			wantStatus: []v1alpha1.ClusterPropagationStatus{
				{Name: "member1", Status: v1alpha1.StatusPropagated},
				{Name: "member2", Status: v1alpha1.StatusPropagated},
				{Name: "member3", Status: v1alpha1.StatusPropagated},
			},
			wantCond: v1alpha1.ReasonAllClustersPropagated,
			wantIn:   []string{"member1", "member2", "member3"},
		},
		{
			name:      "label selector",
			placement: v1alpha1.Placement{ClusterSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"env": "prod"}}},
			wantStatus: []v1alpha1.ClusterPropagationStatus{
				{Name: "member1", Status: v1alpha1.StatusPropagated},
				{Name: "member3", Status: v1alpha1.StatusPropagated},
			},
			wantCond: v1alpha1.ReasonAllClustersPropagated,
			wantIn:   []string{"member1", "member3"},
		},
		{
			name:      "unknown cluster name: ClusterNotFound",
			placement: onClusters("member1", "ghost"),
			wantStatus: []v1alpha1.ClusterPropagationStatus{
				{Name: "ghost", Status: v1alpha1.StatusClusterNotFound, Message: "no FederatedCluster of this name"},
				{Name: "member1", Status: v1alpha1.StatusPropagated},
			},
			wantCond: v1alpha1.ReasonPropagationFailed,
			wantIn:   []string{"member1"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			objects := []runtime.Object{
				readyCluster("member1", map[string]string{"env": "prod"}), credentialsFor("member1"),
				readyCluster("member2", map[string]string{"env": "dev"}), credentialsFor("member2"),
				readyCluster("member3", map[string]string{"env": "prod"}), credentialsFor("member3"),
				federatedSecret(tc.placement),
			}
			h := start(t, setup{objects: objects, members: map[string][]runtime.Object{"member1": nil, "member2": nil, "member3": nil}})
			h.eventually("the condition has reason "+tc.wantCond, func() bool {
				c := h.condition("payments", "db-creds")
				return c != nil && c.Reason == tc.wantCond
			})
			h.quiesce()
			if diff := cmp.Diff(tc.wantStatus, h.fs("payments", "db-creds").Status.Clusters, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("status.clusters (-want +got):\n%s", diff)
			}
			for _, cl := range []string{"member1", "member2", "member3"} {
				has := h.secret(cl, "payments", "db-creds") != nil
				if has != slices.Contains(tc.wantIn, cl) {
					t.Errorf("%s holds the Secret: %v, want %v", cl, has, !has)
				}
			}
			cond := h.condition("payments", "db-creds")
			wantStatus := metav1.ConditionTrue
			if tc.wantCond == v1alpha1.ReasonPropagationFailed {
				wantStatus = metav1.ConditionFalse
			}
			if cond.Status != wantStatus {
				t.Errorf("condition status = %s, want %s", cond.Status, wantStatus)
			}
		})
	}
}

func TestOverridesPerClusterAndOneClustersFailure(t *testing.T) {
	fs := federatedSecret(onClusters("member1", "member2", "member3"))
	fs.Spec.Overrides = []v1alpha1.ClusterOverride{
		{ClusterName: "member2", ClusterOverrides: []v1alpha1.OverridePatch{
			{Op: "replace", Path: "/data/password", Value: &v1alpha1.OverrideValue{Raw: []byte(`"bmV3cGFzcw=="`)}},
			{Op: "add", Path: "/metadata/labels/env", Value: &v1alpha1.OverrideValue{Raw: []byte(`"prod"`)}},
		}},
		{ClusterName: "member3", ClusterOverrides: []v1alpha1.OverridePatch{
			{Op: "remove", Path: "/data/missing"},
		}},
	}
	h := start(t, setup{
		objects: append(clusters("member1", "member2", "member3"), fs),
		members: map[string][]runtime.Object{"member1": nil, "member2": nil, "member3": nil},
	})
	h.eventually("member3 reports OverrideFailed and the others Propagated", func() bool {
		st := h.clusterStatus("payments", "db-creds")
		return st["member1"].Status == v1alpha1.StatusPropagated && st["member2"].Status == v1alpha1.StatusPropagated &&
			st["member3"].Status == v1alpha1.StatusOverrideFailed
	})
	if got := h.clusterStatus("payments", "db-creds")["member3"].Message; got != "override 0 (remove /data/missing): path does not exist" {
		t.Errorf("member3 message = %q", got)
	}
	if s := h.secret("member1", "payments", "db-creds"); string(s.Data["password"]) != secretValue || s.Labels["env"] != "" {
		t.Errorf("member1 got member2's overrides")
	}
	if s := h.secret("member2", "payments", "db-creds"); string(s.Data["password"]) != "newpass" || s.Labels["env"] != "prod" {
		t.Errorf("member2 overrides not applied")
	}
	if s := h.secret("member3", "payments", "db-creds"); s != nil {
		t.Errorf("member3 got a Secret although its override fails")
	}
	cond := h.condition("payments", "db-creds")
	if cond.Status != metav1.ConditionFalse || cond.Reason != v1alpha1.ReasonPropagationFailed ||
		cond.Message != "2/3 clusters propagated; failed: member3: OverrideFailed" {
		t.Errorf("condition = %+v", cond)
	}
	want := "db-creds Warning OverrideFailed: cluster member3: override 0 (remove /data/missing): path does not exist"
	h.eventually("one Warning event for member3's OverrideFailed", func() bool {
		for _, e := range h.recorder.all() {
			if e == want {
				return true
			}
		}
		return false
	})
}

func TestDriftIsCorrected(t *testing.T) {
	h := start(t, setup{
		objects: append(clusters("member1"), federatedSecret(onClusters("member1"))),
		members: map[string][]runtime.Object{"member1": nil},
	})
	h.propagatedTo("payments", "db-creds", "member1")
	secrets := h.members["member1"].CoreV1().Secrets("payments")

	// Edited in the member: put back. A foreign annotation stays.
	s := h.secret("member1", "payments", "db-creds").DeepCopy()
	s.Data["password"] = []byte("tampered")
	s.Data["extra"] = []byte("x")
	s.Annotations = map[string]string{"someone-elses": "annotation"}
	if _, err := secrets.Update(h.ctx, s, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	h.eventually("the edit is reverted", func() bool {
		s := h.secret("member1", "payments", "db-creds")
		return s != nil && string(s.Data["password"]) == secretValue && len(s.Data) == 1
	})
	if s := h.secret("member1", "payments", "db-creds"); s.Annotations["someone-elses"] != "annotation" {
		t.Errorf("foreign annotation removed: %v", s.Annotations)
	}

	// Deleted in the member: recreated.
	if err := secrets.Delete(h.ctx, "db-creds", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	h.eventually("the deleted Secret is recreated", func() bool {
		s := h.secret("member1", "payments", "db-creds")
		return s != nil && string(s.Data["password"]) == secretValue
	})
}

func TestPreExistingUnmanagedSecretIsLeftAlone(t *testing.T) {
	existing := memberSecret("payments", "db-creds", false, "theirs")
	h := start(t, setup{
		objects: append(clusters("member1", "member2"), federatedSecret(onClusters("member1", "member2"))),
		members: map[string][]runtime.Object{"member1": objs(namespace("payments"), existing), "member2": nil},
	})
	h.eventually("member1 reports AlreadyExists", func() bool {
		st := h.clusterStatus("payments", "db-creds")
		return st["member1"].Status == v1alpha1.StatusAlreadyExists && st["member2"].Status == v1alpha1.StatusPropagated
	})
	h.quiesce()
	if diff := cmp.Diff(existing, h.secret("member1", "payments", "db-creds")); diff != "" {
		t.Errorf("unmanaged Secret changed (-want +got):\n%s", diff)
	}
	if w := h.writes("member1"); len(w) != 0 {
		t.Errorf("member1 writes = %v, want none", w)
	}
	cond := h.condition("payments", "db-creds")
	if cond.Status != metav1.ConditionFalse || cond.Reason != v1alpha1.ReasonPropagationFailed {
		t.Errorf("condition = %+v", cond)
	}
	if !slices.ContainsFunc(h.recorder.all(), func(e string) bool { return strings.Contains(e, "AlreadyExists") }) {
		t.Errorf("no AlreadyExists event: %v", h.recorder.all())
	}

	// With adopt=true it is taken over.
	h.updateFS("payments", "db-creds", func(fs *v1alpha1.FederatedSecret) {
		fs.Annotations = map[string]string{v1alpha1.AdoptAnnotation: "true"}
	})
	h.propagatedTo("payments", "db-creds", "member1", "member2")
	s := h.secret("member1", "payments", "db-creds")
	if s.Labels[v1alpha1.ManagedLabel] != "true" || string(s.Data["password"]) != secretValue {
		t.Errorf("adopted Secret not updated and labelled: labels %v", s.Labels)
	}
}

func TestLeavingPlacementDeletes(t *testing.T) {
	h := start(t, setup{
		objects: append(clusters("member1", "member2"), federatedSecret(v1alpha1.Placement{ClusterSelector: &metav1.LabelSelector{}})),
		members: map[string][]runtime.Object{"member1": nil, "member2": nil},
	})
	h.propagatedTo("payments", "db-creds", "member1", "member2")

	// Placement edit.
	h.updateFS("payments", "db-creds", func(fs *v1alpha1.FederatedSecret) {
		fs.Spec.Placement = onClusters("member1")
	})
	h.eventually("member2's copy is deleted and its entry gone", func() bool {
		return h.secret("member2", "payments", "db-creds") == nil && len(h.clusterStatus("payments", "db-creds")) == 1
	})
	h.propagatedTo("payments", "db-creds", "member1")

	// Cluster label change.
	h.updateFS("payments", "db-creds", func(fs *v1alpha1.FederatedSecret) {
		fs.Spec.Placement = v1alpha1.Placement{ClusterSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"env": "prod"}}}
	})
	h.updateFC("member1", func(fc *v1alpha1.FederatedCluster) { fc.Labels["env"] = "prod" })
	h.updateFC("member2", func(fc *v1alpha1.FederatedCluster) { fc.Labels["env"] = "prod" })
	h.propagatedTo("payments", "db-creds", "member1", "member2")
	h.updateFC("member1", func(fc *v1alpha1.FederatedCluster) { fc.Labels["env"] = "dev" })
	h.eventually("member1's copy is deleted after its label change", func() bool {
		return h.secret("member1", "payments", "db-creds") == nil
	})
	h.propagatedTo("payments", "db-creds", "member2")

	// Nowhere at all.
	h.updateFS("payments", "db-creds", func(fs *v1alpha1.FederatedSecret) { fs.Spec.Placement = v1alpha1.Placement{} })
	h.eventually("no copies left and NoClustersPlaced", func() bool {
		c := h.condition("payments", "db-creds")
		return h.secret("member2", "payments", "db-creds") == nil && c.Reason == v1alpha1.ReasonNoClustersPlaced &&
			c.Status == metav1.ConditionTrue && len(h.clusterStatus("payments", "db-creds")) == 0
	})
}

// markDeleted simulates a delete that the finalizer holds up: the fake
// tracker would remove the object at once.
func (h *harness) markDeleted(ns, name string, annotations map[string]string) {
	h.t.Helper()
	fs := h.fs(ns, name).DeepCopy()
	now := metav1.Now()
	fs.DeletionTimestamp = &now
	for k, v := range annotations {
		if fs.Annotations == nil {
			fs.Annotations = map[string]string{}
		}
		fs.Annotations[k] = v
	}
	if _, err := h.sf.SecretfedV1alpha1().FederatedSecrets(ns).Update(h.ctx, fs, metav1.UpdateOptions{}); err != nil {
		h.t.Fatal(err)
	}
}

func TestDeletionRemovesMemberCopiesThenFinalizer(t *testing.T) {
	// member2 holds an unmanaged Secret of the same name: not ours to delete.
	unmanaged := memberSecret("payments", "db-creds", false, "theirs")
	h := start(t, setup{
		objects: append(clusters("member1", "member2"), federatedSecret(onClusters("member1", "member2"))),
		members: map[string][]runtime.Object{"member1": nil, "member2": objs(namespace("payments"), unmanaged)},
	})
	h.eventually("member1 propagated", func() bool {
		return h.clusterStatus("payments", "db-creds")["member1"].Status == v1alpha1.StatusPropagated
	})
	h.markDeleted("payments", "db-creds", nil)
	h.eventually("the finalizer is removed", func() bool {
		return !slices.Contains(h.fs("payments", "db-creds").Finalizers, v1alpha1.PropagationFinalizer)
	})
	if h.secret("member1", "payments", "db-creds") != nil {
		t.Errorf("member1 copy not deleted before the finalizer was removed")
	}
	if diff := cmp.Diff(unmanaged, h.secret("member2", "payments", "db-creds")); diff != "" {
		t.Errorf("unmanaged Secret touched (-want +got):\n%s", diff)
	}
}

func TestDeletionWaitsForUnreachableMember(t *testing.T) {
	var mu sync.Mutex
	failing := true
	h := start(t, setup{
		objects: append(clusters("member1"), federatedSecret(onClusters("member1"))),
		members: map[string][]runtime.Object{"member1": nil},
		configure: func(h *harness) {
			h.members["member1"].PrependReactor("delete", "secrets", func(clienttesting.Action) (bool, runtime.Object, error) {
				mu.Lock()
				defer mu.Unlock()
				if failing {
					return true, nil, errors.New("connection refused")
				}
				return false, nil, nil
			})
		},
	})
	h.propagatedTo("payments", "db-creds", "member1")
	h.markDeleted("payments", "db-creds", nil)
	h.eventually("WaitingForRemoval is reported", func() bool {
		e := h.clusterStatus("payments", "db-creds")["member1"]
		return e.Status == v1alpha1.StatusWaitingForRemoval && strings.Contains(e.Message, "connection refused")
	})
	if !slices.Contains(h.fs("payments", "db-creds").Finalizers, v1alpha1.PropagationFinalizer) {
		t.Fatalf("finalizer removed while the member copy remains")
	}
	mu.Lock()
	failing = false
	mu.Unlock()
	h.eventually("the finalizer is removed once the member answers", func() bool {
		return !slices.Contains(h.fs("payments", "db-creds").Finalizers, v1alpha1.PropagationFinalizer)
	})
	if h.secret("member1", "payments", "db-creds") != nil {
		t.Errorf("member copy not deleted")
	}
}

func TestOrphanOnDeletion(t *testing.T) {
	h := start(t, setup{
		objects: append(clusters("member1", "member2"), federatedSecret(onClusters("member1", "member2"))),
		members: map[string][]runtime.Object{"member1": nil, "member2": nil},
	})
	h.propagatedTo("payments", "db-creds", "member1", "member2")
	h.markDeleted("payments", "db-creds", map[string]string{v1alpha1.OrphanAnnotation: "true"})
	h.eventually("the finalizer is removed", func() bool {
		return !slices.Contains(h.fs("payments", "db-creds").Finalizers, v1alpha1.PropagationFinalizer)
	})
	for _, cl := range []string{"member1", "member2"} {
		s := h.secret(cl, "payments", "db-creds")
		if s == nil {
			t.Fatalf("%s copy deleted despite orphan", cl)
		}
		if _, ok := s.Labels[v1alpha1.ManagedLabel]; ok || s.Labels["app"] != "payments" || string(s.Data["password"]) != secretValue {
			t.Errorf("%s orphaned copy: labels %v", cl, s.Labels)
		}
	}
}

func TestImmutableSecretIsRecreated(t *testing.T) {
	fs := federatedSecret(onClusters("member1"))
	yes := true
	fs.Spec.Template.Immutable = &yes
	h := start(t, setup{
		objects: append(clusters("member1"), fs),
		members: map[string][]runtime.Object{"member1": nil},
	})
	h.propagatedTo("payments", "db-creds", "member1")
	h.members["member1"].ClearActions()

	h.updateFS("payments", "db-creds", func(fs *v1alpha1.FederatedSecret) {
		fs.Spec.Template.Data["password"] = []byte("rotated")
	})
	h.eventually("the member holds the new immutable Secret", func() bool {
		s := h.secret("member1", "payments", "db-creds")
		return s != nil && string(s.Data["password"]) == "rotated" && s.Immutable != nil && *s.Immutable
	})
	h.quiesce()
	want := []string{"delete secrets payments/db-creds", "create secrets payments/db-creds"}
	if diff := cmp.Diff(want, h.writes("member1")); diff != "" {
		t.Errorf("member1 writes (-want +got):\n%s", diff)
	}
}

func TestClusterNotReadyIsNotTried(t *testing.T) {
	objects := append(clusters("member1"), federatedSecret(onClusters("member1", "member2")))
	down := readyCluster("member2", nil)
	down.Status.Conditions[0].Status = metav1.ConditionFalse
	down.Status.Conditions[0].Reason = v1alpha1.ReasonClusterNotReachable
	objects = append(objects, down, credentialsFor("member2"))
	h := start(t, setup{objects: objects, members: map[string][]runtime.Object{"member1": nil, "member2": nil}})

	h.eventually("member2 reports ClusterNotReady", func() bool {
		st := h.clusterStatus("payments", "db-creds")
		return st["member1"].Status == v1alpha1.StatusPropagated && st["member2"].Status == v1alpha1.StatusClusterNotReady
	})
	h.quiesce()
	if got := h.clusterStatus("payments", "db-creds")["member2"].Message; got != "cluster is not ready (ClusterNotReachable)" {
		t.Errorf("message = %q", got)
	}
	if a := h.members["member2"].Actions(); len(a) != 0 {
		t.Errorf("member2 was contacted: %d actions", len(a))
	}
	cond := h.condition("payments", "db-creds")
	if cond.Reason != v1alpha1.ReasonPropagationPending {
		t.Errorf("condition = %+v", cond)
	}

	// Ready again: propagated without further ado.
	h.updateFCStatus("member2", func(fc *v1alpha1.FederatedCluster) {
		fc.Status.Conditions[0].Status = metav1.ConditionTrue
		fc.Status.Conditions[0].Reason = v1alpha1.ReasonClusterReady
	})
	h.propagatedTo("payments", "db-creds", "member1", "member2")
}

func TestOneFailingMemberDoesNotStopOthers(t *testing.T) {
	var mu sync.Mutex
	failing := true
	h := start(t, setup{
		objects: append(clusters("member1", "member2"), federatedSecret(onClusters("member1", "member2"))),
		members: map[string][]runtime.Object{"member1": nil, "member2": nil},
		configure: func(h *harness) {
			h.members["member2"].PrependReactor("create", "secrets", func(clienttesting.Action) (bool, runtime.Object, error) {
				mu.Lock()
				defer mu.Unlock()
				if failing {
					return true, nil, apierrors.NewInternalError(errors.New("etcd is sad"))
				}
				return false, nil, nil
			})
		},
	})
	h.eventually("member1 Propagated, member2 CreationFailed", func() bool {
		st := h.clusterStatus("payments", "db-creds")
		return st["member1"].Status == v1alpha1.StatusPropagated && st["member2"].Status == v1alpha1.StatusCreationFailed
	})
	if h.secret("member1", "payments", "db-creds") == nil {
		t.Fatalf("member1 has no Secret")
	}
	cond := h.condition("payments", "db-creds")
	if cond.Reason != v1alpha1.ReasonPropagationFailed || cond.Message != "1/2 clusters propagated; failed: member2: CreationFailed" {
		t.Errorf("condition = %+v", cond)
	}
	if !slices.ContainsFunc(h.recorder.all(), func(e string) bool {
		return strings.Contains(e, "Warning CreationFailed: cluster member2: cannot create the Secret")
	}) {
		t.Errorf("no CreationFailed warning event: %v", h.recorder.all())
	}

	// The failed pair is retried with backoff and recovers on its own.
	mu.Lock()
	failing = false
	mu.Unlock()
	h.propagatedTo("payments", "db-creds", "member1", "member2")
}

func TestSlowMemberDoesNotDelayOthers(t *testing.T) {
	release := make(chan struct{})
	h := start(t, setup{
		objects: append(clusters("fast", "slow"), federatedSecret(onClusters("fast", "slow"))),
		members: map[string][]runtime.Object{"fast": nil, "slow": nil},
		configure: func(h *harness) {
			// The fake ignores contexts, so this stands for a member that
			// hangs longer than any timeout.
			h.members["slow"].PrependReactor("get", "namespaces", func(clienttesting.Action) (bool, runtime.Object, error) {
				<-release
				return true, nil, errors.New("timed out")
			})
		},
	})
	t.Cleanup(func() { close(release) }) // runs before the harness stops

	h.eventually("fast is reported Propagated while slow hangs", func() bool {
		st := h.clusterStatus("payments", "db-creds")
		return st["fast"].Status == v1alpha1.StatusPropagated
	})
	if h.secret("fast", "payments", "db-creds") == nil {
		t.Errorf("fast member has no Secret")
	}
	cond := h.condition("payments", "db-creds")
	if cond.Status != metav1.ConditionFalse || cond.Reason != v1alpha1.ReasonPropagationPending ||
		cond.Message != "1/2 clusters propagated; pending: slow" {
		t.Errorf("condition = %+v", cond)
	}

	// A second FederatedSecret is not held up either.
	second := federatedSecret(onClusters("fast", "slow"))
	second.Name = "second"
	if _, err := h.sf.SecretfedV1alpha1().FederatedSecrets("payments").Create(h.ctx, second, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	h.eventually("the second Secret reaches fast", func() bool {
		return h.clusterStatus("payments", "second")["fast"].Status == v1alpha1.StatusPropagated
	})
}

// Restarting with everything in sync must send no write to any member, and
// no status write.
func TestRestartInSyncWritesNothing(t *testing.T) {
	fs := federatedSecret(v1alpha1.Placement{ClusterSelector: &metav1.LabelSelector{}})
	fs.Spec.Overrides = []v1alpha1.ClusterOverride{{ClusterName: "member2", ClusterOverrides: []v1alpha1.OverridePatch{
		{Op: "add", Path: "/metadata/annotations/zone", Value: &v1alpha1.OverrideValue{Raw: []byte(`"b"`)}},
	}}}
	nowhere := federatedSecret(v1alpha1.Placement{})
	nowhere.Name = "nowhere"
	first := start(t, setup{
		objects: append(clusters("member1", "member2"), fs, nowhere),
		members: map[string][]runtime.Object{"member1": nil, "member2": nil},
	})
	first.propagatedTo("payments", "db-creds", "member1", "member2")
	first.eventually("nowhere is NoClustersPlaced", func() bool {
		c := first.condition("payments", "nowhere")
		return c != nil && c.Reason == v1alpha1.ReasonNoClustersPlaced
	})
	first.quiesce()

	// Carry the state over to a fresh controller.
	var sfObjects []runtime.Object
	for _, gvr := range []string{"federatedsecrets", "federatedclusters"} {
		list, err := first.sf.Tracker().List(v1alpha1.SchemeGroupVersion.WithResource(gvr), v1alpha1.SchemeGroupVersion.WithKind(kindFor(gvr)), "")
		if err != nil {
			t.Fatal(err)
		}
		items, _ := extractList(list)
		sfObjects = append(sfObjects, items...)
	}
	memberObjects := map[string][]runtime.Object{}
	for cl, fake := range first.members {
		for _, res := range []string{"namespaces", "secrets"} {
			list, err := fake.Tracker().List(corev1.SchemeGroupVersion.WithResource(res), corev1.SchemeGroupVersion.WithKind(map[string]string{"namespaces": "Namespace", "secrets": "Secret"}[res]), "")
			if err != nil {
				t.Fatal(err)
			}
			items, _ := extractList(list)
			memberObjects[cl] = append(memberObjects[cl], items...)
		}
	}

	second := start(t, setup{objects: sfObjects, members: memberObjects})
	second.quiesce()
	// Force a full re-plan too, as a resync would.
	second.ctrl.enqueueAll()
	second.quiesce()
	for cl := range second.members {
		if w := second.writes(cl); len(w) != 0 {
			t.Errorf("%s received writes after a restart in sync: %v", cl, w)
		}
	}
	for _, a := range second.sf.Actions() {
		switch a.GetVerb() {
		case "get", "list", "watch":
		default:
			t.Errorf("secretfed API received %s after a restart in sync", describeAction(a))
		}
	}
}

func TestStatusWrittenOnlyWhenChanged(t *testing.T) {
	h := start(t, setup{
		objects: append(clusters("member1", "member2"), federatedSecret(onClusters("member1", "member2"))),
		members: map[string][]runtime.Object{"member1": nil, "member2": nil},
	})
	h.propagatedTo("payments", "db-creds", "member1", "member2")
	h.quiesce()
	before := h.statusWrites()
	ltt := h.condition("payments", "db-creds").LastTransitionTime

	for i := 0; i < 3; i++ {
		h.ctrl.enqueueAll()
		h.quiesce()
	}
	if after := h.statusWrites(); after != before {
		t.Errorf("status written %d times without a change", after-before)
	}

	// A change of reason with the same status keeps lastTransitionTime.
	h.updateFS("payments", "db-creds", func(fs *v1alpha1.FederatedSecret) { fs.Spec.Placement = onClusters("member1") })
	h.propagatedTo("payments", "db-creds", "member1")
	if got := h.condition("payments", "db-creds").LastTransitionTime; !got.Equal(&ltt) && got.Sub(ltt.Time) < 0 {
		t.Errorf("lastTransitionTime moved backwards")
	}
}

func TestClusterFinalizerAndDeletion(t *testing.T) {
	fresh := readyCluster("member3", map[string]string{"name": "member3"})
	fresh.Finalizers = nil
	other := memberSecret("payments", "other", true, "x") // managed, from another FederatedSecret
	h := start(t, setup{
		objects: append(append(clusters("member1", "member2"), fresh, credentialsFor("member3")), federatedSecret(onClusters("member1", "member2"))),
		members: map[string][]runtime.Object{
			"member1": objs(namespace("payments"), other),
			"member2": objs(namespace("payments"), other.DeepCopy()),
			"member3": nil,
		},
	})
	h.eventually("the cluster finalizer is added", func() bool {
		return slices.Contains(h.fc("member3").Finalizers, v1alpha1.ClusterFinalizer)
	})
	h.propagatedTo("payments", "db-creds", "member1", "member2")

	// member1 deleted: its managed Secrets go, then the finalizer.
	h.updateFC("member1", func(fc *v1alpha1.FederatedCluster) {
		now := metav1.Now()
		fc.DeletionTimestamp = &now
	})
	h.eventually("member1 is released", func() bool {
		return !slices.Contains(h.fc("member1").Finalizers, v1alpha1.ClusterFinalizer)
	})
	for _, name := range []string{"db-creds", "other"} {
		if h.secret("member1", "payments", name) != nil {
			t.Errorf("member1 still holds managed Secret %s", name)
		}
	}
	// Named explicitly in placement, it is now a cluster that does not exist.
	h.eventually("status reports member1 ClusterNotFound", func() bool {
		st := h.clusterStatus("payments", "db-creds")
		return st["member1"].Status == v1alpha1.StatusClusterNotFound && st["member2"].Status == v1alpha1.StatusPropagated
	})

	// member2 deleted with keep-secrets: Secrets stay, unlabelled.
	h.updateFC("member2", func(fc *v1alpha1.FederatedCluster) {
		now := metav1.Now()
		fc.DeletionTimestamp = &now
		fc.Annotations = map[string]string{KeepSecretsAnnotation: "true"}
	})
	h.eventually("member2 is released", func() bool {
		return !slices.Contains(h.fc("member2").Finalizers, v1alpha1.ClusterFinalizer)
	})
	for _, name := range []string{"db-creds", "other"} {
		s := h.secret("member2", "payments", name)
		if s == nil {
			t.Fatalf("member2 lost %s despite keep-secrets", name)
		}
		if _, ok := s.Labels[v1alpha1.ManagedLabel]; ok {
			t.Errorf("member2 %s keeps the managed label", name)
		}
	}
}

func TestClusterDeletionRetriesUnreachableMember(t *testing.T) {
	var mu sync.Mutex
	failing := true
	h := start(t, setup{
		objects: append(clusters("member1"), federatedSecret(onClusters("member1"))),
		members: map[string][]runtime.Object{"member1": nil},
		configure: func(h *harness) {
			h.members["member1"].PrependReactor("list", "secrets", func(a clienttesting.Action) (bool, runtime.Object, error) {
				mu.Lock()
				defer mu.Unlock()
				// Let the informer's own list through; fail the cleanup's.
				if failing && a.GetNamespace() == "" {
					if la, ok := a.(clienttesting.ListAction); ok && la.GetListRestrictions().Labels.String() != "" && cleanupStarted(h) {
						return true, nil, errors.New("dial tcp: i/o timeout")
					}
				}
				return false, nil, nil
			})
		},
	})
	h.propagatedTo("payments", "db-creds", "member1")
	h.updateFC("member1", func(fc *v1alpha1.FederatedCluster) {
		now := metav1.Now()
		fc.DeletionTimestamp = &now
	})
	h.eventually("a CleanupFailed event is recorded", func() bool {
		return slices.ContainsFunc(h.recorder.all(), func(e string) bool { return strings.Contains(e, "CleanupFailed") })
	})
	if !slices.Contains(h.fc("member1").Finalizers, v1alpha1.ClusterFinalizer) {
		t.Fatalf("finalizer removed although cleanup failed")
	}
	mu.Lock()
	failing = false
	mu.Unlock()
	h.eventually("member1 is released after the member answers", func() bool {
		return !slices.Contains(h.fc("member1").Finalizers, v1alpha1.ClusterFinalizer)
	})
	if h.secret("member1", "payments", "db-creds") != nil {
		t.Errorf("managed Secret left behind")
	}
}

// cleanupStarted reports whether member1's FederatedCluster is being deleted.
func cleanupStarted(h *harness) bool {
	obj, err := h.sf.Tracker().Get(v1alpha1.SchemeGroupVersion.WithResource("federatedclusters"), "", "member1")
	if err != nil {
		return false
	}
	return obj.(*v1alpha1.FederatedCluster).DeletionTimestamp != nil
}

func TestStatusAndEventsNeverContainSecretValues(t *testing.T) {
	fs := federatedSecret(onClusters("member1", "member2"))
	fs.Spec.Overrides = []v1alpha1.ClusterOverride{{ClusterName: "member2", ClusterOverrides: []v1alpha1.OverridePatch{
		{Op: "replace", Path: "/data/password", Value: &v1alpha1.OverrideValue{Raw: []byte(`"` + secretValue + `"`)}}, // not base64
	}}}
	h := start(t, setup{
		objects: append(clusters("member1", "member2"), fs),
		members: map[string][]runtime.Object{"member1": nil, "member2": nil},
		configure: func(h *harness) {
			h.members["member1"].PrependReactor("create", "secrets", func(a clienttesting.Action) (bool, runtime.Object, error) {
				return true, nil, apierrors.NewBadRequest("refused")
			})
		},
	})
	h.eventually("both clusters fail", func() bool {
		st := h.clusterStatus("payments", "db-creds")
		return st["member1"].Status == v1alpha1.StatusCreationFailed && st["member2"].Status == v1alpha1.StatusOverrideFailed
	})
	got := fmt.Sprintf("%+v", h.fs("payments", "db-creds").Status)
	if strings.Contains(got, secretValue) {
		t.Errorf("status leaks a secret value: %s", got)
	}
	// Events are checked by the harness on cleanup.
}

func TestMissingCredentialsThenFixed(t *testing.T) {
	h := start(t, setup{
		objects: []runtime.Object{readyCluster("member1", nil), federatedSecret(onClusters("member1"))},
		members: map[string][]runtime.Object{"member1": nil},
	})
	h.eventually("member1 reports it cannot connect", func() bool {
		e := h.clusterStatus("payments", "db-creds")["member1"]
		return e.Status == v1alpha1.StatusClusterNotReady &&
			e.Message == "cannot connect to the cluster: credentials FederatedSecret secretfed-system/member1-credentials not found"
	})
	if _, err := h.sf.SecretfedV1alpha1().FederatedSecrets(v1alpha1.SystemNamespace).Create(h.ctx, credentialsFor("member1"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	h.propagatedTo("payments", "db-creds", "member1")
}

func TestMemberWritesMetric(t *testing.T) {
	before, _ := testutil.GetCounterMetricValue(memberWrites.WithLabelValues("metrics-member", "create"))
	h := start(t, setup{
		objects: append(clusters("metrics-member"), federatedSecret(onClusters("metrics-member"))),
		members: map[string][]runtime.Object{"metrics-member": nil},
	})
	h.propagatedTo("payments", "db-creds", "metrics-member")
	after, _ := testutil.GetCounterMetricValue(memberWrites.WithLabelValues("metrics-member", "create"))
	if after-before != 1 {
		t.Errorf("secretfed_member_writes_total{operation=create} grew by %v, want 1", after-before)
	}
	ns, _ := testutil.GetCounterMetricValue(memberWrites.WithLabelValues("metrics-member", "namespace_create"))
	if ns < 1 {
		t.Errorf("namespace_create not counted")
	}
}
