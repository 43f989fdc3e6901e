package federatedsecret

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apiserver/pkg/registry/generic"
	genericregistrytest "k8s.io/apiserver/pkg/registry/generic/testing"
	"k8s.io/apiserver/pkg/registry/rest"
	etcd3testing "k8s.io/apiserver/pkg/storage/etcd3/testing"

	"github.com/secretfed/secretfed/pkg/apis/secretfed"
	"github.com/secretfed/secretfed/pkg/apis/secretfed/v1alpha1"
)

// newStorage returns the REST storage on a fresh embedded etcd, encoding
// v1alpha1 JSON as the server does. The scheme is built here with
// install.Install: pkg/apiserver imports this package.
func newStorage(t *testing.T) (*REST, *StatusREST) {
	t.Helper()
	_, config := etcd3testing.NewUnsecuredEtcd3TestClientServer(t) // stopped by t.Cleanup
	scheme := testScheme()
	config.Codec = serializer.NewCodecFactory(scheme).LegacyCodec(v1alpha1.SchemeGroupVersion)
	restOptions := generic.RESTOptions{
		StorageConfig:           config.ForResource(secretfed.Resource("federatedsecrets")),
		Decorator:               generic.UndecoratedStorage,
		DeleteCollectionWorkers: 1,
		ResourcePrefix:          "federatedsecrets",
	}
	storage, status, err := NewREST(scheme, restOptions)
	if err != nil {
		t.Fatalf("NewREST: %v", err)
	}
	t.Cleanup(storage.Store.DestroyFunc)
	return storage, status
}

// newTestFederatedSecret is a valid FederatedSecret in the tester's namespace.
func newTestFederatedSecret(name string) *secretfed.FederatedSecret {
	return &secretfed.FederatedSecret{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "test", Labels: map[string]string{"team": "core"}},
		Spec: secretfed.FederatedSecretSpec{
			Template: secretfed.SecretTemplate{
				Type: "Opaque",
				Data: map[string][]byte{"password": []byte("s3cr3t")},
			},
			Placement: secretfed.Placement{Clusters: []secretfed.ClusterReference{{Name: "member1"}}},
		},
	}
}

func TestCreate(t *testing.T) {
	storage, _ := newStorage(t)
	test := genericregistrytest.New(t, storage.Store)
	fs := newTestFederatedSecret("foo")
	fs.ObjectMeta = metav1.ObjectMeta{GenerateName: "foo-"}
	test.TestCreate(
		// valid
		fs,
		// invalid
		&secretfed.FederatedSecret{},
		&secretfed.FederatedSecret{
			ObjectMeta: metav1.ObjectMeta{Name: "untyped"},
			Spec:       secretfed.FederatedSecretSpec{Template: secretfed.SecretTemplate{Data: map[string][]byte{"k": nil}}},
		},
		&secretfed.FederatedSecret{
			ObjectMeta: metav1.ObjectMeta{Name: "bad-key"},
			Spec:       secretfed.FederatedSecretSpec{Template: secretfed.SecretTemplate{Type: "Opaque", Data: map[string][]byte{"a key": nil}}},
		},
		&secretfed.FederatedSecret{
			ObjectMeta: metav1.ObjectMeta{Name: "rename"},
			Spec: secretfed.FederatedSecretSpec{
				Template: secretfed.SecretTemplate{Type: "Opaque"},
				Overrides: []secretfed.ClusterOverride{{ClusterName: "member1", ClusterOverrides: []secretfed.OverridePatch{
					{Op: secretfed.OverrideOpReplace, Path: "/metadata/name", Value: &secretfed.OverrideValue{Raw: []byte(`"other"`)}},
				}}},
			},
		},
	)
}

func TestUpdate(t *testing.T) {
	storage, _ := newStorage(t)
	test := genericregistrytest.New(t, storage.Store)
	test.TestUpdate(
		// valid
		newTestFederatedSecret("foo"),
		// updateFunc
		func(obj runtime.Object) runtime.Object {
			fs := obj.(*secretfed.FederatedSecret)
			fs.Spec.Template.Data["user"] = []byte("admin")
			return fs
		},
		// invalid updateFuncs
		func(obj runtime.Object) runtime.Object {
			fs := obj.(*secretfed.FederatedSecret)
			fs.Spec.Template.Type = ""
			return fs
		},
		func(obj runtime.Object) runtime.Object {
			fs := obj.(*secretfed.FederatedSecret)
			fs.Spec.Placement.Clusters = append(fs.Spec.Placement.Clusters, fs.Spec.Placement.Clusters...)
			return fs
		},
	)
}

func TestDelete(t *testing.T) {
	storage, _ := newStorage(t)
	test := genericregistrytest.New(t, storage.Store)
	test.TestDelete(newTestFederatedSecret("foo"))
}

func TestGet(t *testing.T) {
	storage, _ := newStorage(t)
	test := genericregistrytest.New(t, storage.Store)
	test.TestGet(newTestFederatedSecret("foo"))
}

func TestList(t *testing.T) {
	storage, _ := newStorage(t)
	test := genericregistrytest.New(t, storage.Store)
	test.TestList(newTestFederatedSecret("foo"))
}

func TestWatch(t *testing.T) {
	storage, _ := newStorage(t)
	test := genericregistrytest.New(t, storage.Store)
	test.TestWatch(
		newTestFederatedSecret("foo"),
		// matching labels
		[]labels.Set{
			{},
			{"team": "core"},
		},
		// not matching labels
		[]labels.Set{
			{"team": "payments"},
			{"foo": "bar"},
		},
		// matching fields
		[]fields.Set{
			{},
			{"metadata.name": "foo"},
			{"metadata.namespace": "test"},
			{"metadata.name": "foo", "metadata.namespace": "test"},
		},
		// not matching fields
		[]fields.Set{
			{"metadata.name": "bar"},
			{"metadata.namespace": "other"},
			{"name": "foo"},
			{"spec.template.type": "Opaque"},
		},
	)
}

// The tests below check the API semantics end to end through the store, on
// top of what the generic tester checks.

func testCtx() context.Context {
	return ctxInNamespace("test")
}

func create(t *testing.T, storage *REST, fs *secretfed.FederatedSecret) *secretfed.FederatedSecret {
	t.Helper()
	obj, err := storage.Create(testCtx(), fs, rest.ValidateAllObjectFunc, &metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	return obj.(*secretfed.FederatedSecret)
}

func get(t *testing.T, storage *REST, name string) *secretfed.FederatedSecret {
	t.Helper()
	obj, err := storage.Get(testCtx(), name, &metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get: %v", err)
	}
	return obj.(*secretfed.FederatedSecret)
}

func update(t *testing.T, updater rest.Updater, fs *secretfed.FederatedSecret) *secretfed.FederatedSecret {
	t.Helper()
	obj, _, err := updater.Update(testCtx(), fs.Name, rest.DefaultUpdatedObjectInfo(fs), rest.ValidateAllObjectFunc, rest.ValidateAllObjectUpdateFunc, false, &metav1.UpdateOptions{})
	if err != nil {
		t.Fatalf("update: %v", err)
	}
	return obj.(*secretfed.FederatedSecret)
}

func someStatus() secretfed.FederatedSecretStatus {
	return secretfed.FederatedSecretStatus{
		ObservedGeneration: 1,
		Conditions: []metav1.Condition{{
			Type: "Propagated", Status: metav1.ConditionTrue, Reason: "AllClustersPropagated",
			LastTransitionTime: metav1.Now().Rfc3339Copy(),
		}},
		Clusters: []secretfed.ClusterPropagationStatus{{Name: "member1", Status: "Propagated"}},
	}
}

func TestStoreMainResourceNeverWritesStatus(t *testing.T) {
	storage, _ := newStorage(t)

	fs := newTestFederatedSecret("foo")
	fs.Status = someStatus()
	fs.Generation = 5
	created := create(t, storage, fs)
	if created.Generation != 1 {
		t.Errorf("generation after create = %d, want 1", created.Generation)
	}
	if diff := cmp.Diff(secretfed.FederatedSecretStatus{}, created.Status); diff != "" {
		t.Errorf("status after create (-want +got):\n%s", diff)
	}

	// Labels only: no new generation.
	created.Labels["env"] = "prod"
	created.Status = someStatus()
	created.Generation = 9 // clients cannot set the generation
	updated := update(t, storage, created)
	if updated.Generation != 1 {
		t.Errorf("generation after a label change = %d, want 1", updated.Generation)
	}
	if diff := cmp.Diff(secretfed.FederatedSecretStatus{}, updated.Status); diff != "" {
		t.Errorf("status after update (-want +got):\n%s", diff)
	}

	// Spec: a new generation.
	updated.Spec.Template.Data["password"] = []byte("n3w")
	updated = update(t, storage, updated)
	if updated.Generation != 2 {
		t.Errorf("generation after a spec change = %d, want 2", updated.Generation)
	}
	if diff := cmp.Diff(updated, get(t, storage, "foo")); diff != "" {
		t.Errorf("stored object differs from the update's result (-returned +stored):\n%s", diff)
	}
}

func TestStoreStatusWritesOnlyStatus(t *testing.T) {
	storage, status := newStorage(t)
	created := create(t, storage, newTestFederatedSecret("foo"))

	fs := created.DeepCopy()
	fs.Status = someStatus()
	fs.Spec.Template.Data = map[string][]byte{"hijacked": []byte("x")}
	fs.Labels = map[string]string{"hijacked": "true"}
	updated := update(t, status, fs)

	want := created.DeepCopy()
	want.Status = fs.Status
	want.ResourceVersion = updated.ResourceVersion
	if diff := cmp.Diff(want, updated); diff != "" {
		t.Errorf("after a status write (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(updated, get(t, storage, "foo")); diff != "" {
		t.Errorf("stored object differs from the status write's result (-returned +stored):\n%s", diff)
	}

	// Status is validated.
	fs = updated.DeepCopy()
	fs.Status.Clusters[0].Status = "Lost"
	_, _, err := status.Update(testCtx(), "foo", rest.DefaultUpdatedObjectInfo(fs), rest.ValidateAllObjectFunc, rest.ValidateAllObjectUpdateFunc, false, &metav1.UpdateOptions{})
	if !apierrors.IsInvalid(err) {
		t.Errorf("status write with an unknown cluster status: err = %v, want Invalid", err)
	}
}

func TestStoreStatusNeverCreates(t *testing.T) {
	_, status := newStorage(t)
	fs := newTestFederatedSecret("ghost")
	_, _, err := status.Update(testCtx(), "ghost", rest.DefaultUpdatedObjectInfo(fs), rest.ValidateAllObjectFunc, rest.ValidateAllObjectUpdateFunc, true, &metav1.UpdateOptions{})
	if !apierrors.IsNotFound(err) {
		t.Errorf("status write to a missing object with forceAllowCreate: err = %v, want NotFound", err)
	}
}

// What placement means depends on whether clusters is present, so storage
// must keep an empty list apart from an absent one.
func TestStoreKeepsPlacementClustersPresence(t *testing.T) {
	storage, _ := newStorage(t)
	cases := []struct {
		name      string
		placement secretfed.Placement
	}{
		{name: "absent", placement: secretfed.Placement{}},
		{name: "empty", placement: secretfed.Placement{Clusters: []secretfed.ClusterReference{}}},
		{name: "selector-all", placement: secretfed.Placement{ClusterSelector: &metav1.LabelSelector{}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fs := newTestFederatedSecret(tc.name)
			fs.Spec.Placement = tc.placement
			create(t, storage, fs)
			if diff := cmp.Diff(tc.placement, get(t, storage, tc.name).Spec.Placement); diff != "" {
				t.Errorf("stored placement (-want +got):\n%s", diff)
			}
		})
	}

	// And changing presence alone is a new generation.
	fs := get(t, storage, "absent")
	fs.Spec.Placement.Clusters = []secretfed.ClusterReference{}
	if got := update(t, storage, fs); got.Generation != 2 || got.Spec.Placement.Clusters == nil {
		t.Errorf("after absent -> empty clusters: generation %d, clusters %#v; want 2, empty", got.Generation, got.Spec.Placement.Clusters)
	}
}

func TestShortNamesAndCategories(t *testing.T) {
	storage, _ := newStorage(t)
	if diff := cmp.Diff([]string{"fsec"}, storage.ShortNames()); diff != "" {
		t.Errorf("short names (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"secretfed"}, storage.Categories()); diff != "" {
		t.Errorf("categories (-want +got):\n%s", diff)
	}
	if storage.GetSingularName() != "federatedsecret" {
		t.Errorf("singular name = %q, want federatedsecret", storage.GetSingularName())
	}
}
