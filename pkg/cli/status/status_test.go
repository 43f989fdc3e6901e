package status

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/secretfed/secretfed/pkg/apis/secretfed/v1alpha1"
	"github.com/secretfed/secretfed/pkg/cli/internal/clitest"
)

var now = time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)

func cluster(name string, labels map[string]string, ready metav1.ConditionStatus, version string, age time.Duration) *v1alpha1.FederatedCluster {
	fc := &v1alpha1.FederatedCluster{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels, CreationTimestamp: metav1.NewTime(now.Add(-age))},
		Status:     v1alpha1.FederatedClusterStatus{KubernetesVersion: version},
	}
	if ready != "" {
		fc.Status.Conditions = []metav1.Condition{{Type: v1alpha1.ConditionReady, Status: ready, Reason: "r"}}
	}
	return fc
}

func secret(name string, placement v1alpha1.Placement, propagatedTo ...string) *v1alpha1.FederatedSecret {
	fs := &v1alpha1.FederatedSecret{
		ObjectMeta: metav1.ObjectMeta{Namespace: "payments", Name: name, Generation: 2},
		Spec:       v1alpha1.FederatedSecretSpec{Placement: placement},
		Status:     v1alpha1.FederatedSecretStatus{ObservedGeneration: 2},
	}
	for _, c := range propagatedTo {
		fs.Status.Clusters = append(fs.Status.Clusters, v1alpha1.ClusterPropagationStatus{Name: c, Status: v1alpha1.StatusPropagated})
	}
	return fs
}

func TestPlaces(t *testing.T) {
	prod := cluster("m1", map[string]string{"env": "prod"}, "", "", 0)
	cases := []struct {
		name      string
		placement v1alpha1.Placement
		want      bool
	}{
		{"neither clusters nor selector: nowhere", v1alpha1.Placement{}, false},
		{"listed", v1alpha1.Placement{Clusters: []v1alpha1.ClusterReference{{Name: "m1"}}}, true},
		{"not listed", v1alpha1.Placement{Clusters: []v1alpha1.ClusterReference{{Name: "m2"}}}, false},
		{"empty list wins over a matching selector", v1alpha1.Placement{Clusters: []v1alpha1.ClusterReference{}, ClusterSelector: &metav1.LabelSelector{}}, false},
		{"empty selector: everywhere", v1alpha1.Placement{ClusterSelector: &metav1.LabelSelector{}}, true},
		{"matching selector", v1alpha1.Placement{ClusterSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"env": "prod"}}}, true},
		{"other selector", v1alpha1.Placement{ClusterSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"env": "dev"}}}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := Places(secret("s", tc.placement), prod); got != tc.want {
				t.Errorf("Places = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestStatusTable(t *testing.T) {
	everywhere := v1alpha1.Placement{ClusterSelector: &metav1.LabelSelector{}}
	stale := secret("stale", everywhere, "m1", "m2")
	stale.Generation = 3 // the status describes generation 2
	host := clitest.NewHost(nil,
		cluster("m2", map[string]string{"env": "dev"}, metav1.ConditionFalse, "v1.36.0", 3*time.Hour),
		cluster("m1", map[string]string{"env": "prod"}, metav1.ConditionTrue, "v1.37.2", 2*24*time.Hour),
		cluster("m3", nil, "", "", 0),
		secret("a", everywhere, "m1", "m2"),
		secret("b", v1alpha1.Placement{ClusterSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"env": "prod"}}}, "m1"),
		secret("c", v1alpha1.Placement{Clusters: []v1alpha1.ClusterReference{{Name: "m2"}}}),
		stale,
		// credentials have no placement and never count
		&v1alpha1.FederatedSecret{ObjectMeta: metav1.ObjectMeta{Namespace: "secretfed-system", Name: "m1-credentials"}},
	)
	var out, errOut bytes.Buffer
	o := NewOptions(genericiooptions.IOStreams{Out: &out, ErrOut: &errOut})
	o.Host, o.Now = host.Clients(), func() time.Time { return now }
	if err := o.Run(context.Background()); err != nil {
		t.Fatalf("status: %v", err)
	}
	want := []string{
		"NAME READY VERSION SECRETS AGE",
		"m1 True v1.37.2 2/3 2d",
		"m2 False v1.36.0 1/3 3h",
		"m3 Unknown <unknown> 0/2 0s",
	}
	var got []string
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		got = append(got, strings.Join(strings.Fields(line), " "))
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("table (-want +got):\n%s", diff)
	}
}

func TestStatusEmptyAndNotInstalled(t *testing.T) {
	for _, tc := range []struct {
		name             string
		objs             []runtime.Object
		served           bool
		wantErr, wantOut string
	}{
		{name: "no clusters", served: true, wantOut: "No member clusters joined"},
		{name: "secretfed not installed", wantErr: "is secretfed installed?"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			host := clitest.NewHost(nil, tc.objs...)
			if !tc.served {
				host.Fed.Resources = nil
			}
			var out, errOut bytes.Buffer
			o := NewOptions(genericiooptions.IOStreams{Out: &out, ErrOut: &errOut})
			o.Host = host.Clients()
			err := o.Run(context.Background())
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(errOut.String(), tc.wantOut) {
				t.Errorf("stderr %q does not contain %q", errOut.String(), tc.wantOut)
			}
		})
	}
}
