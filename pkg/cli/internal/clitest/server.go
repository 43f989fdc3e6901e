package clitest

import (
	"context"
	"slices"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clienttesting "k8s.io/client-go/testing"

	"github.com/secretfed/secretfed/pkg/apis/secretfed/v1alpha1"
)

// Server imitates what the secretfed server does when a FederatedCluster is
// deleted: deletion waits for the secretfed.io/cluster finalizer, and the
// server removes it once it has cleaned up the member.
type Server struct {
	// FinishAfter is how many reads of the terminating FederatedCluster
	// happen before the server finishes; negative means never.
	FinishAfter int
	// CleansMember makes the server delete the member's managed Secrets (or,
	// with secretfed.io/keep-secrets=true, remove their managed label) before
	// it removes the finalizer. Without it the server finishes without
	// cleaning, as an older server would, and the client's fallback must.
	CleansMember bool
	// Finished is set once the server has removed the FederatedCluster.
	Finished bool
}

var fcResource = v1alpha1.SchemeGroupVersion.WithResource("federatedclusters")

// Install adds the deletion behaviour to h's secretfed API, acting on m.
func (s *Server) Install(h *Host, m *Member) {
	tracker := h.Fed.Tracker()
	get := func(name string) *v1alpha1.FederatedCluster {
		obj, err := tracker.Get(fcResource, "", name)
		if err != nil {
			return nil
		}
		return obj.(*v1alpha1.FederatedCluster).DeepCopy()
	}
	h.Fed.PrependReactor("delete", "federatedclusters", func(a clienttesting.Action) (bool, runtime.Object, error) {
		fc := get(a.(clienttesting.DeleteAction).GetName())
		if fc == nil || len(fc.Finalizers) == 0 {
			return false, nil, nil
		}
		if fc.DeletionTimestamp == nil {
			now := metav1.Now()
			fc.DeletionTimestamp = &now
			if err := tracker.Update(fcResource, fc, ""); err != nil {
				return true, nil, err
			}
		}
		return true, nil, nil
	})
	h.Fed.PrependReactor("update", "federatedclusters", func(a clienttesting.Action) (bool, runtime.Object, error) {
		fc := a.(clienttesting.UpdateAction).GetObject().(*v1alpha1.FederatedCluster)
		if fc.DeletionTimestamp == nil || len(fc.Finalizers) > 0 {
			return false, nil, nil
		}
		return true, fc, tracker.Delete(fcResource, "", fc.Name)
	})
	reads := 0
	h.Fed.PrependReactor("get", "federatedclusters", func(a clienttesting.Action) (bool, runtime.Object, error) {
		fc := get(a.(clienttesting.GetAction).GetName())
		if fc == nil || fc.DeletionTimestamp == nil || !slices.Contains(fc.Finalizers, v1alpha1.ClusterFinalizer) {
			return false, nil, nil
		}
		reads++
		if s.FinishAfter < 0 || reads < s.FinishAfter {
			return false, nil, nil
		}
		if s.CleansMember {
			s.clean(m, fc.Annotations["secretfed.io/keep-secrets"] == "true")
		}
		s.Finished = true
		return false, nil, tracker.Delete(fcResource, "", fc.Name)
	})
}

func (s *Server) clean(m *Member, keep bool) {
	ctx := context.Background()
	secrets := m.Kube.CoreV1().Secrets("")
	list, err := secrets.List(ctx, metav1.ListOptions{LabelSelector: v1alpha1.ManagedLabel + "=true"})
	if err != nil {
		panic(err)
	}
	for _, sec := range list.Items {
		c := m.Kube.CoreV1().Secrets(sec.Namespace)
		if keep {
			_, err = c.Patch(ctx, sec.Name, types.MergePatchType, []byte(`{"metadata":{"labels":{"secretfed.io/managed":null}}}`), metav1.PatchOptions{})
		} else {
			err = c.Delete(ctx, sec.Name, metav1.DeleteOptions{})
		}
		if err != nil {
			panic(err)
		}
	}
}

// AddFinalizer puts the server's finalizer on the FederatedCluster, as the
// server does when it first sees it.
func AddFinalizer(h *Host, name string) error {
	obj, err := h.Fed.Tracker().Get(fcResource, "", name)
	if err != nil {
		return err
	}
	fc := obj.(*v1alpha1.FederatedCluster).DeepCopy()
	fc.Finalizers = append(fc.Finalizers, v1alpha1.ClusterFinalizer)
	return h.Fed.Tracker().Update(fcResource, fc, "")
}
