package federatedcluster

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/api/meta"
	metatable "k8s.io/apimachinery/pkg/api/meta/table"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apiserver/pkg/registry/generic"
	genericregistry "k8s.io/apiserver/pkg/registry/generic/registry"
	"k8s.io/apiserver/pkg/registry/rest"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"

	"github.com/secretfed/secretfed/pkg/apis/secretfed"
	"github.com/secretfed/secretfed/pkg/registry/secretfed/patcherr"
)

// REST is the storage of the federatedclusters resource.
type REST struct {
	*genericregistry.Store
}

// StatusREST is the storage of the federatedclusters/status subresource.
type StatusREST struct {
	store *genericregistry.Store
}

// NewREST returns the storage of the main resource and its status subresource.
func NewREST(scheme *runtime.Scheme, optsGetter generic.RESTOptionsGetter) (*REST, *StatusREST, error) {
	s := NewStrategy(scheme)
	store := &genericregistry.Store{
		NewFunc:                   func() runtime.Object { return &secretfed.FederatedCluster{} },
		NewListFunc:               func() runtime.Object { return &secretfed.FederatedClusterList{} },
		PredicateFunc:             Match,
		DefaultQualifiedResource:  secretfed.Resource("federatedclusters"),
		SingularQualifiedResource: secretfed.Resource("federatedcluster"),

		CreateStrategy:      s,
		UpdateStrategy:      s,
		DeleteStrategy:      s,
		ResetFieldsStrategy: s,

		TableConvertor: tableConvertor{},
	}
	if err := store.CompleteWithOptions(&generic.StoreOptions{RESTOptions: optsGetter, AttrFunc: GetAttrs}); err != nil {
		return nil, nil, err
	}

	statusStore := *store
	ss := NewStatusStrategy(s)
	statusStore.CreateStrategy = nil
	statusStore.DeleteStrategy = nil
	statusStore.UpdateStrategy = ss
	statusStore.ResetFieldsStrategy = ss
	return &REST{store}, &StatusREST{store: &statusStore}, nil
}

var (
	_ rest.ShortNamesProvider = &REST{}
	_ rest.CategoriesProvider = &REST{}
	_ rest.Patcher            = &StatusREST{}
)

// ShortNames lets `kubectl get fcl` work.
func (r *REST) ShortNames() []string { return []string{"fcl"} }

// Categories lets `kubectl get secretfed` list both kinds.
func (r *REST) Categories() []string { return []string{"secretfed"} }

// Update keeps the errors of malformed patches free of stored values and
// out of the 5xx range (package patcherr).
func (r *REST) Update(ctx context.Context, name string, objInfo rest.UpdatedObjectInfo, createValidation rest.ValidateObjectFunc, updateValidation rest.ValidateObjectUpdateFunc, forceAllowCreate bool, options *metav1.UpdateOptions) (runtime.Object, bool, error) {
	return r.Store.Update(ctx, name, patcherr.Wrap(secretfed.Kind("FederatedCluster"), name, objInfo), createValidation, updateValidation, forceAllowCreate, options)
}

// New returns an empty FederatedCluster.
func (r *StatusREST) New() runtime.Object { return &secretfed.FederatedCluster{} }

// Destroy does nothing: the store is shared with REST, which destroys it.
func (r *StatusREST) Destroy() {}

// Get retrieves the object; Patch needs it.
func (r *StatusREST) Get(ctx context.Context, name string, options *metav1.GetOptions) (runtime.Object, error) {
	return r.store.Get(ctx, name, options)
}

// Update changes only the status of a FederatedCluster.
func (r *StatusREST) Update(ctx context.Context, name string, objInfo rest.UpdatedObjectInfo, createValidation rest.ValidateObjectFunc, updateValidation rest.ValidateObjectUpdateFunc, forceAllowCreate bool, options *metav1.UpdateOptions) (runtime.Object, bool, error) {
	// A subresource never creates its parent.
	return r.store.Update(ctx, name, patcherr.Wrap(secretfed.Kind("FederatedCluster"), name, objInfo), createValidation, updateValidation, false, options)
}

// GetResetFields implements rest.ResetFieldsStrategy.
func (r *StatusREST) GetResetFields() map[fieldpath.APIVersion]*fieldpath.Set {
	return r.store.GetResetFields()
}

// ConvertToTable renders the status subresource like the main resource.
func (r *StatusREST) ConvertToTable(ctx context.Context, obj runtime.Object, tableOptions runtime.Object) (*metav1.Table, error) {
	return r.store.ConvertToTable(ctx, obj, tableOptions)
}

var swaggerMetadataDescriptions = metav1.ObjectMeta{}.SwaggerDoc()

// tableConvertor prints the columns of `kubectl get federatedclusters`.
type tableConvertor struct{}

func (tableConvertor) ConvertToTable(ctx context.Context, obj runtime.Object, tableOptions runtime.Object) (*metav1.Table, error) {
	table := &metav1.Table{
		ColumnDefinitions: []metav1.TableColumnDefinition{
			{Name: "Name", Type: "string", Format: "name", Description: swaggerMetadataDescriptions["name"]},
			{Name: "Ready", Type: "string", Description: "Whether the member cluster is healthy (its Ready condition)."},
			{Name: "Version", Type: "string", Description: "The member's Kubernetes version."},
			{Name: "Age", Type: "string", Description: swaggerMetadataDescriptions["creationTimestamp"]},
			{Name: "Endpoint", Type: "string", Priority: 1, Description: "The member's API endpoint."},
		},
	}
	if m, err := meta.ListAccessor(obj); err == nil {
		table.ResourceVersion = m.GetResourceVersion()
		table.Continue = m.GetContinue()
		table.RemainingItemCount = m.GetRemainingItemCount()
	} else if m, err := meta.CommonAccessor(obj); err == nil {
		table.ResourceVersion = m.GetResourceVersion()
	}
	var err error
	table.Rows, err = metatable.MetaToTableRow(obj, func(obj runtime.Object, m metav1.Object, name, age string) ([]interface{}, error) {
		fc := obj.(*secretfed.FederatedCluster)
		return []interface{}{name, Ready(fc), fc.Status.KubernetesVersion, age, fc.Spec.APIEndpoint}, nil
	})
	return table, err
}

// Ready returns the Ready condition's status, with its reason when not True.
func Ready(fc *secretfed.FederatedCluster) string {
	for _, c := range fc.Status.Conditions {
		if c.Type != "Ready" {
			continue
		}
		if c.Status == metav1.ConditionTrue || c.Reason == "" {
			return string(c.Status)
		}
		return fmt.Sprintf("%s (%s)", c.Status, c.Reason)
	}
	return string(metav1.ConditionUnknown)
}
