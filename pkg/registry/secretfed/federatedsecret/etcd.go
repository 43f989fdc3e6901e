package federatedsecret

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

// REST is the storage of the federatedsecrets resource.
type REST struct {
	*genericregistry.Store
}

// StatusREST is the storage of the federatedsecrets/status subresource.
type StatusREST struct {
	store *genericregistry.Store
}

// NewREST returns the storage of the main resource and its status subresource.
func NewREST(scheme *runtime.Scheme, optsGetter generic.RESTOptionsGetter) (*REST, *StatusREST, error) {
	s := NewStrategy(scheme)
	store := &genericregistry.Store{
		NewFunc:                   func() runtime.Object { return &secretfed.FederatedSecret{} },
		NewListFunc:               func() runtime.Object { return &secretfed.FederatedSecretList{} },
		PredicateFunc:             Match,
		DefaultQualifiedResource:  secretfed.Resource("federatedsecrets"),
		SingularQualifiedResource: secretfed.Resource("federatedsecret"),

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

// ShortNames lets `kubectl get fsec` work.
func (r *REST) ShortNames() []string { return []string{"fsec"} }

// Categories lets `kubectl get secretfed` list both kinds.
func (r *REST) Categories() []string { return []string{"secretfed"} }

// Update keeps the errors of malformed patches free of stored values and
// out of the 5xx range (package patcherr).
func (r *REST) Update(ctx context.Context, name string, objInfo rest.UpdatedObjectInfo, createValidation rest.ValidateObjectFunc, updateValidation rest.ValidateObjectUpdateFunc, forceAllowCreate bool, options *metav1.UpdateOptions) (runtime.Object, bool, error) {
	return r.Store.Update(ctx, name, patcherr.Wrap(secretfed.Kind("FederatedSecret"), name, objInfo), createValidation, updateValidation, forceAllowCreate, options)
}

// New returns an empty FederatedSecret.
func (r *StatusREST) New() runtime.Object { return &secretfed.FederatedSecret{} }

// Destroy does nothing: the store is shared with REST, which destroys it.
func (r *StatusREST) Destroy() {}

// Get retrieves the object; Patch needs it.
func (r *StatusREST) Get(ctx context.Context, name string, options *metav1.GetOptions) (runtime.Object, error) {
	return r.store.Get(ctx, name, options)
}

// Update changes only the status of a FederatedSecret.
func (r *StatusREST) Update(ctx context.Context, name string, objInfo rest.UpdatedObjectInfo, createValidation rest.ValidateObjectFunc, updateValidation rest.ValidateObjectUpdateFunc, forceAllowCreate bool, options *metav1.UpdateOptions) (runtime.Object, bool, error) {
	// A subresource never creates its parent.
	return r.store.Update(ctx, name, patcherr.Wrap(secretfed.Kind("FederatedSecret"), name, objInfo), createValidation, updateValidation, false, options)
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

// tableConvertor prints the columns of `kubectl get federatedsecrets`.
type tableConvertor struct{}

func (tableConvertor) ConvertToTable(ctx context.Context, obj runtime.Object, tableOptions runtime.Object) (*metav1.Table, error) {
	table := &metav1.Table{
		ColumnDefinitions: []metav1.TableColumnDefinition{
			{Name: "Name", Type: "string", Format: "name", Description: swaggerMetadataDescriptions["name"]},
			{Name: "Type", Type: "string", Description: "The type of the member Secret."},
			{Name: "Clusters", Type: "integer", Description: "How many member clusters the placement selects."},
			{Name: "Propagated", Type: "string", Description: "Placed clusters holding the desired Secret, out of all placed clusters."},
			{Name: "Age", Type: "string", Description: swaggerMetadataDescriptions["creationTimestamp"]},
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
		fs := obj.(*secretfed.FederatedSecret)
		placed, propagated := Counts(fs)
		return []interface{}{name, fs.Spec.Template.Type, placed, fmt.Sprintf("%d/%d", propagated, placed), age}, nil
	})
	return table, err
}

// Counts returns how many clusters the last reconcile placed the secret in
// and how many of them hold the desired Secret.
func Counts(fs *secretfed.FederatedSecret) (placed, propagated int64) {
	for _, c := range fs.Status.Clusters {
		if c.Status == "WaitingForRemoval" {
			// The cluster left placement; its copy is being removed.
			continue
		}
		placed++
		if c.Status == "Propagated" {
			propagated++
		}
	}
	return placed, propagated
}
