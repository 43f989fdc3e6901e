package propagation

import (
	"sync"

	"k8s.io/component-base/metrics"
	"k8s.io/component-base/metrics/legacyregistry"
)

// Metrics are registered with the legacy registry, which the generic API
// server exposes on /metrics. Workqueue depth and latency come from
// client-go's workqueue metrics under the queue names secretfed_propagation,
// secretfed_cluster_finalizer and secretfed_member_pairs.
var (
	propagationDuration = metrics.NewHistogram(&metrics.HistogramOpts{
		Name:           "secretfed_propagation_duration_seconds",
		Help:           "Time from the propagation loop first seeing a FederatedSecret generation to every placed cluster holding it.",
		Buckets:        metrics.ExponentialBuckets(0.05, 2, 14),
		StabilityLevel: metrics.ALPHA,
	})
	memberWrites = metrics.NewCounterVec(&metrics.CounterOpts{
		Name:           "secretfed_member_writes_total",
		Help:           "Writes sent to member clusters, by cluster and operation (create, update, delete, recreate, namespace_create).",
		StabilityLevel: metrics.ALPHA,
	}, []string{"cluster", "operation"})
	propagationErrors = metrics.NewCounterVec(&metrics.CounterOpts{
		Name:           "secretfed_propagation_errors_total",
		Help:           "Per-cluster propagation failures, by the status reported (CreationFailed, UpdateFailed, ...).",
		StabilityLevel: metrics.ALPHA,
	}, []string{"reason"})

	registerOnce sync.Once
)

func registerMetrics() {
	registerOnce.Do(func() {
		legacyregistry.MustRegister(propagationDuration, memberWrites, propagationErrors)
	})
}
