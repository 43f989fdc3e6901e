package propagation

import (
	"context"
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/klog/v2"

	"github.com/secretfed/secretfed/pkg/apis/secretfed/v1alpha1"
)

func (c *Controller) runClusterWorker(ctx context.Context) {
	for c.processCluster(ctx) {
	}
}

func (c *Controller) processCluster(ctx context.Context) bool {
	name, quit := c.clusterQueue.Get()
	if quit {
		return false
	}
	defer c.clusterQueue.Done(name)
	if err := c.syncCluster(ctx, name); err != nil {
		if !apierrors.IsConflict(err) {
			utilruntime.HandleErrorWithContext(ctx, err, "Syncing FederatedCluster failed", "cluster", name)
		}
		c.clusterQueue.AddRateLimited(name)
		return true
	}
	c.clusterQueue.Forget(name)
	return true
}

// syncCluster keeps the secretfed.io/cluster finalizer on every
// FederatedCluster and, when one is deleted, removes (or, with
// secretfed.io/keep-secrets=true, unlabels) the managed Secrets in that
// member before releasing it. An unreachable member is retried with backoff
// until it answers or a user removes the finalizer by hand (unjoin --force).
func (c *Controller) syncCluster(ctx context.Context, name string) error {
	fc, err := c.fcLister.Get(name)
	if apierrors.IsNotFound(err) {
		c.clusterGone(name)
		return nil
	}
	if err != nil {
		return err
	}
	clusters := c.client.SecretfedV1alpha1().FederatedClusters()

	if fc.DeletionTimestamp == nil {
		if hasFinalizer(fc.Finalizers, v1alpha1.ClusterFinalizer) {
			return nil
		}
		fc = fc.DeepCopy()
		fc.Finalizers = append(fc.Finalizers, v1alpha1.ClusterFinalizer)
		_, err := clusters.Update(ctx, fc, metav1.UpdateOptions{})
		return err
	}
	if !hasFinalizer(fc.Finalizers, v1alpha1.ClusterFinalizer) {
		c.clusterGone(name)
		return nil
	}

	// No more propagation to this member, so that nothing is created
	// behind our back while we clean up.
	c.stopMemberWorker(name)
	keep := fc.Annotations[KeepSecretsAnnotation] == "true"
	if err := c.cleanMember(ctx, fc, keep); err != nil {
		c.recorder.Eventf(fc, corev1.EventTypeWarning, "CleanupFailed",
			"cannot remove the Secrets secretfed manages in this cluster, retrying (remove the %s finalizer to force): %v", v1alpha1.ClusterFinalizer, err)
		return err
	}

	fc = fc.DeepCopy()
	fc.Finalizers = withoutFinalizer(fc.Finalizers, v1alpha1.ClusterFinalizer)
	if _, err := clusters.Update(ctx, fc, metav1.UpdateOptions{}); err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	klog.FromContext(ctx).Info("Released FederatedCluster after cleaning its managed Secrets", "cluster", name, "keepSecrets", keep)
	c.clusterGone(name)
	return nil
}

// cleanMember deletes, or unlabels when keep, every managed Secret in the
// member. It lists from the member's API, not the cache: the cache may lag
// and this is the last chance.
func (c *Controller) cleanMember(ctx context.Context, fc *v1alpha1.FederatedCluster, keep bool) error {
	m, err := c.members.Get(fc)
	if err != nil {
		return fmt.Errorf("cannot connect: %w", err)
	}
	rctx, cancel := c.reqCtx(ctx)
	list, err := m.Client.CoreV1().Secrets(metav1.NamespaceAll).List(rctx, metav1.ListOptions{LabelSelector: v1alpha1.ManagedLabel + "=true"})
	cancel()
	if err != nil {
		return fmt.Errorf("cannot list managed Secrets: %w", err)
	}
	var errs []error
	for i := range list.Items {
		s := &list.Items[i]
		if !isManaged(s) {
			continue // a fake or old server that ignored the selector
		}
		rctx, cancel := c.reqCtx(ctx)
		if keep {
			s = s.DeepCopy()
			delete(s.Labels, v1alpha1.ManagedLabel)
			_, err = m.Client.CoreV1().Secrets(s.Namespace).Update(rctx, s, metav1.UpdateOptions{})
			if err == nil {
				memberWrites.WithLabelValues(m.Name, "update").Inc()
			}
		} else {
			uid := s.UID
			opts := metav1.DeleteOptions{}
			if uid != "" {
				opts.Preconditions = &metav1.Preconditions{UID: &uid}
			}
			err = m.Client.CoreV1().Secrets(s.Namespace).Delete(rctx, s.Name, opts)
			if err == nil {
				memberWrites.WithLabelValues(m.Name, "delete").Inc()
			}
		}
		cancel()
		if err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("%s/%s: %w", s.Namespace, s.Name, err))
		}
	}
	return errors.Join(errs...)
}
