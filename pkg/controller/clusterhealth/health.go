// Package clusterhealth probes every member cluster's /readyz and /version
// and keeps FederatedCluster status (the Ready condition and
// kubernetesVersion) current. It writes status only when it changes.
package clusterhealth

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/klog/v2"

	"github.com/secretfed/secretfed/pkg/apis/secretfed/v1alpha1"
	"github.com/secretfed/secretfed/pkg/generated/clientset/versioned"
	listers "github.com/secretfed/secretfed/pkg/generated/listers/secretfed/v1alpha1"
	"github.com/secretfed/secretfed/pkg/member"
)

// Config is what the health controller needs.
type Config struct {
	Client  versioned.Interface
	Lister  listers.FederatedClusterLister
	Members *member.Cache
	// Period between probes (default 10s), Timeout of one probe (3s),
	// FailureThreshold consecutive failures before Ready=False (3).
	Period           time.Duration
	Timeout          time.Duration
	FailureThreshold int
}

// Controller probes member clusters.
type Controller struct {
	cfg Config
	mu  sync.Mutex
	// failures counts consecutive failed probes per cluster.
	failures map[string]int
}

// New returns a controller with defaults filled in.
func New(cfg Config) *Controller {
	if cfg.Period <= 0 {
		cfg.Period = 10 * time.Second
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 3 * time.Second
	}
	if cfg.FailureThreshold <= 0 {
		cfg.FailureThreshold = 3
	}
	return &Controller{cfg: cfg, failures: map[string]int{}}
}

// Run probes every cluster each period until ctx is done.
func (c *Controller) Run(ctx context.Context) {
	wait.UntilWithContext(ctx, c.probeAll, c.cfg.Period)
}

func (c *Controller) probeAll(ctx context.Context) {
	clusters, err := c.cfg.Lister.List(labels.Everything())
	if err != nil {
		klog.ErrorS(err, "Listing FederatedClusters")
		return
	}
	var wg sync.WaitGroup
	for _, fc := range clusters {
		if fc.DeletionTimestamp != nil {
			continue
		}
		wg.Go(func() { c.probeOne(ctx, fc) })
	}
	wg.Wait()
}

// Result is the outcome of one probe.
type Result struct {
	Healthy bool
	Reason  string
	Message string
	Version string
}

// Probe checks one member: /readyz, then /version.
func Probe(ctx context.Context, members *member.Cache, fc *v1alpha1.FederatedCluster, timeout time.Duration) Result {
	m, err := members.Get(fc)
	if err != nil {
		if member.IsConfigError(err) {
			return Result{Reason: v1alpha1.ReasonConfigMalformed, Message: err.Error()}
		}
		return Result{Reason: v1alpha1.ReasonClusterNotReachable, Message: err.Error()}
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	body, err := m.Client.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
	if err != nil {
		return classify(err, body)
	}
	v, err := m.Client.Discovery().ServerVersion()
	if err != nil {
		return classify(err, nil)
	}
	return Result{Healthy: true, Reason: v1alpha1.ReasonClusterReady, Message: "/readyz is ok", Version: v.GitVersion}
}

func classify(err error, body []byte) Result {
	switch {
	case apierrors.IsUnauthorized(err) || apierrors.IsForbidden(err):
		return Result{Reason: v1alpha1.ReasonUnauthorized, Message: "the member rejected secretfed's credentials: " + shortError(err)}
	case isNetworkError(err):
		return Result{Reason: v1alpha1.ReasonClusterNotReachable, Message: shortError(err)}
	default:
		return Result{Reason: v1alpha1.ReasonClusterNotReady, Message: "/readyz failed: " + shortError(err)}
	}
}

func isNetworkError(err error) bool {
	var ne net.Error
	var ue *url.Error
	return errors.As(err, &ne) || errors.As(err, &ue) || errors.Is(err, context.DeadlineExceeded) || apierrors.IsTimeout(err)
}

func shortError(err error) string {
	s := err.Error()
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}

func (c *Controller) probeOne(ctx context.Context, fc *v1alpha1.FederatedCluster) {
	r := Probe(ctx, c.cfg.Members, fc, c.cfg.Timeout)
	c.mu.Lock()
	if r.Healthy {
		c.failures[fc.Name] = 0
	} else {
		c.failures[fc.Name]++
	}
	failures := c.failures[fc.Name]
	c.mu.Unlock()

	status := fc.Status.DeepCopy()
	switch {
	case r.Healthy:
		meta.SetStatusCondition(&status.Conditions, metav1.Condition{
			Type: v1alpha1.ConditionReady, Status: metav1.ConditionTrue, Reason: r.Reason, Message: r.Message, ObservedGeneration: fc.Generation,
		})
		status.KubernetesVersion = r.Version
	case failures >= c.cfg.FailureThreshold || r.Reason == v1alpha1.ReasonConfigMalformed:
		meta.SetStatusCondition(&status.Conditions, metav1.Condition{
			Type: v1alpha1.ConditionReady, Status: metav1.ConditionFalse, Reason: r.Reason,
			Message: fmt.Sprintf("%d consecutive failed probes: %s", failures, r.Message), ObservedGeneration: fc.Generation,
		})
	default:
		// Below the threshold: keep the last verdict.
		return
	}
	if equalIgnoringMessageCount(fc.Status, *status) {
		return
	}
	updated := fc.DeepCopy()
	updated.Status = *status
	if _, err := c.cfg.Client.SecretfedV1alpha1().FederatedClusters().UpdateStatus(ctx, updated, metav1.UpdateOptions{}); err != nil {
		klog.ErrorS(err, "Updating FederatedCluster status", "cluster", fc.Name)
		return
	}
	klog.V(2).InfoS("FederatedCluster health changed", "cluster", fc.Name, "ready", r.Healthy, "reason", r.Reason)
}

// equalIgnoringMessageCount compares statuses but ignores the failure count
// in a False message, so repeated failures do not rewrite status each probe.
func equalIgnoringMessageCount(a, b v1alpha1.FederatedClusterStatus) bool {
	if a.KubernetesVersion != b.KubernetesVersion || len(a.Conditions) != len(b.Conditions) {
		return false
	}
	for i := range a.Conditions {
		x, y := a.Conditions[i], b.Conditions[i]
		if x.Type != y.Type || x.Status != y.Status || x.Reason != y.Reason || x.ObservedGeneration != y.ObservedGeneration {
			return false
		}
		if x.Status == metav1.ConditionTrue && !equality.Semantic.DeepEqual(x.Message, y.Message) {
			return false
		}
	}
	return true
}
