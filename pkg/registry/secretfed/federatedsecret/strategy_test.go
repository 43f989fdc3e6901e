package federatedsecret

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

func ctxInNamespace(ns string) context.Context {
	return genericapirequest.WithNamespace(genericapirequest.NewContext(), ns)
}

// validFederatedSecret is the API.md example, as stored.
func validFederatedSecret() *secretfed.FederatedSecret {
	return &secretfed.FederatedSecret{
		ObjectMeta: metav1.ObjectMeta{
			Name:            "db-creds",
			Namespace:       "payments",
			ResourceVersion: "7",
			Generation:      3,
			Labels:          map[string]string{"team": "core"},
			Annotations:     map[string]string{"secretfed.io/orphan": "true"},
			Finalizers:      []string{"secretfed.io/propagation"},
		},
		Spec: secretfed.FederatedSecretSpec{
			Template: secretfed.SecretTemplate{
				Metadata: secretfed.TemplateMetadata{Labels: map[string]string{"app": "payments"}},
				Type:     "Opaque",
				Data:     map[string][]byte{"password": []byte("s3cr3t"), "user": []byte("admin")},
			},
			Placement: secretfed.Placement{Clusters: []secretfed.ClusterReference{{Name: "member1"}}},
			Overrides: []secretfed.ClusterOverride{{ClusterName: "member1", ClusterOverrides: []secretfed.OverridePatch{
				{Op: secretfed.OverrideOpReplace, Path: "/data/password", Value: &secretfed.OverrideValue{Raw: []byte(`"bmV3cGFzcw=="`)}},
			}}},
		},
		Status: secretfed.FederatedSecretStatus{
			ObservedGeneration: 3,
			Conditions: []metav1.Condition{{
				Type: "Propagated", Status: metav1.ConditionTrue, Reason: "AllClustersPropagated",
				LastTransitionTime: metav1.NewTime(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)),
			}},
			Clusters: []secretfed.ClusterPropagationStatus{{Name: "member1", Status: "Propagated"}},
		},
	}
}

func TestNamespaceScoped(t *testing.T) {
	s := NewStrategy(testScheme())
	if !s.NamespaceScoped() {
		t.Error("FederatedSecret strategy is cluster-scoped, want namespaced")
	}
	if !NewStatusStrategy(s).NamespaceScoped() {
		t.Error("FederatedSecret status strategy is cluster-scoped, want namespaced")
	}
}

func TestPrepareForCreate(t *testing.T) {
	fs := validFederatedSecret()
	fs.Generation = 7
	want := fs.DeepCopy()
	want.Generation = 1
	want.Status = secretfed.FederatedSecretStatus{}

	NewStrategy(testScheme()).PrepareForCreate(ctxInNamespace("payments"), fs)
	if diff := cmp.Diff(want, fs); diff != "" {
		t.Errorf("PrepareForCreate (-want +got):\n%s", diff)
	}
}

func TestPrepareForUpdate(t *testing.T) {
	cases := []struct {
		name           string
		mutate         func(fs *secretfed.FederatedSecret)
		wantGeneration int64
	}{
		{name: "nothing changes", mutate: func(*secretfed.FederatedSecret) {}, wantGeneration: 3},
		{name: "labels change", mutate: func(fs *secretfed.FederatedSecret) { fs.Labels["env"] = "prod" }, wantGeneration: 3},
		{name: "annotations change", mutate: func(fs *secretfed.FederatedSecret) { fs.Annotations = nil }, wantGeneration: 3},
		{name: "finalizer removed", mutate: func(fs *secretfed.FederatedSecret) { fs.Finalizers = nil }, wantGeneration: 3},
		{name: "empty maps instead of absent ones", mutate: func(fs *secretfed.FederatedSecret) {
			fs.Spec.Template.Metadata.Annotations = map[string]string{}
		}, wantGeneration: 3},
		{name: "template data changes", mutate: func(fs *secretfed.FederatedSecret) {
			fs.Spec.Template.Data["password"] = []byte("n3w")
		}, wantGeneration: 4},
		{name: "template becomes immutable", mutate: func(fs *secretfed.FederatedSecret) {
			immutable := true
			fs.Spec.Template.Immutable = &immutable
		}, wantGeneration: 4},
		{name: "placement changes", mutate: func(fs *secretfed.FederatedSecret) {
			fs.Spec.Placement.Clusters = append(fs.Spec.Placement.Clusters, secretfed.ClusterReference{Name: "member2"})
		}, wantGeneration: 4},
		{name: "overrides removed", mutate: func(fs *secretfed.FederatedSecret) { fs.Spec.Overrides = nil }, wantGeneration: 4},
	}
	// The generation a client sends is reset by rest.BeforeUpdate before the
	// strategy runs; the store test checks that end to end.
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			old := validFederatedSecret()
			fs := old.DeepCopy()
			tc.mutate(fs)
			// A client cannot write status through the main resource.
			fs.Status = secretfed.FederatedSecretStatus{ObservedGeneration: 99}
			want := fs.DeepCopy()
			want.Status = old.Status
			want.Generation = tc.wantGeneration

			NewStrategy(testScheme()).PrepareForUpdate(ctxInNamespace("payments"), fs, old)
			if diff := cmp.Diff(want, fs); diff != "" {
				t.Errorf("PrepareForUpdate (-want +got):\n%s", diff)
			}
		})
	}
}

// Placement without clusters defers to clusterSelector; placement with an
// empty clusters list places the secret nowhere. Going from one to the other
// changes what the secret is propagated to, so the status of the old spec no
// longer describes it: the generation must move.
func TestPrepareForUpdateBumpsGenerationWhenClustersPresenceChanges(t *testing.T) {
	everywhere := secretfed.Placement{ClusterSelector: &metav1.LabelSelector{}}
	nowhere := secretfed.Placement{Clusters: []secretfed.ClusterReference{}, ClusterSelector: &metav1.LabelSelector{}}
	cases := []struct {
		name     string
		old, new secretfed.Placement
	}{
		{name: "absent to empty", old: everywhere, new: nowhere},
		{name: "empty to absent", old: nowhere, new: everywhere},
		{name: "no selector to empty selector", old: secretfed.Placement{}, new: everywhere},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			old := validFederatedSecret()
			old.Spec.Placement = tc.old
			fs := old.DeepCopy()
			fs.Spec.Placement = tc.new

			NewStrategy(testScheme()).PrepareForUpdate(ctxInNamespace("payments"), fs, old)
			if fs.Generation != old.Generation+1 {
				t.Errorf("generation = %d, want %d", fs.Generation, old.Generation+1)
			}
		})
	}
}

func TestStatusPrepareForUpdate(t *testing.T) {
	old := validFederatedSecret()
	fs := old.DeepCopy()
	// What a status writer may change...
	fs.Status = secretfed.FederatedSecretStatus{
		ObservedGeneration: 3,
		Clusters: []secretfed.ClusterPropagationStatus{
			{Name: "member1", Status: "UpdateFailed", Message: "the member refused the update"},
		},
	}
	wantStatus := fs.Status
	// ...and what it may not.
	fs.Spec.Template.Data = map[string][]byte{"password": []byte("n3w")}
	fs.Spec.Placement.Clusters = nil
	fs.Labels = map[string]string{"hijacked": "true"}
	fs.Annotations = nil
	fs.Finalizers = nil
	fs.Generation = 10

	want := old.DeepCopy()
	want.Status = wantStatus
	NewStatusStrategy(NewStrategy(testScheme())).PrepareForUpdate(ctxInNamespace("payments"), fs, old)
	if diff := cmp.Diff(want, fs); diff != "" {
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
	ctx := ctxInNamespace("payments")

	fs := validFederatedSecret()
	if errs := s.Validate(ctx, fs); len(errs) != 0 {
		t.Errorf("valid FederatedSecret rejected: %v", errs)
	}

	fs.Spec.Overrides[0].ClusterOverrides[0].Path = "/metadata/name"
	want := []string{"FieldValueForbidden spec.overrides[0].clusterOverrides[0].path"}
	if diff := cmp.Diff(want, summarize(s.Validate(ctx, fs))); diff != "" {
		t.Errorf("Validate errors (-want +got):\n%s", diff)
	}
}

func TestValidateUpdate(t *testing.T) {
	s := NewStrategy(testScheme())
	ctx := ctxInNamespace("payments")
	old := validFederatedSecret()

	fs := old.DeepCopy()
	fs.Spec.Template.Data["password"] = []byte("n3w")
	if errs := s.ValidateUpdate(ctx, fs, old); len(errs) != 0 {
		t.Errorf("valid update rejected: %v", errs)
	}

	fs.Spec.Placement.Clusters = append(fs.Spec.Placement.Clusters, secretfed.ClusterReference{Name: "member1"})
	want := []string{"FieldValueDuplicate spec.placement.clusters[1].name"}
	if diff := cmp.Diff(want, summarize(s.ValidateUpdate(ctx, fs, old))); diff != "" {
		t.Errorf("ValidateUpdate errors (-want +got):\n%s", diff)
	}
}

func TestStatusValidateUpdate(t *testing.T) {
	s := NewStatusStrategy(NewStrategy(testScheme()))
	ctx := ctxInNamespace("payments")
	old := validFederatedSecret()

	fs := old.DeepCopy()
	fs.Status.Clusters = append(fs.Status.Clusters, secretfed.ClusterPropagationStatus{Name: "member2", Status: "WaitingForRemoval"})
	if errs := s.ValidateUpdate(ctx, fs, old); len(errs) != 0 {
		t.Errorf("valid status update rejected: %v", errs)
	}

	fs.Status.Clusters[1].Status = "Lost"
	want := []string{"FieldValueNotSupported status.clusters[1].status"}
	if diff := cmp.Diff(want, summarize(s.ValidateUpdate(ctx, fs, old))); diff != "" {
		t.Errorf("status ValidateUpdate errors (-want +got):\n%s", diff)
	}
}

func TestWarnings(t *testing.T) {
	s := NewStrategy(testScheme())
	ctx := ctxInNamespace("payments")

	fs := validFederatedSecret()
	if w := s.WarningsOnCreate(ctx, fs); len(w) != 0 {
		t.Errorf("WarningsOnCreate for a plain FederatedSecret = %q, want none", w)
	}
	if w := s.WarningsOnUpdate(ctx, fs, validFederatedSecret()); len(w) != 0 {
		t.Errorf("WarningsOnUpdate for a plain FederatedSecret = %q, want none", w)
	}

	fs.Spec.Template.Data = nil
	want := []string{"spec.template.data is empty: member clusters receive a Secret without data"}
	if diff := cmp.Diff(want, s.WarningsOnCreate(ctx, fs)); diff != "" {
		t.Errorf("WarningsOnCreate (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(want, s.WarningsOnUpdate(ctx, fs, validFederatedSecret())); diff != "" {
		t.Errorf("WarningsOnUpdate (-want +got):\n%s", diff)
	}
	// Status writes are the controller's; it is not warned about the spec.
	if w := NewStatusStrategy(s).WarningsOnUpdate(ctx, fs, validFederatedSecret()); len(w) != 0 {
		t.Errorf("status WarningsOnUpdate = %q, want none", w)
	}
}

func TestUpdatePolicy(t *testing.T) {
	s := NewStrategy(testScheme())
	ctx := ctxInNamespace("payments")
	if s.AllowCreateOnUpdate(ctx) {
		t.Error("AllowCreateOnUpdate = true, want false: PUT must not create a FederatedSecret")
	}
	if !s.AllowUnconditionalUpdate(ctx) {
		t.Error("AllowUnconditionalUpdate = false, want true")
	}
}

func TestGetAttrs(t *testing.T) {
	fs := validFederatedSecret()
	gotLabels, gotFields, err := GetAttrs(fs)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]string{"team": "core"}, map[string]string(gotLabels)); diff != "" {
		t.Errorf("labels (-want +got):\n%s", diff)
	}
	wantFields := map[string]string{"metadata.name": "db-creds", "metadata.namespace": "payments"}
	if diff := cmp.Diff(wantFields, map[string]string(gotFields)); diff != "" {
		t.Errorf("fields (-want +got):\n%s", diff)
	}
	if _, _, err := GetAttrs(&secretfed.FederatedCluster{}); err == nil {
		t.Error("GetAttrs accepted a FederatedCluster")
	}
}
