package federatedcluster

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"

	"github.com/secretfed/secretfed/pkg/apis/secretfed"
	"github.com/secretfed/secretfed/pkg/apis/secretfed/install"
)

func testScheme() *runtime.Scheme {
	scheme := runtime.NewScheme()
	install.Install(scheme)
	return scheme
}

func clusterCtx() context.Context {
	return genericapirequest.WithNamespace(genericapirequest.NewContext(), metav1.NamespaceNone)
}

// validFederatedCluster is the API.md example, as stored. It has no CA
// bundle: validation accepts that, and the tests do not need one.
func validFederatedCluster() *secretfed.FederatedCluster {
	return &secretfed.FederatedCluster{
		ObjectMeta: metav1.ObjectMeta{
			Name:            "member1",
			ResourceVersion: "7",
			Generation:      2,
			Labels:          map[string]string{"env": "prod", "region": "eu"},
			Finalizers:      []string{"secretfed.io/cluster"},
		},
		Spec: secretfed.FederatedClusterSpec{
			APIEndpoint: "https://10.1.2.3:6443",
			SecretRef:   secretfed.LocalSecretReference{Name: "member1-credentials"},
		},
		Status: secretfed.FederatedClusterStatus{
			KubernetesVersion: "v1.37.2",
			Conditions: []metav1.Condition{{
				Type: "Ready", Status: metav1.ConditionTrue, Reason: "ClusterReady",
				LastTransitionTime: metav1.NewTime(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)),
			}},
		},
	}
}

func TestNamespaceScoped(t *testing.T) {
	s := NewStrategy(testScheme())
	if s.NamespaceScoped() {
		t.Error("FederatedCluster strategy is namespaced, want cluster-scoped")
	}
	if NewStatusStrategy(s).NamespaceScoped() {
		t.Error("FederatedCluster status strategy is namespaced, want cluster-scoped")
	}
}

func TestPrepareForCreate(t *testing.T) {
	fc := validFederatedCluster()
	fc.Generation = 7
	want := fc.DeepCopy()
	want.Generation = 1
	want.Status = secretfed.FederatedClusterStatus{}

	NewStrategy(testScheme()).PrepareForCreate(clusterCtx(), fc)
	if diff := cmp.Diff(want, fc); diff != "" {
		t.Errorf("PrepareForCreate (-want +got):\n%s", diff)
	}
}

func TestPrepareForUpdate(t *testing.T) {
	cases := []struct {
		name           string
		mutate         func(fc *secretfed.FederatedCluster)
		wantGeneration int64
	}{
		{name: "nothing changes", mutate: func(*secretfed.FederatedCluster) {}, wantGeneration: 2},
		// Labels are what clusterSelector matches; changing them moves
		// secrets, but they are metadata, not spec.
		{name: "labels change", mutate: func(fc *secretfed.FederatedCluster) { fc.Labels["env"] = "staging" }, wantGeneration: 2},
		{name: "annotations added", mutate: func(fc *secretfed.FederatedCluster) {
			fc.Annotations = map[string]string{"note": "x"}
		}, wantGeneration: 2},
		{name: "finalizer removed", mutate: func(fc *secretfed.FederatedCluster) { fc.Finalizers = nil }, wantGeneration: 2},
		{name: "empty CA bundle instead of none", mutate: func(fc *secretfed.FederatedCluster) { fc.Spec.CABundle = []byte{} }, wantGeneration: 2},
		{name: "endpoint changes", mutate: func(fc *secretfed.FederatedCluster) { fc.Spec.APIEndpoint = "https://10.9.9.9:6443" }, wantGeneration: 3},
		{name: "TLS verification turned off", mutate: func(fc *secretfed.FederatedCluster) { fc.Spec.InsecureSkipTLSVerify = true }, wantGeneration: 3},
		{name: "credentials change", mutate: func(fc *secretfed.FederatedCluster) { fc.Spec.SecretRef.Name = "member1-credentials-2" }, wantGeneration: 3},
		{name: "proxy set", mutate: func(fc *secretfed.FederatedCluster) { fc.Spec.ProxyURL = "socks5://127.0.0.1:1080" }, wantGeneration: 3},
	}
	// The generation a client sends is reset by rest.BeforeUpdate before the
	// strategy runs; the store test checks that end to end.
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			old := validFederatedCluster()
			fc := old.DeepCopy()
			tc.mutate(fc)
			// A client cannot write status through the main resource.
			fc.Status = secretfed.FederatedClusterStatus{KubernetesVersion: "v0.0.0-forged"}
			want := fc.DeepCopy()
			want.Status = old.Status
			want.Generation = tc.wantGeneration

			NewStrategy(testScheme()).PrepareForUpdate(clusterCtx(), fc, old)
			if diff := cmp.Diff(want, fc); diff != "" {
				t.Errorf("PrepareForUpdate (-want +got):\n%s", diff)
			}
		})
	}
}

func TestStatusPrepareForUpdate(t *testing.T) {
	old := validFederatedCluster()
	fc := old.DeepCopy()
	// What a status writer may change...
	fc.Status = secretfed.FederatedClusterStatus{
		KubernetesVersion: "v1.37.3",
		Conditions: []metav1.Condition{{
			Type: "Ready", Status: metav1.ConditionFalse, Reason: "ClusterNotReachable",
			LastTransitionTime: metav1.NewTime(time.Date(2026, 1, 3, 0, 0, 0, 0, time.UTC)),
		}},
	}
	wantStatus := fc.Status
	// ...and what it may not.
	fc.Spec.APIEndpoint = "https://evil.example"
	fc.Spec.InsecureSkipTLSVerify = true
	fc.Labels = map[string]string{"env": "staging"}
	fc.Annotations = map[string]string{"x": "y"}
	fc.Finalizers = nil
	fc.Generation = 10

	want := old.DeepCopy()
	want.Status = wantStatus
	NewStatusStrategy(NewStrategy(testScheme())).PrepareForUpdate(clusterCtx(), fc, old)
	if diff := cmp.Diff(want, fc); diff != "" {
		t.Errorf("status PrepareForUpdate (-want +got):\n%s", diff)
	}
}

func TestGetResetFields(t *testing.T) {
	s := NewStrategy(testScheme())
	cases := []struct {
		name     string
		strategy interface {
			GetResetFields() map[fieldpath.APIVersion]*fieldpath.Set
		}
		want *fieldpath.Set
	}{
		{name: "main resource", strategy: s, want: fieldpath.NewSet(fieldpath.MakePathOrDie("status"))},
		{name: "status", strategy: NewStatusStrategy(s), want: fieldpath.NewSet(
			fieldpath.MakePathOrDie("spec"),
			fieldpath.MakePathOrDie("metadata"),
		)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.strategy.GetResetFields()
			if len(got) != 1 {
				t.Fatalf("reset fields for %d versions, want only secretfed.io/v1alpha1: %v", len(got), got)
			}
			set, ok := got["secretfed.io/v1alpha1"]
			if !ok {
				t.Fatalf("no reset fields for secretfed.io/v1alpha1: %v", got)
			}
			if !set.Equals(tc.want) {
				t.Errorf("reset fields = %s, want %s", set, tc.want)
			}
		})
	}
}

// summarize reduces errors to "Type path" for readable diffs.
func summarize(errs field.ErrorList) []string {
	var out []string
	for _, e := range errs {
		out = append(out, string(e.Type)+" "+e.Field)
	}
	return out
}

func TestValidate(t *testing.T) {
	s := NewStrategy(testScheme())

	fc := validFederatedCluster()
	if errs := s.Validate(clusterCtx(), fc); len(errs) != 0 {
		t.Errorf("valid FederatedCluster rejected: %v", errs)
	}

	fc.Spec.APIEndpoint = "http://10.1.2.3:6443"
	want := []string{"FieldValueInvalid spec.apiEndpoint"}
	if diff := cmp.Diff(want, summarize(s.Validate(clusterCtx(), fc))); diff != "" {
		t.Errorf("Validate errors (-want +got):\n%s", diff)
	}
}

func TestValidateUpdate(t *testing.T) {
	s := NewStrategy(testScheme())
	old := validFederatedCluster()

	fc := old.DeepCopy()
	fc.Spec.APIEndpoint = "https://member1.example.com"
	if errs := s.ValidateUpdate(clusterCtx(), fc, old); len(errs) != 0 {
		t.Errorf("valid update rejected: %v", errs)
	}

	fc.Spec.SecretRef.Name = ""
	want := []string{"FieldValueRequired spec.secretRef.name"}
	if diff := cmp.Diff(want, summarize(s.ValidateUpdate(clusterCtx(), fc, old))); diff != "" {
		t.Errorf("ValidateUpdate errors (-want +got):\n%s", diff)
	}
}

func TestStatusValidateUpdate(t *testing.T) {
	s := NewStatusStrategy(NewStrategy(testScheme()))
	old := validFederatedCluster()

	fc := old.DeepCopy()
	fc.Status.Conditions[0].Status = metav1.ConditionFalse
	fc.Status.Conditions[0].Reason = "Unauthorized"
	if errs := s.ValidateUpdate(clusterCtx(), fc, old); len(errs) != 0 {
		t.Errorf("valid status update rejected: %v", errs)
	}

	fc.Status.Conditions[0].Status = "Maybe"
	want := []string{"FieldValueNotSupported status.conditions[0].status"}
	if diff := cmp.Diff(want, summarize(s.ValidateUpdate(clusterCtx(), fc, old))); diff != "" {
		t.Errorf("status ValidateUpdate errors (-want +got):\n%s", diff)
	}
}

func TestWarnings(t *testing.T) {
	s := NewStrategy(testScheme())
	insecure := []string{"spec.insecureSkipTLSVerify: TLS verification of the member's API server is disabled; anyone on the network path can impersonate it and read every Secret sent to it"}
	cases := []struct {
		name     string
		insecure bool
		want     []string
	}{
		{name: "TLS verified", insecure: false},
		{name: "insecureSkipTLSVerify", insecure: true, want: insecure},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fc := validFederatedCluster()
			fc.Spec.InsecureSkipTLSVerify = tc.insecure
			if diff := cmp.Diff(tc.want, s.WarningsOnCreate(clusterCtx(), fc)); diff != "" {
				t.Errorf("WarningsOnCreate (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.want, s.WarningsOnUpdate(clusterCtx(), fc, validFederatedCluster())); diff != "" {
				t.Errorf("WarningsOnUpdate (-want +got):\n%s", diff)
			}
			// Status writes cannot change the spec, so they are not warned about it.
			if w := NewStatusStrategy(s).WarningsOnUpdate(clusterCtx(), fc, validFederatedCluster()); len(w) != 0 {
				t.Errorf("status WarningsOnUpdate = %q, want none", w)
			}
		})
	}
}

func TestUpdatePolicy(t *testing.T) {
	s := NewStrategy(testScheme())
	if s.AllowCreateOnUpdate(clusterCtx()) {
		t.Error("AllowCreateOnUpdate = true, want false: PUT must not create a FederatedCluster")
	}
	if !s.AllowUnconditionalUpdate(clusterCtx()) {
		t.Error("AllowUnconditionalUpdate = false, want true")
	}
}

func TestGetAttrs(t *testing.T) {
	fc := validFederatedCluster()
	gotLabels, gotFields, err := GetAttrs(fc)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]string{"env": "prod", "region": "eu"}, map[string]string(gotLabels)); diff != "" {
		t.Errorf("labels (-want +got):\n%s", diff)
	}
	// Cluster-scoped: no metadata.namespace field to select on.
	if diff := cmp.Diff(map[string]string{"metadata.name": "member1"}, map[string]string(gotFields)); diff != "" {
		t.Errorf("fields (-want +got):\n%s", diff)
	}
	if _, _, err := GetAttrs(&secretfed.FederatedSecret{}); err == nil {
		t.Error("GetAttrs accepted a FederatedSecret")
	}
}
