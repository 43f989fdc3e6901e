// Package manager runs secretfed's loops — propagation, cluster health and
// member token renewal — inside the apiserver process, under leader election
// so that several replicas are safe. It owns their flags and wiring; it does
// not own what the loops do.
package manager

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/spf13/pflag"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	"k8s.io/client-go/tools/record"
	"k8s.io/klog/v2"

	// Named workqueues (secretfed_propagation, secretfed_member_pairs,
	// secretfed_cluster_finalizer) report depth and latency on /metrics.
	_ "k8s.io/component-base/metrics/prometheus/workqueue"

	"github.com/secretfed/secretfed/pkg/apis/secretfed/v1alpha1"
	"github.com/secretfed/secretfed/pkg/controller/clusterhealth"
	"github.com/secretfed/secretfed/pkg/controller/propagation"
	"github.com/secretfed/secretfed/pkg/generated/clientset/versioned"
	sfscheme "github.com/secretfed/secretfed/pkg/generated/clientset/versioned/scheme"
	"github.com/secretfed/secretfed/pkg/generated/informers/externalversions"
	"github.com/secretfed/secretfed/pkg/member"
)

// LeaseName is the Lease, in the host namespace secretfed-system, that the
// replica running the loops holds.
const LeaseName = "secretfed-controller"

// Options are the loops' flags.
type Options struct {
	// Enabled runs the loops at all (--controllers).
	Enabled bool

	// LeaderElect runs the loops only while holding the Lease.
	LeaderElect   bool
	LeaseDuration time.Duration
	RenewDeadline time.Duration
	RetryPeriod   time.Duration

	// PropagationWorkers plan FederatedSecrets in parallel.
	PropagationWorkers int
	// MemberWorkers write to each member in parallel.
	MemberWorkers int
	// PropagationResyncPeriod re-plans every FederatedSecret this often.
	PropagationResyncPeriod time.Duration

	// MemberQPS, MemberBurst and MemberRequestTimeout apply to each member.
	MemberQPS            float32
	MemberBurst          int
	MemberRequestTimeout time.Duration

	// Cluster health probes.
	ClusterHealthPeriod           time.Duration
	ClusterHealthTimeout          time.Duration
	ClusterHealthFailureThreshold int

	// TokenRenewFraction of a member token's lifetime after which it is
	// renewed.
	TokenRenewFraction float64
}

// NewOptions returns the defaults.
func NewOptions() *Options {
	return &Options{
		Enabled:                       true,
		LeaderElect:                   true,
		LeaseDuration:                 15 * time.Second,
		RenewDeadline:                 10 * time.Second,
		RetryPeriod:                   2 * time.Second,
		PropagationWorkers:            8,
		MemberWorkers:                 4,
		PropagationResyncPeriod:       5 * time.Minute,
		MemberQPS:                     50,
		MemberBurst:                   100,
		MemberRequestTimeout:          10 * time.Second,
		ClusterHealthPeriod:           10 * time.Second,
		ClusterHealthTimeout:          3 * time.Second,
		ClusterHealthFailureThreshold: 3,
		TokenRenewFraction:            0.8,
	}
}

// AddFlags registers the flags.
func (o *Options) AddFlags(fs *pflag.FlagSet) {
	fs.BoolVar(&o.Enabled, "controllers", o.Enabled, "Run the propagation, cluster-health and token-renewal loops (they need --kubeconfig to the host).")
	fs.BoolVar(&o.LeaderElect, "leader-elect", o.LeaderElect, "Run the loops only in the replica holding the Lease secretfed-system/"+LeaseName+" in the host.")
	fs.DurationVar(&o.LeaseDuration, "leader-elect-lease-duration", o.LeaseDuration, "How long a non-leader waits before taking over an unrenewed lease.")
	fs.DurationVar(&o.RenewDeadline, "leader-elect-renew-deadline", o.RenewDeadline, "How long the leader retries renewing before giving up leadership.")
	fs.DurationVar(&o.RetryPeriod, "leader-elect-retry-period", o.RetryPeriod, "How often candidates try to acquire or renew the lease.")
	fs.IntVar(&o.PropagationWorkers, "propagation-workers", o.PropagationWorkers, "FederatedSecrets planned in parallel.")
	fs.IntVar(&o.MemberWorkers, "member-workers", o.MemberWorkers, "Concurrent writes to each member cluster.")
	fs.DurationVar(&o.PropagationResyncPeriod, "propagation-resync-period", o.PropagationResyncPeriod, "How often every FederatedSecret is re-planned even without events (reads only when in sync).")
	fs.Float32Var(&o.MemberQPS, "member-qps", o.MemberQPS, "Requests per second to each member cluster.")
	fs.IntVar(&o.MemberBurst, "member-burst", o.MemberBurst, "Burst of requests to each member cluster.")
	fs.DurationVar(&o.MemberRequestTimeout, "member-request-timeout", o.MemberRequestTimeout, "Timeout of one request to a member cluster.")
	fs.DurationVar(&o.ClusterHealthPeriod, "cluster-health-period", o.ClusterHealthPeriod, "How often each member's /readyz is probed (and tokens checked for renewal).")
	fs.DurationVar(&o.ClusterHealthTimeout, "cluster-health-timeout", o.ClusterHealthTimeout, "Timeout of one health probe.")
	fs.IntVar(&o.ClusterHealthFailureThreshold, "cluster-health-failure-threshold", o.ClusterHealthFailureThreshold, "Consecutive failed probes before a cluster turns Ready=False (one success turns it True).")
	fs.Float64Var(&o.TokenRenewFraction, "token-renew-fraction", o.TokenRenewFraction, "Renew a member token once this fraction of its lifetime has passed, in (0, 1]. A small value such as 0.01 forces early renewal (for tests).")
}

// Validate reports invalid flag values.
func (o *Options) Validate() []error {
	var errs []error
	if o.PropagationWorkers < 1 {
		errs = append(errs, errors.New("--propagation-workers must be at least 1"))
	}
	if o.MemberWorkers < 1 {
		errs = append(errs, errors.New("--member-workers must be at least 1"))
	}
	if o.MemberQPS <= 0 || o.MemberBurst < 1 {
		errs = append(errs, errors.New("--member-qps and --member-burst must be positive"))
	}
	for _, d := range []struct {
		flag string
		v    time.Duration
	}{
		{"--member-request-timeout", o.MemberRequestTimeout},
		{"--cluster-health-period", o.ClusterHealthPeriod},
		{"--cluster-health-timeout", o.ClusterHealthTimeout},
		{"--propagation-resync-period", o.PropagationResyncPeriod},
	} {
		if d.v <= 0 {
			errs = append(errs, fmt.Errorf("%s must be positive", d.flag))
		}
	}
	if o.ClusterHealthFailureThreshold < 1 {
		errs = append(errs, errors.New("--cluster-health-failure-threshold must be at least 1"))
	}
	if o.TokenRenewFraction <= 0 || o.TokenRenewFraction > 1 {
		errs = append(errs, errors.New("--token-renew-fraction must be in (0, 1]"))
	}
	if o.LeaderElect {
		if o.LeaseDuration <= 0 || o.RenewDeadline <= 0 || o.RetryPeriod <= 0 {
			errs = append(errs, errors.New("--leader-elect-lease-duration, --leader-elect-renew-deadline and --leader-elect-retry-period must be positive"))
		} else if o.RenewDeadline >= o.LeaseDuration {
			errs = append(errs, errors.New("--leader-elect-renew-deadline must be shorter than --leader-elect-lease-duration"))
		}
	}
	return errs
}

// Clients are what the loops talk to.
type Clients struct {
	// Secretfed is the server's own API (loopback).
	Secretfed versioned.Interface
	// Host is the host cluster: events and the leader-election Lease.
	Host kubernetes.Interface
	// Informers over Secretfed. Optional: when nil, each leadership term
	// builds and stops its own.
	Informers externalversions.SharedInformerFactory
	// Identity of this replica in the Lease. Optional: hostname_uuid.
	Identity string
}

// Run runs the loops until ctx is done: directly without --leader-elect,
// otherwise only while this replica holds the Lease, campaigning again
// whenever it loses it. It blocks until ctx is done and every loop stopped.
func Run(ctx context.Context, o *Options, c Clients) error {
	if errs := o.Validate(); len(errs) > 0 {
		return errors.Join(errs...)
	}
	if c.Secretfed == nil || c.Host == nil {
		return errors.New("manager.Run needs the Secretfed and Host clients")
	}
	if !o.LeaderElect {
		return runLoops(ctx, o, c)
	}

	id := c.Identity
	if id == "" {
		host, _ := os.Hostname()
		id = fmt.Sprintf("%s_%s", host, uuid.NewString())
	}
	logger := klog.FromContext(ctx).WithValues("identity", id)
	for ctx.Err() == nil {
		started, done := make(chan struct{}), make(chan struct{})
		le, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
			Lock: &resourcelock.LeaseLock{
				LeaseMeta:  metav1.ObjectMeta{Namespace: v1alpha1.SystemNamespace, Name: LeaseName},
				Client:     c.Host.CoordinationV1(),
				LockConfig: resourcelock.ResourceLockConfig{Identity: id},
			},
			LeaseDuration:   o.LeaseDuration,
			RenewDeadline:   o.RenewDeadline,
			RetryPeriod:     o.RetryPeriod,
			ReleaseOnCancel: true,
			Name:            LeaseName,
			Callbacks: leaderelection.LeaderCallbacks{
				OnStartedLeading: func(lctx context.Context) {
					close(started)
					defer close(done)
					logger.Info("Became leader; starting the loops")
					if err := runLoops(lctx, o, c); err != nil {
						logger.Error(err, "Loops stopped")
					}
				},
				OnStoppedLeading: func() { logger.Info("Not leading") },
				OnNewLeader: func(leader string) {
					if leader != id {
						logger.Info("Another replica leads", "leader", leader)
					}
				},
			},
		})
		if err != nil {
			return err
		}
		le.Run(ctx)
		// The loops of a lost term must be gone before another term starts.
		select {
		case <-started:
			<-done
		default:
		}
	}
	return nil
}

// runLoops runs propagation, health and token renewal until ctx is done.
func runLoops(ctx context.Context, o *Options, c Clients) error {
	broadcaster := record.NewBroadcaster(record.WithContext(ctx))
	broadcaster.StartRecordingToSink(eventSink{ctx: ctx, events: c.Host.CoreV1().Events("")})
	defer broadcaster.Shutdown()
	recorder := broadcaster.NewRecorder(sfscheme.Scheme, corev1.EventSource{Component: "secretfed-controller"})

	informers := c.Informers
	if informers == nil {
		// Every FederatedSecret is cached; its managedFields are not read.
		informers = externalversions.NewSharedInformerFactoryWithOptions(c.Secretfed, 0, externalversions.WithTransform(member.StripManagedFields))
		defer informers.Shutdown()
	}
	members := member.NewCache(ctx, informers.Secretfed().V1alpha1().FederatedSecrets().Lister(), member.Options{
		QPS:            o.MemberQPS,
		Burst:          o.MemberBurst,
		RequestTimeout: o.MemberRequestTimeout,
		UserAgent:      "secretfed-controller",
	})
	defer members.Stop()

	prop := propagation.New(propagation.Config{
		Client:         c.Secretfed,
		Informers:      informers,
		Members:        members,
		Recorder:       recorder,
		Workers:        o.PropagationWorkers,
		MemberWorkers:  o.MemberWorkers,
		RequestTimeout: o.MemberRequestTimeout,
		ResyncPeriod:   o.PropagationResyncPeriod,
	})
	health := clusterhealth.New(clusterhealth.Config{
		Client:             c.Secretfed,
		Informers:          informers,
		Members:            members,
		Recorder:           recorder,
		Period:             o.ClusterHealthPeriod,
		Timeout:            o.ClusterHealthTimeout,
		FailureThreshold:   o.ClusterHealthFailureThreshold,
		TokenRenewFraction: o.TokenRenewFraction,
	})

	var wg sync.WaitGroup
	errs := make([]error, 2)
	wg.Go(func() { errs[0] = prop.Run(ctx) })
	wg.Go(func() { errs[1] = health.Run(ctx) })
	wg.Wait()
	if ctx.Err() != nil {
		return nil
	}
	return errors.Join(errs...)
}

// eventSink writes events with ctx (typedcorev1.EventSinkImpl uses
// context.TODO), so that their requests carry ctx's logger, which keeps
// request bodies out of the log at -v=8 and above (pkg/loghygiene).
type eventSink struct {
	ctx    context.Context
	events typedcorev1.EventInterface
}

func (s eventSink) Create(e *corev1.Event) (*corev1.Event, error) {
	return s.events.CreateWithEventNamespaceWithContext(s.ctx, e)
}

func (s eventSink) Update(e *corev1.Event) (*corev1.Event, error) {
	return s.events.UpdateWithEventNamespaceWithContext(s.ctx, e)
}

func (s eventSink) Patch(e *corev1.Event, data []byte) (*corev1.Event, error) {
	return s.events.PatchWithEventNamespaceWithContext(s.ctx, e, data)
}
