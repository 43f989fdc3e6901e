package manager

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/spf13/pflag"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	kubefake "k8s.io/client-go/kubernetes/fake"

	"github.com/secretfed/secretfed/pkg/apis/secretfed/v1alpha1"
	sffake "github.com/secretfed/secretfed/pkg/generated/clientset/versioned/fake"
)

func TestFlagsAndDefaults(t *testing.T) {
	o := NewOptions()
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	o.AddFlags(fs)
	defaults := map[string]string{
		"controllers":                      "true",
		"leader-elect":                     "true",
		"leader-elect-lease-duration":      "15s",
		"leader-elect-renew-deadline":      "10s",
		"leader-elect-retry-period":        "2s",
		"propagation-workers":              "8",
		"member-workers":                   "4",
		"propagation-resync-period":        "5m0s",
		"member-qps":                       "50",
		"member-burst":                     "100",
		"member-request-timeout":           "10s",
		"cluster-health-period":            "10s",
		"cluster-health-timeout":           "3s",
		"cluster-health-failure-threshold": "3",
		"token-renew-fraction":             "0.8",
	}
	got := map[string]string{}
	fs.VisitAll(func(f *pflag.Flag) { got[f.Name] = f.DefValue })
	if diff := cmp.Diff(defaults, got); diff != "" {
		t.Errorf("flags and defaults (-want +got):\n%s", diff)
	}
	if errs := o.Validate(); len(errs) != 0 {
		t.Errorf("defaults do not validate: %v", errs)
	}

	if err := fs.Parse([]string{"--leader-elect=false", "--member-qps=5", "--token-renew-fraction=0.01", "--cluster-health-period=1s"}); err != nil {
		t.Fatal(err)
	}
	if o.LeaderElect || o.MemberQPS != 5 || o.TokenRenewFraction != 0.01 || o.ClusterHealthPeriod != time.Second {
		t.Errorf("flags not bound: %+v", o)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(o *Options)
		want   string
	}{
		{name: "workers", mutate: func(o *Options) { o.PropagationWorkers = 0 }, want: "--propagation-workers"},
		{name: "member workers", mutate: func(o *Options) { o.MemberWorkers = 0 }, want: "--member-workers"},
		{name: "qps", mutate: func(o *Options) { o.MemberQPS = 0 }, want: "--member-qps"},
		{name: "timeout", mutate: func(o *Options) { o.MemberRequestTimeout = 0 }, want: "--member-request-timeout"},
		{name: "threshold", mutate: func(o *Options) { o.ClusterHealthFailureThreshold = 0 }, want: "--cluster-health-failure-threshold"},
		{name: "fraction zero", mutate: func(o *Options) { o.TokenRenewFraction = 0 }, want: "--token-renew-fraction"},
		{name: "fraction above one", mutate: func(o *Options) { o.TokenRenewFraction = 1.5 }, want: "--token-renew-fraction"},
		{name: "renew deadline", mutate: func(o *Options) { o.RenewDeadline = o.LeaseDuration }, want: "--leader-elect-renew-deadline"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := NewOptions()
			tc.mutate(o)
			errs := o.Validate()
			if len(errs) != 1 || !strings.Contains(errs[0].Error(), tc.want) {
				t.Errorf("Validate() = %v, want one error about %s", errs, tc.want)
			}
		})
	}
	o := NewOptions()
	o.LeaderElect = false
	o.RenewDeadline = o.LeaseDuration
	if errs := o.Validate(); len(errs) != 0 {
		t.Errorf("lease flags checked without --leader-elect: %v", errs)
	}
}

func unplaced() *v1alpha1.FederatedSecret {
	return &v1alpha1.FederatedSecret{
		ObjectMeta: metav1.ObjectMeta{Namespace: "payments", Name: "db-creds", Generation: 1},
		Spec:       v1alpha1.FederatedSecretSpec{Template: v1alpha1.SecretTemplate{Type: "Opaque"}},
	}
}

// runUntilFinalizer runs the manager until the loops have visibly acted on a
// FederatedSecret, then stops it and checks that Run returns.
func runUntilFinalizer(t *testing.T, o *Options, host *kubefake.Clientset) {
	t.Helper()
	sf := sffake.NewSimpleClientset(unplaced())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- Run(ctx, o, Clients{Secretfed: sf, Host: host, Identity: "replica-1"}) }()

	err := wait.PollUntilContextTimeout(ctx, 20*time.Millisecond, 20*time.Second, true, func(ctx context.Context) (bool, error) {
		fs, err := sf.SecretfedV1alpha1().FederatedSecrets("payments").Get(ctx, "db-creds", metav1.GetOptions{})
		return err == nil && slices.Contains(fs.Finalizers, v1alpha1.PropagationFinalizer), nil
	})
	if err != nil {
		t.Fatalf("the loops never added the finalizer")
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run() = %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("Run did not return after cancel")
	}
}

func TestRunWithoutLeaderElection(t *testing.T) {
	o := NewOptions()
	o.LeaderElect = false
	host := kubefake.NewClientset()
	runUntilFinalizer(t, o, host)
	for _, a := range host.Actions() {
		if a.GetResource().Resource == "leases" {
			t.Errorf("lease touched without --leader-elect: %v", a)
		}
	}
}

func TestRunWithLeaderElection(t *testing.T) {
	o := NewOptions()
	o.LeaseDuration, o.RenewDeadline, o.RetryPeriod = 2*time.Second, time.Second, 100*time.Millisecond
	host := kubefake.NewClientset()
	runUntilFinalizer(t, o, host)
	sawLease := false
	for _, a := range host.Actions() {
		if a.GetResource().Resource == "leases" && a.GetNamespace() == v1alpha1.SystemNamespace && a.GetVerb() == "create" {
			sawLease = true
		}
	}
	if !sawLease {
		t.Errorf("no Lease created in %s", v1alpha1.SystemNamespace)
	}
}

func TestRunRejectsInvalidOptions(t *testing.T) {
	o := NewOptions()
	o.PropagationWorkers = 0
	if err := Run(context.Background(), o, Clients{Secretfed: sffake.NewSimpleClientset(), Host: kubefake.NewClientset()}); err == nil {
		t.Errorf("Run() accepted invalid options")
	}
}
