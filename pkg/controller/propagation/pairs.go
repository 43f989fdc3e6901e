package propagation

import (
	"context"
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"

	"github.com/secretfed/secretfed/pkg/apis/secretfed/v1alpha1"
	"github.com/secretfed/secretfed/pkg/member"
	"github.com/secretfed/secretfed/pkg/render"
)

// memberWorker is the queue of FederatedSecret keys for one member cluster.
// Only this member's requests wait in it.
type memberWorker struct {
	cluster string
	queue   workqueue.TypedRateLimitingInterface[string]
}

// enqueuePair hands the pair to its cluster's queue, starting the queue if
// needed. Clusters that are gone or being deleted get no queue.
func (c *Controller) enqueuePair(cluster, key string) {
	fc, err := c.fcLister.Get(cluster)
	if err != nil || fc.DeletionTimestamp != nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.runCtx == nil || c.runCtx.Err() != nil {
		return
	}
	w := c.workers[cluster]
	if w == nil {
		w = &memberWorker{
			cluster: cluster,
			queue: workqueue.NewTypedRateLimitingQueueWithConfig(
				workqueue.NewTypedMaxOfRateLimiter(
					workqueue.NewTypedItemExponentialFailureRateLimiter[string](c.cfg.RetryBaseDelay, c.cfg.RetryMaxDelay),
					workqueue.DefaultTypedControllerRateLimiter[string](),
				),
				workqueue.TypedRateLimitingQueueConfig[string]{Name: "secretfed_member_pairs"}),
		}
		c.workers[cluster] = w
		ctx := c.runCtx
		for i := 0; i < c.cfg.MemberWorkers; i++ {
			c.workerWG.Go(func() {
				defer utilruntime.HandleCrash()
				for c.processPair(ctx, w) {
				}
			})
		}
	}
	w.queue.Add(key)
}

// stopMemberWorker shuts cluster's queue down; its workers finish their
// current item and exit.
func (c *Controller) stopMemberWorker(cluster string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if w := c.workers[cluster]; w != nil {
		w.queue.ShutDown()
		delete(c.workers, cluster)
	}
}

// clusterGone forgets everything about a cluster that no longer exists.
func (c *Controller) clusterGone(cluster string) {
	c.stopMemberWorker(cluster)
	c.members.Remove(cluster)
	c.mu.Lock()
	defer c.mu.Unlock()
	for pk := range c.intents {
		if pk.cluster == cluster {
			delete(c.intents, pk)
		}
	}
	for pk := range c.results {
		if pk.cluster == cluster {
			delete(c.results, pk)
		}
	}
}

func (c *Controller) processPair(ctx context.Context, w *memberWorker) bool {
	key, quit := w.queue.Get()
	if quit {
		return false
	}
	defer w.queue.Done(key)
	if err := c.syncPair(ctx, w.cluster, key); err != nil {
		klog.FromContext(ctx).V(2).Info("Member write failed, retrying with backoff", "cluster", w.cluster, "key", key, "err", err)
		w.queue.AddRateLimited(key)
		return true
	}
	w.queue.Forget(key)
	return true
}

// syncPair carries out the planner's current intent for one pair. It returns
// an error when the pair should be retried with backoff.
func (c *Controller) syncPair(ctx context.Context, cluster, key string) error {
	pk := pairKey{cluster: cluster, fsKey: key}
	started := c.now()
	c.mu.Lock()
	in := c.intents[pk]
	c.mu.Unlock()
	if in == nil {
		// A member event for a pair the planner has not looked at (yet):
		// let it decide.
		c.queue.Add(key)
		return nil
	}
	fc, err := c.fcLister.Get(cluster)
	if err != nil || fc.DeletionTimestamp != nil {
		return nil
	}

	m, err := c.members.Get(fc)
	if err != nil {
		// A malformed configuration (member.ConfigError) will not heal by
		// itself, but the backoff caps at RetryMaxDelay, and a fix to the
		// cluster or its credentials re-plans with a new intent anyway.
		c.record(pk, c.failure(in, v1alpha1.StatusClusterNotReady, fmt.Sprintf("cannot connect to the cluster: %v", err)))
		return err
	}

	var out outcome
	switch in.action {
	case actApply:
		desired, ok := c.desiredFor(key, cluster, in)
		if !ok {
			// The FederatedSecret changed (or went) since it was
			// planned: the planner plans it again, with a new intent.
			c.queue.Add(key)
			return nil
		}
		out, err = c.apply(ctx, m, in, desired, c.attempted(pk))
	case actRemove:
		out, err = c.remove(ctx, m, in, key)
	case actOrphan:
		out, err = c.orphan(ctx, m, in, key)
	}
	out.intent = in
	out.started = started
	c.record(pk, out)
	return err
}

// failure builds the outcome of a failed attempt: for removals the status is
// fixed by why we remove.
func (c *Controller) failure(in *intent, status v1alpha1.PropagationStatus, msg string) outcome {
	switch {
	case in.action != actApply && in.deleting:
		status = v1alpha1.StatusWaitingForRemoval
	case in.action != actApply:
		status = v1alpha1.StatusDeletionFailed
	}
	return outcome{intent: in, status: status, message: msg}
}

// record stores an outcome if the pair's intent is still the one carried
// out, and wakes the planner when the outcome changed.
func (c *Controller) record(pk pairKey, out outcome) {
	c.mu.Lock()
	if c.intents[pk] != out.intent {
		c.mu.Unlock()
		c.queue.Add(pk.fsKey)
		return
	}
	old, had := c.results[pk]
	c.results[pk] = out
	c.mu.Unlock()
	if out.failed() {
		propagationErrors.WithLabelValues(string(out.status)).Inc()
	}
	changed := !had || old.intent != out.intent || old.removed != out.removed || old.status != out.status || old.message != out.message
	if !changed {
		return
	}
	c.queue.Add(pk.fsKey)
	// One event per change of outcome, not per retry.
	if out.failed() || out.status == v1alpha1.StatusAlreadyExists {
		if out.status == v1alpha1.StatusAlreadyExists {
			propagationErrors.WithLabelValues(string(out.status)).Inc()
		}
		c.event(pk, out)
	}
}

func (c *Controller) event(pk pairKey, out outcome) {
	ns, name, err := cache.SplitMetaNamespaceKey(pk.fsKey)
	if err != nil {
		return
	}
	fs, err := c.fsLister.FederatedSecrets(ns).Get(name)
	if err != nil {
		return
	}
	c.recorder.Eventf(fs, corev1.EventTypeWarning, string(out.status), "cluster %s: %s", pk.cluster, out.message)
}

func (c *Controller) reqCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, c.cfg.RequestTimeout)
}

// attempted reports whether a member worker has carried out an intent for
// the pair since it was last planned anew or the process started.
func (c *Controller) attempted(pk pairKey) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.results[pk]
	return ok
}

// desiredFor renders the Secret the member must hold for key, from the
// FederatedSecret in the cache, if it is still the one in planned.
func (c *Controller) desiredFor(key, cluster string, in *intent) (*corev1.Secret, bool) {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil, false
	}
	fs, err := c.fsLister.FederatedSecrets(ns).Get(name)
	if err != nil {
		return nil, false
	}
	desired, err := render.Render(fs, cluster)
	if err != nil {
		return nil, false
	}
	if d, err := digestOf(desired); err != nil || d != in.desired {
		return nil, false
	}
	return desired, true
}

// apply makes the member hold desired (rendered for in). Nothing is written
// when it already does. attempted says whether this pair was carried out
// before (see below).
func (c *Controller) apply(ctx context.Context, m *member.Member, in *intent, desired *corev1.Secret, attempted bool) (outcome, error) {
	secrets := m.Client.CoreV1().Secrets(desired.Namespace)

	rctx, cancel := c.reqCtx(ctx)
	fromCache := m.HasSynced()
	observed, err := m.GetSecret(rctx, desired.Namespace, desired.Name)
	cancel()
	if apierrors.IsNotFound(err) && fromCache && attempted {
		fromCache = false
		// The cache holds only managed Secrets and may lag behind our own
		// writes: ask the member before creating, so that an unmanaged
		// Secret, re-checked on every resync, costs a read and not a
		// refused write. A pair never attempted before (a new
		// FederatedSecret or placement) goes straight to the create,
		// which says AlreadyExists if something is there: one request
		// fewer on the way of every new Secret.
		rctx, cancel := c.reqCtx(ctx)
		observed, err = secrets.Get(rctx, desired.Name, metav1.GetOptions{})
		cancel()
	}
	switch {
	case apierrors.IsNotFound(err):
		observed = nil
	case err != nil:
		return c.readFailure(in, err), err
	}

	if observed == nil {
		if err := c.ensureNamespace(ctx, m, desired.Namespace); err != nil {
			return outcome{status: v1alpha1.StatusNamespaceCreationFailed, message: fmt.Sprintf("cannot create namespace %s: %v", desired.Namespace, err)}, err
		}
		rctx, cancel := c.reqCtx(ctx)
		_, err := secrets.Create(rctx, desired.DeepCopy(), metav1.CreateOptions{})
		cancel()
		if apierrors.IsNotFound(err) {
			// The namespace went away since we saw it: create it again.
			m.ForgetNamespace(desired.Namespace)
			if err := c.ensureNamespace(ctx, m, desired.Namespace); err != nil {
				return outcome{status: v1alpha1.StatusNamespaceCreationFailed, message: fmt.Sprintf("cannot create namespace %s: %v", desired.Namespace, err)}, err
			}
			rctx, cancel := c.reqCtx(ctx)
			_, err = secrets.Create(rctx, desired.DeepCopy(), metav1.CreateOptions{})
			cancel()
		}
		if err == nil {
			memberWrites.WithLabelValues(m.Name, "create").Inc()
			return propagated(), nil
		}
		if !apierrors.IsAlreadyExists(err) {
			return outcome{status: v1alpha1.StatusCreationFailed, message: fmt.Sprintf("cannot create the Secret: %v", err)}, err
		}
		// Created by someone else in between.
		rctx, cancel = c.reqCtx(ctx)
		observed, err = secrets.Get(rctx, desired.Name, metav1.GetOptions{})
		cancel()
		if err != nil {
			return c.readFailure(in, err), err
		}
	}

	// Two attempts: a conflict means someone wrote in between; compare again
	// with what they wrote.
	for attempt := 0; ; attempt++ {
		if !isManaged(observed) && !in.adopt {
			return outcome{
				status:  v1alpha1.StatusAlreadyExists,
				message: fmt.Sprintf("a Secret not managed by secretfed exists; annotate the FederatedSecret with %s=true to take it over", v1alpha1.AdoptAnnotation),
			}, nil
		}
		update, recreate := render.NeedsUpdate(desired, observed)
		if !update {
			return propagated(), nil
		}
		if recreate && fromCache {
			// Deleting is not undone by a conflict: confirm with the
			// member that the cache is not just behind our own last write.
			fromCache = false
			rctx, cancel := c.reqCtx(ctx)
			observed, err = secrets.Get(rctx, desired.Name, metav1.GetOptions{})
			cancel()
			if apierrors.IsNotFound(err) {
				return outcome{status: v1alpha1.StatusUpdateFailed, message: "the Secret was deleted while being updated"}, err
			}
			if err != nil {
				return c.readFailure(in, err), err
			}
			attempt--
			continue
		}
		if recreate {
			return c.recreate(ctx, m, desired, observed)
		}
		rctx, cancel := c.reqCtx(ctx)
		_, err := secrets.Update(rctx, render.Merge(desired, observed), metav1.UpdateOptions{})
		cancel()
		if err == nil {
			memberWrites.WithLabelValues(m.Name, "update").Inc()
			return propagated(), nil
		}
		if !apierrors.IsConflict(err) || attempt > 0 {
			return outcome{status: v1alpha1.StatusUpdateFailed, message: fmt.Sprintf("cannot update the Secret: %v", err)}, err
		}
		rctx, cancel = c.reqCtx(ctx)
		observed, err = secrets.Get(rctx, desired.Name, metav1.GetOptions{})
		cancel()
		fromCache = false
		if apierrors.IsNotFound(err) {
			// Deleted in between: start over on the next attempt.
			return outcome{status: v1alpha1.StatusUpdateFailed, message: "the Secret was deleted while being updated"}, err
		}
		if err != nil {
			return c.readFailure(in, err), err
		}
	}
}

// recreate deletes an observed Secret that cannot be updated into the
// desired one (type change, or immutable) and creates it anew.
func (c *Controller) recreate(ctx context.Context, m *member.Member, desired, observed *corev1.Secret) (outcome, error) {
	secrets := m.Client.CoreV1().Secrets(desired.Namespace)
	uid, rv := observed.UID, observed.ResourceVersion
	pre := &metav1.Preconditions{}
	if uid != "" {
		pre.UID = &uid
	}
	if rv != "" {
		pre.ResourceVersion = &rv
	}
	rctx, cancel := c.reqCtx(ctx)
	err := secrets.Delete(rctx, desired.Name, metav1.DeleteOptions{Preconditions: pre})
	cancel()
	if err != nil && !apierrors.IsNotFound(err) {
		return outcome{status: v1alpha1.StatusUpdateFailed, message: fmt.Sprintf("cannot delete the Secret to recreate it: %v", err)}, err
	}
	rctx, cancel = c.reqCtx(ctx)
	_, err = secrets.Create(rctx, desired.DeepCopy(), metav1.CreateOptions{})
	cancel()
	if err != nil {
		return outcome{status: v1alpha1.StatusCreationFailed, message: fmt.Sprintf("cannot recreate the Secret: %v", err)}, err
	}
	memberWrites.WithLabelValues(m.Name, "recreate").Inc()
	return propagated(), nil
}

// ensureNamespace creates the member namespace if it is missing. Namespaces
// are never deleted by secretfed. A namespace seen once is not checked again
// by the same member client (a create that finds it gone forgets it).
func (c *Controller) ensureNamespace(ctx context.Context, m *member.Member, name string) error {
	if m.NamespaceKnown(name) {
		return nil
	}
	rctx, cancel := c.reqCtx(ctx)
	defer cancel()
	_, err := m.Client.CoreV1().Namespaces().Get(rctx, name, metav1.GetOptions{})
	if err == nil {
		m.RememberNamespace(name)
		return nil
	}
	if !apierrors.IsNotFound(err) {
		return err
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{v1alpha1.ManagedNamespaceLabel: "true"}}}
	rctx2, cancel2 := c.reqCtx(ctx)
	defer cancel2()
	_, err = m.Client.CoreV1().Namespaces().Create(rctx2, ns, metav1.CreateOptions{})
	if err == nil {
		memberWrites.WithLabelValues(m.Name, "namespace_create").Inc()
	}
	if err == nil || apierrors.IsAlreadyExists(err) {
		m.RememberNamespace(name)
		return nil
	}
	return err
}

// remove deletes the managed member copy of key, if there is one. An
// unmanaged Secret of the same name is not ours and stays.
func (c *Controller) remove(ctx context.Context, m *member.Member, in *intent, key string) (outcome, error) {
	ns, name, _ := cache.SplitMetaNamespaceKey(key)
	rctx, cancel := c.reqCtx(ctx)
	observed, err := m.GetSecret(rctx, ns, name)
	cancel()
	if apierrors.IsNotFound(err) {
		return outcome{removed: true}, nil
	}
	if err != nil {
		return c.failure(in, "", fmt.Sprintf("cannot read the Secret: %v", err)), err
	}
	if !isManaged(observed) {
		return outcome{removed: true}, nil
	}
	opts := metav1.DeleteOptions{}
	if observed.UID != "" {
		uid := observed.UID
		opts.Preconditions = &metav1.Preconditions{UID: &uid}
	}
	rctx, cancel = c.reqCtx(ctx)
	err = m.Client.CoreV1().Secrets(ns).Delete(rctx, name, opts)
	cancel()
	if err != nil && !apierrors.IsNotFound(err) {
		return c.failure(in, "", fmt.Sprintf("cannot delete the Secret: %v", err)), err
	}
	if err == nil {
		memberWrites.WithLabelValues(m.Name, "delete").Inc()
	}
	return outcome{removed: true}, nil
}

// orphan leaves the member copy of key in place without the managed label.
func (c *Controller) orphan(ctx context.Context, m *member.Member, in *intent, key string) (outcome, error) {
	ns, name, _ := cache.SplitMetaNamespaceKey(key)
	secrets := m.Client.CoreV1().Secrets(ns)
	rctx, cancel := c.reqCtx(ctx)
	observed, err := m.GetSecret(rctx, ns, name)
	cancel()
	for attempt := 0; ; attempt++ {
		if apierrors.IsNotFound(err) {
			return outcome{removed: true}, nil
		}
		if err != nil {
			return c.failure(in, "", fmt.Sprintf("cannot read the Secret: %v", err)), err
		}
		if !isManaged(observed) {
			return outcome{removed: true}, nil
		}
		s := observed.DeepCopy()
		delete(s.Labels, v1alpha1.ManagedLabel)
		rctx, cancel := c.reqCtx(ctx)
		_, err = secrets.Update(rctx, s, metav1.UpdateOptions{})
		cancel()
		if err == nil {
			memberWrites.WithLabelValues(m.Name, "update").Inc()
			return outcome{removed: true}, nil
		}
		if !apierrors.IsConflict(err) || attempt > 0 {
			return c.failure(in, "", fmt.Sprintf("cannot remove the managed label: %v", err)), err
		}
		rctx, cancel = c.reqCtx(ctx)
		observed, err = secrets.Get(rctx, name, metav1.GetOptions{})
		cancel()
	}
}

// readFailure reports a failed read: an unreachable member is ClusterNotReady
// whatever we were about to do; an API error means the write we were about
// to attempt failed.
func (c *Controller) readFailure(in *intent, err error) outcome {
	var status apierrors.APIStatus
	if errors.As(err, &status) {
		return c.failure(in, v1alpha1.StatusUpdateFailed, fmt.Sprintf("cannot read the Secret: %v", err))
	}
	return c.failure(in, v1alpha1.StatusClusterNotReady, fmt.Sprintf("cannot reach the cluster: %v", err))
}

func propagated() outcome {
	return outcome{status: v1alpha1.StatusPropagated}
}
