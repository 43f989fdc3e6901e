// Package clusterhealth keeps FederatedCluster status true to the member:
// it probes each member's /readyz and /version every period and sets the
// Ready condition and kubernetesVersion, and it renews members' bounded
// ServiceAccount tokens before they expire (token.go).
//
// Status is written only when it changes. Tokens are never logged and never
// put into events or status.
package clusterhealth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apimachinery/pkg/version"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/klog/v2"

	"github.com/secretfed/secretfed/pkg/apis/secretfed/v1alpha1"
	"github.com/secretfed/secretfed/pkg/generated/clientset/versioned"
	"github.com/secretfed/secretfed/pkg/generated/informers/externalversions"
	listers "github.com/secretfed/secretfed/pkg/generated/listers/secretfed/v1alpha1"
	"github.com/secretfed/secretfed/pkg/member"
)

// Config is what New needs.
type Config struct {
	// Client writes FederatedCluster status and credentials FederatedSecrets.
	Client versioned.Interface
	// Informers supplies FederatedClusters and FederatedSecrets.
	Informers externalversions.SharedInformerFactory
	// Members connects to member clusters.
	Members *member.Cache
	// Recorder records events on FederatedClusters.
	Recorder record.EventRecorder

	// Period between probes of a cluster. Default 10s.
	Period time.Duration
	// Timeout of each probe. Default 3s.
	Timeout time.Duration
	// FailureThreshold consecutive failed probes make a cluster not ready.
	// Default 3. One success makes it ready.
	FailureThreshold int
	// TokenRenewFraction of a token's lifetime after which it is renewed.
	// Default 0.8.
	TokenRenewFraction float64
}

func (c *Config) complete() {
	if c.Period <= 0 {
		c.Period = 10 * time.Second
	}
	if c.Timeout <= 0 {
		c.Timeout = 3 * time.Second
	}
	if c.FailureThreshold <= 0 {
		c.FailureThreshold = 3
	}
	if c.TokenRenewFraction <= 0 || c.TokenRenewFraction > 1 {
		c.TokenRenewFraction = 0.8
	}
}

// Controller probes member clusters and renews their tokens.
type Controller struct {
	cfg        Config
	fcInformer cache.SharedIndexInformer
	fsInformer cache.SharedIndexInformer
	fcLister   listers.FederatedClusterLister
	fsLister   listers.FederatedSecretLister
	now        func() time.Time

	mu       sync.Mutex
	failures map[string]int
}

// New returns a controller; nothing runs until Run.
func New(cfg Config) *Controller {
	cfg.complete()
	fc := cfg.Informers.Secretfed().V1alpha1().FederatedClusters()
	fs := cfg.Informers.Secretfed().V1alpha1().FederatedSecrets()
	return &Controller{
		cfg:        cfg,
		fcInformer: fc.Informer(),
		fsInformer: fs.Informer(),
		fcLister:   fc.Lister(),
		fsLister:   fs.Lister(),
		now:        time.Now,
		failures:   map[string]int{},
	}
}

// Run probes every cluster each period and renews tokens that are due,
// until ctx is done.
func (c *Controller) Run(ctx context.Context) error {
	defer utilruntime.HandleCrash()
	c.cfg.Informers.StartWithContext(ctx)
	if !cache.WaitForCacheSync(ctx.Done(), c.fcInformer.HasSynced, c.fsInformer.HasSynced) {
		return fmt.Errorf("caches did not sync: %w", ctx.Err())
	}
	klog.FromContext(ctx).Info("Starting cluster health checks", "period", c.cfg.Period, "timeout", c.cfg.Timeout,
		"failureThreshold", c.cfg.FailureThreshold, "tokenRenewFraction", c.cfg.TokenRenewFraction)
	wait.UntilWithContext(ctx, func(ctx context.Context) {
		c.probeAll(ctx)
		c.renewTokens(ctx)
	}, c.cfg.Period)
	return nil
}

// probeAll probes every cluster in parallel; each probe is bounded by the
// timeout, so one dead member delays the round by at most that much.
func (c *Controller) probeAll(ctx context.Context) {
	clusters, err := c.fcLister.List(labels.Everything())
	if err != nil {
		utilruntime.HandleError(err)
		return
	}
	seen := map[string]bool{}
	var wg sync.WaitGroup
	for _, fc := range clusters {
		seen[fc.Name] = true
		if fc.DeletionTimestamp != nil {
			continue
		}
		wg.Go(func() {
			if err := c.check(ctx, fc); err != nil && !apierrors.IsConflict(err) && !apierrors.IsNotFound(err) {
				utilruntime.HandleErrorWithContext(ctx, err, "Writing FederatedCluster status failed", "cluster", fc.Name)
			}
		})
	}
	wg.Wait()
	c.mu.Lock()
	for name := range c.failures {
		if !seen[name] {
			delete(c.failures, name)
		}
	}
	c.mu.Unlock()
}

// probeResult is the outcome of one probe.
type probeResult struct {
	ok      bool
	reason  string // for failures
	message string
	// immediate failures do not wait for the threshold: a malformed
	// configuration will not heal by retrying.
	immediate bool
	version   string
}

func (c *Controller) probe(ctx context.Context, fc *v1alpha1.FederatedCluster) probeResult {
	m, err := c.cfg.Members.Get(fc)
	if err != nil {
		if member.IsConfigError(err) {
			return probeResult{reason: v1alpha1.ReasonConfigMalformed, message: err.Error(), immediate: true}
		}
		return probeResult{reason: v1alpha1.ReasonClusterNotReachable, message: err.Error()}
	}
	rc := m.Client.Discovery().RESTClient()
	if rc == nil {
		return probeResult{reason: v1alpha1.ReasonConfigMalformed, message: "no REST client for the cluster", immediate: true}
	}

	pctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	var code int
	res := rc.Get().AbsPath("/readyz").Do(pctx).StatusCode(&code)
	if err := res.Error(); err != nil || code != http.StatusOK {
		switch {
		case code == http.StatusUnauthorized || code == http.StatusForbidden:
			return probeResult{reason: v1alpha1.ReasonUnauthorized, message: fmt.Sprintf("/readyz answered %d: the token is not accepted", code)}
		case code != 0:
			return probeResult{reason: v1alpha1.ReasonClusterNotReady, message: fmt.Sprintf("/readyz answered %d", code)}
		default:
			return probeResult{reason: v1alpha1.ReasonClusterNotReachable, message: reachError(err)}
		}
	}

	r := probeResult{ok: true}
	raw, err := rc.Get().AbsPath("/version").Do(pctx).Raw()
	if err == nil {
		var info version.Info
		if json.Unmarshal(raw, &info) == nil {
			r.version = info.GitVersion
		}
	}
	return r
}

func reachError(err error) string {
	if err == nil {
		return "no answer"
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "/readyz did not answer in time"
	}
	return err.Error()
}

// check probes one cluster and writes its status if it changed.
func (c *Controller) check(ctx context.Context, fc *v1alpha1.FederatedCluster) error {
	r := c.probe(ctx, fc)

	c.mu.Lock()
	if r.ok {
		c.failures[fc.Name] = 0
	} else {
		c.failures[fc.Name]++
	}
	failures := c.failures[fc.Name]
	c.mu.Unlock()

	status := *fc.Status.DeepCopy()
	old := meta.FindStatusCondition(fc.Status.Conditions, v1alpha1.ConditionReady)
	var cond *metav1.Condition
	switch {
	case r.ok:
		cond = &metav1.Condition{Status: metav1.ConditionTrue, Reason: v1alpha1.ReasonClusterReady, Message: "/readyz is ok"}
		if r.version != "" {
			status.KubernetesVersion = r.version
		}
	case r.immediate || failures >= c.cfg.FailureThreshold:
		cond = &metav1.Condition{Status: metav1.ConditionFalse, Reason: r.reason, Message: r.message}
		if old != nil && old.Status == cond.Status && old.Reason == cond.Reason {
			// Network errors name ephemeral ports and the like: keep the
			// first message of a failure so that status is written on
			// transitions only, not on every probe.
			cond.Message = old.Message
		}
	default:
		klog.FromContext(ctx).V(2).Info("Cluster probe failed", "cluster", fc.Name, "reason", r.reason, "failures", failures)
	}
	if cond == nil {
		return nil
	}
	cond.Type = v1alpha1.ConditionReady
	cond.ObservedGeneration = fc.Generation
	cond.LastTransitionTime = metav1.NewTime(c.now())
	meta.SetStatusCondition(&status.Conditions, *cond)
	if equality.Semantic.DeepEqual(fc.Status, status) {
		return nil
	}

	if old == nil || old.Status != cond.Status || old.Reason != cond.Reason {
		klog.FromContext(ctx).Info("Cluster readiness changed", "cluster", fc.Name, "ready", cond.Status, "reason", cond.Reason)
		eventType := corev1.EventTypeNormal
		if cond.Status != metav1.ConditionTrue {
			eventType = corev1.EventTypeWarning
		}
		c.cfg.Recorder.Event(fc, eventType, cond.Reason, cond.Message)
	}
	fc = fc.DeepCopy()
	fc.Status = status
	_, err := c.cfg.Client.SecretfedV1alpha1().FederatedClusters().UpdateStatus(ctx, fc, metav1.UpdateOptions{})
	return err
}
