// Package propagation is the loop that makes member clusters hold the Secrets
// FederatedSecrets describe, and that removes them again: when a cluster
// leaves a FederatedSecret's placement, when the FederatedSecret is deleted
// (finalizer secretfed.io/propagation) and when a FederatedCluster is deleted
// (finalizer secretfed.io/cluster).
//
// It is level-based and split in two so that one slow or unreachable member
// never delays the others:
//
//   - the planner (one queue of FederatedSecret keys) reads only informer
//     caches: it resolves placement, renders the desired Secret for every
//     placed cluster, records an intent per (FederatedSecret, cluster) pair,
//     hands each pair to that cluster's queue, and writes status from the
//     latest outcome of every pair;
//   - per member cluster, a queue of FederatedSecret keys and a few workers
//     carry out intents against that member only, with a timeout on every
//     request, and retry failed pairs with backoff.
//
// Nothing is written to a member whose Secret already equals the desired one,
// and status is written only when it changes, so a restart with everything in
// sync costs reads only. The package never logs or reports a secret value.
package propagation

import (
	"context"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/labels"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"

	"github.com/secretfed/secretfed/pkg/apis/secretfed/v1alpha1"
	"github.com/secretfed/secretfed/pkg/generated/clientset/versioned"
	"github.com/secretfed/secretfed/pkg/generated/informers/externalversions"
	listers "github.com/secretfed/secretfed/pkg/generated/listers/secretfed/v1alpha1"
	"github.com/secretfed/secretfed/pkg/member"
)

// KeepSecretsAnnotation on a FederatedCluster (set by unjoin --keep-secrets)
// leaves the member's managed Secrets in place, unlabelled, when the
// FederatedCluster is deleted.
const KeepSecretsAnnotation = "secretfed.io/keep-secrets"

// Config is what New needs.
type Config struct {
	// Client writes to the secretfed API (finalizers, status).
	Client versioned.Interface
	// Informers supplies FederatedSecrets and FederatedClusters.
	Informers externalversions.SharedInformerFactory
	// Members connects to member clusters.
	Members *member.Cache
	// Recorder records events on FederatedSecrets and FederatedClusters.
	Recorder record.EventRecorder

	// Workers run the planner (FederatedSecret keys). Default 8.
	Workers int
	// MemberWorkers run against each member. Default 4.
	MemberWorkers int
	// RequestTimeout bounds each request to a member. Default 10s.
	RequestTimeout time.Duration
	// ResyncPeriod re-plans every FederatedSecret this often, to catch what
	// no event reports (an unmanaged Secret that went away). Default 5m.
	ResyncPeriod time.Duration
	// RetryBaseDelay and RetryMaxDelay bound the backoff of failed pairs
	// and clusters. Defaults 200ms and 5m.
	RetryBaseDelay time.Duration
	RetryMaxDelay  time.Duration
	// PendingStatusDelay is how long pairs handed to member queues may take
	// before the planner writes PropagationPending; most finish sooner,
	// and then the only status write is the result. Default 1s.
	PendingStatusDelay time.Duration
}

func (c *Config) complete() {
	if c.Workers <= 0 {
		c.Workers = 8
	}
	if c.MemberWorkers <= 0 {
		c.MemberWorkers = 4
	}
	if c.RequestTimeout <= 0 {
		c.RequestTimeout = 10 * time.Second
	}
	if c.ResyncPeriod <= 0 {
		c.ResyncPeriod = 5 * time.Minute
	}
	if c.RetryBaseDelay <= 0 {
		c.RetryBaseDelay = 200 * time.Millisecond
	}
	if c.RetryMaxDelay <= 0 {
		c.RetryMaxDelay = 5 * time.Minute
	}
	if c.PendingStatusDelay <= 0 {
		c.PendingStatusDelay = time.Second
	}
}

// Controller is the propagation loop. Create it with New, run it once with Run.
type Controller struct {
	cfg      Config
	client   versioned.Interface
	members  *member.Cache
	recorder record.EventRecorder

	fsInformer cache.SharedIndexInformer
	fcInformer cache.SharedIndexInformer
	fsLister   listers.FederatedSecretLister
	fcLister   listers.FederatedClusterLister

	// queue holds FederatedSecret keys for the planner.
	queue workqueue.TypedRateLimitingInterface[string]
	// clusterQueue holds FederatedCluster names for the finalizer logic.
	clusterQueue workqueue.TypedRateLimitingInterface[string]
	// conflictBackoff spaces the retries of a key whose write met a
	// conflict (see processPlanner).
	conflictBackoff workqueue.TypedRateLimiter[string]

	// now is the clock, replaceable in tests.
	now func() time.Time

	mu sync.Mutex
	// runCtx is set by Run; member workers are started under it.
	runCtx context.Context
	// intents is what the planner last decided for each pair.
	intents map[pairKey]*intent
	// results is the outcome of the last attempt at each pair, with the
	// intent it carried out.
	results map[pairKey]outcome
	// workers runs one queue per member cluster.
	workers map[string]*memberWorker
	// pendingSince is when the planner first saw a generation not yet
	// propagated everywhere (for the duration metric).
	pendingSince map[string]generationSeen
	// recheckSince is when everything was last re-planned (enqueueAll):
	// a pair propagated by an attempt that started after it is not
	// checked again by the planner (see needsCheck).
	recheckSince time.Time
	workerWG     sync.WaitGroup
}

type generationSeen struct {
	generation int64
	at         time.Time
}

// New returns a controller; nothing runs until Run.
func New(cfg Config) *Controller {
	cfg.complete()
	registerMetrics()
	fsInf := cfg.Informers.Secretfed().V1alpha1().FederatedSecrets()
	fcInf := cfg.Informers.Secretfed().V1alpha1().FederatedClusters()
	limiter := func() workqueue.TypedRateLimiter[string] {
		return workqueue.NewTypedMaxOfRateLimiter(
			workqueue.NewTypedItemExponentialFailureRateLimiter[string](cfg.RetryBaseDelay, cfg.RetryMaxDelay),
			workqueue.DefaultTypedControllerRateLimiter[string](),
		)
	}
	return &Controller{
		cfg:             cfg,
		client:          cfg.Client,
		members:         cfg.Members,
		recorder:        cfg.Recorder,
		fsInformer:      fsInf.Informer(),
		fcInformer:      fcInf.Informer(),
		fsLister:        fsInf.Lister(),
		fcLister:        fcInf.Lister(),
		queue:           workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](), workqueue.TypedRateLimitingQueueConfig[string]{Name: "secretfed_propagation"}),
		clusterQueue:    workqueue.NewTypedRateLimitingQueueWithConfig(limiter(), workqueue.TypedRateLimitingQueueConfig[string]{Name: "secretfed_cluster_finalizer"}),
		conflictBackoff: workqueue.NewTypedItemExponentialFailureRateLimiter[string](20*time.Millisecond, 5*time.Second),
		now:             time.Now,
		intents:         map[pairKey]*intent{},
		results:         map[pairKey]outcome{},
		workers:         map[string]*memberWorker{},
		pendingSince:    map[string]generationSeen{},
	}
}

// Run starts the informers it needs, waits for their caches, and runs the
// planner, the member workers and the cluster finalizer logic until ctx is
// done. It returns after every worker has stopped.
func (c *Controller) Run(ctx context.Context) error {
	defer utilruntime.HandleCrash()
	logger := klog.FromContext(ctx)

	c.mu.Lock()
	c.runCtx = ctx
	c.mu.Unlock()

	fsReg, err := c.fsInformer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.onSecretAdd,
		UpdateFunc: c.onSecretUpdate,
		DeleteFunc: c.onSecretDelete,
	})
	if err != nil {
		return err
	}
	defer func() { _ = c.fsInformer.RemoveEventHandler(fsReg) }()
	fcReg, err := c.fcInformer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.onClusterAdd,
		UpdateFunc: c.onClusterUpdate,
		DeleteFunc: c.onClusterDelete,
	})
	if err != nil {
		return err
	}
	defer func() { _ = c.fcInformer.RemoveEventHandler(fcReg) }()
	c.members.AddEventHandler(c.onMemberSecret)

	c.cfg.Informers.StartWithContext(ctx)
	logger.Info("Waiting for FederatedSecret and FederatedCluster caches")
	if !cache.WaitForCacheSync(ctx.Done(), c.fsInformer.HasSynced, c.fcInformer.HasSynced, fsReg.HasSynced, fcReg.HasSynced) {
		c.shutdown()
		return fmt.Errorf("caches did not sync: %w", ctx.Err())
	}

	logger.Info("Starting propagation", "workers", c.cfg.Workers, "memberWorkers", c.cfg.MemberWorkers)
	var wg sync.WaitGroup
	for i := 0; i < c.cfg.Workers; i++ {
		wg.Go(func() { wait.UntilWithContext(ctx, c.runPlanner, time.Second) })
	}
	wg.Go(func() { wait.UntilWithContext(ctx, c.runClusterWorker, time.Second) })
	// Our own resync, independent of how the shared informers were built:
	// re-plan everything now and then to catch what no event reports.
	wg.Go(func() {
		wait.UntilWithContext(ctx, func(context.Context) { c.enqueueAll() }, c.cfg.ResyncPeriod)
	})
	<-ctx.Done()
	c.shutdown()
	wg.Wait()
	c.workerWG.Wait()
	logger.Info("Stopped propagation")
	return nil
}

func (c *Controller) shutdown() {
	c.queue.ShutDown()
	c.clusterQueue.ShutDown()
	c.mu.Lock()
	defer c.mu.Unlock()
	for name, w := range c.workers {
		w.queue.ShutDown()
		delete(c.workers, name)
	}
}

// Event handlers. They only enqueue.

func (c *Controller) onSecretAdd(obj any) {
	c.enqueue(obj)
	c.maybeCredentialsChanged(obj)
}

func (c *Controller) onSecretUpdate(oldObj, newObj any) {
	oldFS, ok1 := oldObj.(*v1alpha1.FederatedSecret)
	newFS, ok2 := newObj.(*v1alpha1.FederatedSecret)
	if ok1 && ok2 && (onlyStatusChanged(oldFS, newFS) || onlyOurFinalizerAdded(oldFS, newFS)) {
		// Our own status writes and finalizer, or an informer resync:
		// nothing to plan (the planner went on with the object its
		// finalizer update returned). The periodic re-plan covers
		// anything missed.
		return
	}
	c.enqueue(newObj)
	c.maybeCredentialsChanged(newObj)
}

func (c *Controller) onSecretDelete(obj any) {
	c.enqueue(obj)
	c.maybeCredentialsChanged(obj)
}

func onlyStatusChanged(a, b *v1alpha1.FederatedSecret) bool {
	return a.Generation == b.Generation &&
		equality.Semantic.DeepEqual(a.Annotations, b.Annotations) &&
		equality.Semantic.DeepEqual(a.Labels, b.Labels) &&
		equality.Semantic.DeepEqual(a.Finalizers, b.Finalizers) &&
		equality.Semantic.DeepEqual(a.DeletionTimestamp, b.DeletionTimestamp) &&
		equality.Semantic.DeepEqual(a.Spec, b.Spec)
}

// onlyOurFinalizerAdded reports whether b is a with nothing but the
// propagation finalizer added, as the planner's own update makes it.
func onlyOurFinalizerAdded(a, b *v1alpha1.FederatedSecret) bool {
	if hasFinalizer(a.Finalizers, v1alpha1.PropagationFinalizer) || !hasFinalizer(b.Finalizers, v1alpha1.PropagationFinalizer) {
		return false
	}
	a = a.DeepCopy()
	a.Finalizers = b.Finalizers
	return onlyStatusChanged(a, b)
}

// maybeCredentialsChanged re-plans everything when a credentials
// FederatedSecret changes: pairs that failed for lack of a working client
// may now succeed.
func (c *Controller) maybeCredentialsChanged(obj any) {
	fs, ok := obj.(*v1alpha1.FederatedSecret)
	if !ok {
		if t, isTomb := obj.(cache.DeletedFinalStateUnknown); isTomb {
			fs, ok = t.Obj.(*v1alpha1.FederatedSecret)
		}
	}
	if !ok || fs.Namespace != v1alpha1.SystemNamespace {
		return
	}
	clusters, err := c.fcLister.List(labels.Everything())
	if err != nil {
		return
	}
	for _, fc := range clusters {
		if fc.Spec.SecretRef.Name == fs.Name {
			c.enqueueAll()
			return
		}
	}
}

func (c *Controller) onClusterAdd(obj any) {
	if fc, ok := obj.(*v1alpha1.FederatedCluster); ok {
		c.clusterQueue.Add(fc.Name)
	}
	c.enqueueAll()
}

func (c *Controller) onClusterUpdate(oldObj, newObj any) {
	oldFC, ok1 := oldObj.(*v1alpha1.FederatedCluster)
	newFC, ok2 := newObj.(*v1alpha1.FederatedCluster)
	if !ok1 || !ok2 {
		return
	}
	c.clusterQueue.Add(newFC.Name)
	if clusterChangeMatters(oldFC, newFC) {
		c.enqueueAll()
	}
}

func (c *Controller) onClusterDelete(obj any) {
	fc, ok := obj.(*v1alpha1.FederatedCluster)
	if !ok {
		if t, isTomb := obj.(cache.DeletedFinalStateUnknown); isTomb {
			fc, ok = t.Obj.(*v1alpha1.FederatedCluster)
		}
	}
	if ok {
		c.clusterGone(fc.Name)
	}
	c.enqueueAll()
}

// clusterChangeMatters reports whether placement or reachability may differ.
func clusterChangeMatters(a, b *v1alpha1.FederatedCluster) bool {
	return !equality.Semantic.DeepEqual(a.Labels, b.Labels) ||
		!equality.Semantic.DeepEqual(a.Spec, b.Spec) ||
		!equality.Semantic.DeepEqual(a.DeletionTimestamp, b.DeletionTimestamp) ||
		isReady(a) != isReady(b)
}

// onMemberSecret is told about managed Secrets changing in a member: drift.
func (c *Controller) onMemberSecret(cluster, namespace, name string) {
	c.enqueuePair(cluster, namespace+"/"+name)
}

func (c *Controller) enqueue(obj any) {
	key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj)
	if err != nil {
		utilruntime.HandleError(err)
		return
	}
	c.queue.Add(key)
}

// enqueueAll re-plans every FederatedSecret and has every pair checked
// against its member again: on resync, and when a cluster or credentials
// change.
func (c *Controller) enqueueAll() {
	c.mu.Lock()
	c.recheckSince = c.now()
	c.mu.Unlock()
	all, err := c.fsLister.List(labels.Everything())
	if err != nil {
		utilruntime.HandleError(err)
		return
	}
	for _, fs := range all {
		c.queue.Add(fs.Namespace + "/" + fs.Name)
	}
}

// Planner worker.

func (c *Controller) runPlanner(ctx context.Context) {
	for c.processPlanner(ctx) {
	}
}

func (c *Controller) processPlanner(ctx context.Context) bool {
	key, quit := c.queue.Get()
	if quit {
		return false
	}
	defer c.queue.Done(key)
	err := c.plan(ctx, key)
	if apierrors.IsConflict(err) {
		// Our cache has not seen our own last write of this object yet:
		// plan again once it has, soon. Not through the queue's failure
		// rate limiter, whose overall bucket (10 a second) would line up
		// hundreds of these behind each other when many FederatedSecrets
		// are created at once (bench figure 3).
		klog.FromContext(ctx).V(4).Info("Conflict writing FederatedSecret, retrying", "key", key)
		c.queue.AddAfter(key, c.conflictBackoff.When(key))
		return true
	}
	c.conflictBackoff.Forget(key)
	if err != nil {
		utilruntime.HandleErrorWithContext(ctx, err, "Planning FederatedSecret failed", "key", key)
		c.queue.AddRateLimited(key)
		return true
	}
	c.queue.Forget(key)
	return true
}

// Helpers on FederatedClusters.

// isReady is false only when the Ready condition is False: a cluster whose
// health is not known yet is tried.
func isReady(fc *v1alpha1.FederatedCluster) bool {
	cond := meta.FindStatusCondition(fc.Status.Conditions, v1alpha1.ConditionReady)
	return cond == nil || cond.Status != "False"
}

func notReadyMessage(fc *v1alpha1.FederatedCluster) string {
	cond := meta.FindStatusCondition(fc.Status.Conditions, v1alpha1.ConditionReady)
	if cond == nil {
		return "cluster is not ready"
	}
	return fmt.Sprintf("cluster is not ready (%s)", cond.Reason)
}

func hasFinalizer(finalizers []string, f string) bool {
	for _, x := range finalizers {
		if x == f {
			return true
		}
	}
	return false
}

func withoutFinalizer(finalizers []string, f string) []string {
	out := make([]string, 0, len(finalizers))
	for _, x := range finalizers {
		if x != f {
			out = append(out, x)
		}
	}
	return out
}

func isManaged(s *corev1.Secret) bool {
	return s.Labels[v1alpha1.ManagedLabel] == "true"
}
