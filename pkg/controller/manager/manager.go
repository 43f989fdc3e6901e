// Package manager runs secretfed's loops — propagation and cluster health —
// inside the apiserver process, under leader election so several replicas
// are safe. It owns their flags; it does not own what the loops do.
package manager

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/google/uuid"
	"github.com/spf13/pflag"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	"k8s.io/client-go/tools/record"
	"k8s.io/klog/v2"

	corev1 "k8s.io/api/core/v1"

	"github.com/secretfed/secretfed/pkg/apis/secretfed/v1alpha1"
	"github.com/secretfed/secretfed/pkg/controller/clusterhealth"
	"github.com/secretfed/secretfed/pkg/controller/propagation"
	"github.com/secretfed/secretfed/pkg/generated/clientset/versioned"
	sfscheme "github.com/secretfed/secretfed/pkg/generated/clientset/versioned/scheme"
	"github.com/secretfed/secretfed/pkg/generated/informers/externalversions"
	"github.com/secretfed/secretfed/pkg/member"
)

// Options are the loops' flags.
type Options struct {
	Enabled              bool
	LeaderElect          bool
	LeaseDuration        time.Duration
	RenewDeadline        time.Duration
	RetryPeriod          time.Duration
	Workers              int
	MemberQPS            float32
	MemberBurst          int
	MemberRequestTimeout time.Duration
	HealthPeriod         time.Duration
	HealthTimeout        time.Duration
	HealthFailures       int
}

// NewOptions returns the defaults.
func NewOptions() *Options {
	return &Options{
		Enabled:              true,
		LeaderElect:          true,
		LeaseDuration:        15 * time.Second,
		RenewDeadline:        10 * time.Second,
		RetryPeriod:          2 * time.Second,
		Workers:              8,
		MemberQPS:            50,
		MemberBurst:          100,
		MemberRequestTimeout: 10 * time.Second,
		HealthPeriod:         10 * time.Second,
		HealthTimeout:        3 * time.Second,
		HealthFailures:       3,
	}
}

// AddFlags registers the flags.
func (o *Options) AddFlags(fs *pflag.FlagSet) {
	fs.BoolVar(&o.Enabled, "controllers", o.Enabled, "Run the propagation and cluster-health loops (they need --kubeconfig to the host).")
	fs.BoolVar(&o.LeaderElect, "leader-elect", o.LeaderElect, "Run the loops only in the replica holding the Lease secretfed-system/secretfed-controller in the host.")
	fs.DurationVar(&o.LeaseDuration, "leader-elect-lease-duration", o.LeaseDuration, "How long a non-leader waits before taking over an unrenewed lease.")
	fs.DurationVar(&o.RenewDeadline, "leader-elect-renew-deadline", o.RenewDeadline, "How long the leader retries renewing before giving up leadership.")
	fs.DurationVar(&o.RetryPeriod, "leader-elect-retry-period", o.RetryPeriod, "How often candidates try to acquire or renew the lease.")
	fs.IntVar(&o.Workers, "propagation-workers", o.Workers, "FederatedSecrets planned in parallel.")
	fs.Float32Var(&o.MemberQPS, "member-qps", o.MemberQPS, "Requests per second to each member cluster.")
	fs.IntVar(&o.MemberBurst, "member-burst", o.MemberBurst, "Burst of requests to each member cluster.")
	fs.DurationVar(&o.MemberRequestTimeout, "member-request-timeout", o.MemberRequestTimeout, "Timeout of one request to a member cluster.")
	fs.DurationVar(&o.HealthPeriod, "cluster-health-period", o.HealthPeriod, "How often each member's /readyz is probed.")
	fs.DurationVar(&o.HealthTimeout, "cluster-health-timeout", o.HealthTimeout, "Timeout of one health probe.")
	fs.IntVar(&o.HealthFailures, "cluster-health-failure-threshold", o.HealthFailures, "Consecutive failed probes before a cluster turns Ready=False.")
}

// Validate reports invalid flag values.
func (o *Options) Validate() []error {
	var errs []error
	if o.Workers < 1 {
		errs = append(errs, errors.New("--propagation-workers must be at least 1"))
	}
	if o.MemberQPS <= 0 || o.MemberBurst < 1 {
		errs = append(errs, errors.New("--member-qps and --member-burst must be positive"))
	}
	if o.MemberRequestTimeout <= 0 || o.HealthPeriod <= 0 || o.HealthTimeout <= 0 {
		errs = append(errs, errors.New("--member-request-timeout, --cluster-health-period and --cluster-health-timeout must be positive"))
	}
	if o.HealthFailures < 1 {
		errs = append(errs, errors.New("--cluster-health-failure-threshold must be at least 1"))
	}
	if o.LeaderElect && o.RenewDeadline >= o.LeaseDuration {
		errs = append(errs, errors.New("--leader-elect-renew-deadline must be shorter than --leader-elect-lease-duration"))
	}
	return errs
}

// Clients are what the loops talk to.
type Clients struct {
	// Secretfed is the server's own API (loopback).
	Secretfed versioned.Interface
	// Host is the host cluster: events and the leader-election lease.
	Host kubernetes.Interface
}

// Run runs the loops until ctx is done, under leader election unless disabled.
func Run(ctx context.Context, o *Options, c Clients) error {
	if !o.LeaderElect {
		return runLoops(ctx, o, c)
	}
	host, _ := os.Hostname()
	id := fmt.Sprintf("%s_%s", host, uuid.NewString())
	lock := &resourcelock.LeaseLock{
		LeaseMeta:  metav1.ObjectMeta{Namespace: v1alpha1.SystemNamespace, Name: "secretfed-controller"},
		Client:     c.Host.CoordinationV1(),
		LockConfig: resourcelock.ResourceLockConfig{Identity: id},
	}
	le, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
		Lock:            lock,
		LeaseDuration:   o.LeaseDuration,
		RenewDeadline:   o.RenewDeadline,
		RetryPeriod:     o.RetryPeriod,
		ReleaseOnCancel: true,
		Name:            "secretfed-controller",
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: func(ctx context.Context) {
				klog.InfoS("Became leader; starting propagation", "identity", id)
				if err := runLoops(ctx, o, c); err != nil {
					klog.ErrorS(err, "Propagation loops stopped")
				}
			},
			OnStoppedLeading: func() { klog.InfoS("Stopped leading", "identity", id) },
			OnNewLeader: func(identity string) {
				if identity != id {
					klog.InfoS("Another replica leads", "leader", identity)
				}
			},
		},
	})
	if err != nil {
		return err
	}
	// A replica that loses the lease campaigns again until ctx is done.
	for ctx.Err() == nil {
		le.Run(ctx)
	}
	return nil
}

func runLoops(ctx context.Context, o *Options, c Clients) error {
	broadcaster := record.NewBroadcaster(record.WithContext(ctx))
	broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: c.Host.CoreV1().Events("")})
	defer broadcaster.Shutdown()
	recorder := broadcaster.NewRecorder(sfscheme.Scheme, corev1.EventSource{Component: "secretfed"})

	informers := externalversions.NewSharedInformerFactory(c.Secretfed, 0)
	credentials := informers.Secretfed().V1alpha1().FederatedSecrets()
	clusters := informers.Secretfed().V1alpha1().FederatedClusters()
	members := member.NewCache(ctx, credentials.Lister(), member.Options{
		QPS: o.MemberQPS, Burst: o.MemberBurst, RequestTimeout: o.MemberRequestTimeout, UserAgent: "secretfed",
	})
	defer members.Stop()

	prop := propagation.New(propagation.Config{
		Client:         c.Secretfed,
		Informers:      informers,
		Members:        members,
		Recorder:       recorder,
		Workers:        o.Workers,
		RequestTimeout: o.MemberRequestTimeout,
	})
	health := clusterhealth.New(clusterhealth.Config{
		Client:           c.Secretfed,
		Lister:           clusters.Lister(),
		Members:          members,
		Period:           o.HealthPeriod,
		Timeout:          o.HealthTimeout,
		FailureThreshold: o.HealthFailures,
	})
	_ = clusters.Informer() // registered before Start so the lister fills
	informers.Start(ctx.Done())
	go health.Run(ctx)
	return prop.Run(ctx)
}
