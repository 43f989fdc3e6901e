// Package federatedcluster implements the REST storage of FederatedClusters.
package federatedcluster

import (
	"context"
	"fmt"

	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apiserver/pkg/registry/generic"
	"k8s.io/apiserver/pkg/storage"
	"k8s.io/apiserver/pkg/storage/names"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"

	"github.com/secretfed/secretfed/pkg/apis/secretfed"
	"github.com/secretfed/secretfed/pkg/apis/secretfed/validation"
)

// strategy implements the API semantics of FederatedCluster writes.
type strategy struct {
	runtime.ObjectTyper
	names.NameGenerator
}

// NewStrategy returns the strategy for the main resource.
func NewStrategy(typer runtime.ObjectTyper) strategy {
	return strategy{typer, names.SimpleNameGenerator}
}

func (strategy) NamespaceScoped() bool { return false }

// GetResetFields keeps status out of reach of the main resource, also for
// server-side apply.
func (strategy) GetResetFields() map[fieldpath.APIVersion]*fieldpath.Set {
	return map[fieldpath.APIVersion]*fieldpath.Set{
		"secretfed.io/v1alpha1": fieldpath.NewSet(fieldpath.MakePathOrDie("status")),
	}
}

func (strategy) PrepareForCreate(ctx context.Context, obj runtime.Object) {
	fc := obj.(*secretfed.FederatedCluster)
	fc.Status = secretfed.FederatedClusterStatus{}
	fc.Generation = 1
}

func (strategy) PrepareForUpdate(ctx context.Context, obj, old runtime.Object) {
	newFC := obj.(*secretfed.FederatedCluster)
	oldFC := old.(*secretfed.FederatedCluster)
	newFC.Status = oldFC.Status
	if !apiequality.Semantic.DeepEqual(newFC.Spec, oldFC.Spec) {
		newFC.Generation = oldFC.Generation + 1
	}
}

func (strategy) Validate(ctx context.Context, obj runtime.Object) field.ErrorList {
	return validation.ValidateFederatedCluster(obj.(*secretfed.FederatedCluster))
}

func (strategy) WarningsOnCreate(ctx context.Context, obj runtime.Object) []string {
	return validation.WarningsForFederatedCluster(obj.(*secretfed.FederatedCluster))
}

func (strategy) AllowCreateOnUpdate(ctx context.Context) bool { return false }

func (strategy) AllowUnconditionalUpdate(ctx context.Context) bool { return true }

func (strategy) Canonicalize(obj runtime.Object) {}

func (strategy) ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	return validation.ValidateFederatedClusterUpdate(obj.(*secretfed.FederatedCluster), old.(*secretfed.FederatedCluster))
}

func (strategy) WarningsOnUpdate(ctx context.Context, obj, old runtime.Object) []string {
	return validation.WarningsForFederatedCluster(obj.(*secretfed.FederatedCluster))
}

// statusStrategy lets only status change through the status subresource.
type statusStrategy struct {
	strategy
}

// NewStatusStrategy returns the strategy for the status subresource.
func NewStatusStrategy(s strategy) statusStrategy {
	return statusStrategy{s}
}

func (statusStrategy) GetResetFields() map[fieldpath.APIVersion]*fieldpath.Set {
	return map[fieldpath.APIVersion]*fieldpath.Set{
		"secretfed.io/v1alpha1": fieldpath.NewSet(
			fieldpath.MakePathOrDie("spec"),
			fieldpath.MakePathOrDie("metadata"),
		),
	}
}

func (statusStrategy) PrepareForUpdate(ctx context.Context, obj, old runtime.Object) {
	newFC := obj.(*secretfed.FederatedCluster)
	oldFC := old.(*secretfed.FederatedCluster)
	newFC.Spec = oldFC.Spec
	metav1.ResetObjectMetaForStatus(newFC, oldFC)
}

func (statusStrategy) ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	return validation.ValidateFederatedClusterStatusUpdate(obj.(*secretfed.FederatedCluster), old.(*secretfed.FederatedCluster))
}

func (statusStrategy) WarningsOnUpdate(ctx context.Context, obj, old runtime.Object) []string {
	return nil
}

// GetAttrs returns the labels and fields of a FederatedCluster for filtering.
func GetAttrs(obj runtime.Object) (labels.Set, fields.Set, error) {
	fc, ok := obj.(*secretfed.FederatedCluster)
	if !ok {
		return nil, nil, fmt.Errorf("given object is not a FederatedCluster")
	}
	return labels.Set(fc.Labels), generic.ObjectMetaFieldsSet(&fc.ObjectMeta, false), nil
}

// Match is the filter used by the store for list and watch.
func Match(label labels.Selector, field fields.Selector) storage.SelectionPredicate {
	return storage.SelectionPredicate{Label: label, Field: field, GetAttrs: GetAttrs}
}
