package federatedcluster

import (
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
		StorageConfig:           config.ForResource(secretfed.Resource("federatedclusters")),
		Decorator:               generic.UndecoratedStorage,
		DeleteCollectionWorkers: 1,
		ResourcePrefix:          "federatedclusters",
	}
	storage, status, err := NewREST(scheme, restOptions)
	if err != nil {
		t.Fatalf("NewREST: %v", err)
	}
	t.Cleanup(storage.Store.DestroyFunc)
	return storage, status
}

// newTestFederatedCluster is a valid FederatedCluster.
func newTestFederatedCluster(name string) *secretfed.FederatedCluster {
	return &secretfed.FederatedCluster{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"env": "prod"}},
		Spec: secretfed.FederatedClusterSpec{
			APIEndpoint: "https://10.1.2.3:6443",
			SecretRef:   secretfed.LocalSecretReference{Name: name + "-credentials"},
		},
	}
}

func TestCreate(t *testing.T) {
	storage, _ := newStorage(t)
	test := genericregistrytest.New(t, storage.Store).ClusterScope()
	fc := newTestFederatedCluster("foo")
	fc.ObjectMeta = metav1.ObjectMeta{GenerateName: "foo-"}
	test.TestCreate(
		// valid
		fc,
		// invalid
		&secretfed.FederatedCluster{},
		&secretfed.FederatedCluster{
			ObjectMeta: metav1.ObjectMeta{Name: "plain-http"},
			Spec: secretfed.FederatedClusterSpec{
				APIEndpoint: "http://10.1.2.3:6443",
				SecretRef:   secretfed.LocalSecretReference{Name: "creds"},
			},
		},
		&secretfed.FederatedCluster{
			ObjectMeta: metav1.ObjectMeta{Name: "no-credentials"},
			Spec:       secretfed.FederatedClusterSpec{APIEndpoint: "https://10.1.2.3:6443"},
		},
		// A DNS subdomain, but not a DNS label.
		&secretfed.FederatedCluster{
			ObjectMeta: metav1.ObjectMeta{Name: "eu.member1"},
			Spec: secretfed.FederatedClusterSpec{
				APIEndpoint: "https://10.1.2.3:6443",
				SecretRef:   secretfed.LocalSecretReference{Name: "creds"},
			},
		},
	)
}

func TestUpdate(t *testing.T) {
	storage, _ := newStorage(t)
	test := genericregistrytest.New(t, storage.Store).ClusterScope()
	test.TestUpdate(
		// valid
		newTestFederatedCluster("foo"),
		// updateFunc
		func(obj runtime.Object) runtime.Object {
			fc := obj.(*secretfed.FederatedCluster)
			fc.Spec.APIEndpoint = "https://10.9.9.9:6443"
			return fc
		},
		// invalid updateFuncs
		func(obj runtime.Object) runtime.Object {
			fc := obj.(*secretfed.FederatedCluster)
			fc.Spec.APIEndpoint = ""
			return fc
		},
		func(obj runtime.Object) runtime.Object {
			fc := obj.(*secretfed.FederatedCluster)
			fc.Spec.ProxyURL = "ftp://proxy.example"
			return fc
		},
	)
}

func TestDelete(t *testing.T) {
	storage, _ := newStorage(t)
	test := genericregistrytest.New(t, storage.Store).ClusterScope()
	test.TestDelete(newTestFederatedCluster("foo"))
}

func TestGet(t *testing.T) {
	storage, _ := newStorage(t)
	test := genericregistrytest.New(t, storage.Store).ClusterScope()
	test.TestGet(newTestFederatedCluster("foo"))
}

func TestList(t *testing.T) {
	storage, _ := newStorage(t)
	test := genericregistrytest.New(t, storage.Store).ClusterScope()
	test.TestList(newTestFederatedCluster("foo"))
}

func TestWatch(t *testing.T) {
	storage, _ := newStorage(t)
	test := genericregistrytest.New(t, storage.Store).ClusterScope()
	test.TestWatch(
		newTestFederatedCluster("foo"),
		// matching labels
		[]labels.Set{
			{},
			{"env": "prod"},
		},
		// not matching labels
		[]labels.Set{
			{"env": "staging"},
			{"foo": "bar"},
		},
		// matching fields
		[]fields.Set{
			{},
			{"metadata.name": "foo"},
		},
		// not matching fields
		[]fields.Set{
			{"metadata.name": "bar"},
			// Cluster-scoped: there is no namespace to match.
			{"metadata.namespace": "default"},
			{"name": "foo"},
		},
	)
}

// The tests below check the API semantics end to end through the store, on
// top of what the generic tester checks.

func create(t *testing.T, storage *REST, fc *secretfed.FederatedCluster) *secretfed.FederatedCluster {
	t.Helper()
	obj, err := storage.Create(clusterCtx(), fc, rest.ValidateAllObjectFunc, &metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	return obj.(*secretfed.FederatedCluster)
}

func get(t *testing.T, storage *REST, name string) *secretfed.FederatedCluster {
	t.Helper()
	obj, err := storage.Get(clusterCtx(), name, &metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get: %v", err)
	}
	return obj.(*secretfed.FederatedCluster)
}

func update(t *testing.T, updater rest.Updater, fc *secretfed.FederatedCluster) *secretfed.FederatedCluster {
	t.Helper()
	obj, _, err := updater.Update(clusterCtx(), fc.Name, rest.DefaultUpdatedObjectInfo(fc), rest.ValidateAllObjectFunc, rest.ValidateAllObjectUpdateFunc, false, &metav1.UpdateOptions{})
	if err != nil {
		t.Fatalf("update: %v", err)
	}
	return obj.(*secretfed.FederatedCluster)
}

func readyStatus() secretfed.FederatedClusterStatus {
	return secretfed.FederatedClusterStatus{
		KubernetesVersion: "v1.37.2",
		Conditions: []metav1.Condition{{
			Type: "Ready", Status: metav1.ConditionTrue, Reason: "ClusterReady",
			LastTransitionTime: metav1.Now().Rfc3339Copy(),
		}},
	}
}

func TestStoreMainResourceNeverWritesStatus(t *testing.T) {
	storage, _ := newStorage(t)

	fc := newTestFederatedCluster("foo")
	fc.Status = readyStatus()
	fc.Generation = 5
	created := create(t, storage, fc)
	if created.Generation != 1 {
		t.Errorf("generation after create = %d, want 1", created.Generation)
	}
	if diff := cmp.Diff(secretfed.FederatedClusterStatus{}, created.Status); diff != "" {
		t.Errorf("status after create (-want +got):\n%s", diff)
	}

	// Labels only: no new generation.
	created.Labels["env"] = "staging"
	created.Status = readyStatus()
	created.Generation = 9 // clients cannot set the generation
	updated := update(t, storage, created)
	if updated.Generation != 1 {
		t.Errorf("generation after a label change = %d, want 1", updated.Generation)
	}
	if diff := cmp.Diff(secretfed.FederatedClusterStatus{}, updated.Status); diff != "" {
		t.Errorf("status after update (-want +got):\n%s", diff)
	}

	// Spec: a new generation.
	updated.Spec.InsecureSkipTLSVerify = true
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
	created := create(t, storage, newTestFederatedCluster("foo"))

	fc := created.DeepCopy()
	fc.Status = readyStatus()
	fc.Spec.APIEndpoint = "https://evil.example"
	fc.Labels = map[string]string{"env": "staging"}
	updated := update(t, status, fc)

	want := created.DeepCopy()
	want.Status = fc.Status
	want.ResourceVersion = updated.ResourceVersion
	if diff := cmp.Diff(want, updated); diff != "" {
		t.Errorf("after a status write (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(updated, get(t, storage, "foo")); diff != "" {
		t.Errorf("stored object differs from the status write's result (-returned +stored):\n%s", diff)
	}

	// Status is validated.
	fc = updated.DeepCopy()
	fc.Status.Conditions[0].Reason = "not a reason"
	_, _, err := status.Update(clusterCtx(), "foo", rest.DefaultUpdatedObjectInfo(fc), rest.ValidateAllObjectFunc, rest.ValidateAllObjectUpdateFunc, false, &metav1.UpdateOptions{})
	if !apierrors.IsInvalid(err) {
		t.Errorf("status write with an invalid condition reason: err = %v, want Invalid", err)
	}
}

func TestStoreStatusNeverCreates(t *testing.T) {
	_, status := newStorage(t)
	fc := newTestFederatedCluster("ghost")
	_, _, err := status.Update(clusterCtx(), "ghost", rest.DefaultUpdatedObjectInfo(fc), rest.ValidateAllObjectFunc, rest.ValidateAllObjectUpdateFunc, true, &metav1.UpdateOptions{})
	if !apierrors.IsNotFound(err) {
		t.Errorf("status write to a missing object with forceAllowCreate: err = %v, want NotFound", err)
	}
}

func TestShortNamesAndCategories(t *testing.T) {
	storage, _ := newStorage(t)
	if diff := cmp.Diff([]string{"fcl"}, storage.ShortNames()); diff != "" {
		t.Errorf("short names (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"secretfed"}, storage.Categories()); diff != "" {
		t.Errorf("categories (-want +got):\n%s", diff)
	}
	if storage.GetSingularName() != "federatedcluster" {
		t.Errorf("singular name = %q, want federatedcluster", storage.GetSingularName())
	}
}
