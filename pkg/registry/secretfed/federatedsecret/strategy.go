// Package federatedsecret implements the REST storage of FederatedSecrets.
package federatedsecret

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

// strategy implements the API semantics of FederatedSecret writes.
type strategy struct {
	runtime.ObjectTyper
	names.NameGenerator
}

// NewStrategy returns the strategy for the main resource.
func NewStrategy(typer runtime.ObjectTyper) strategy {
	return strategy{typer, names.SimpleNameGenerator}
}

func (strategy) NamespaceScoped() bool { return true }

// GetResetFields keeps status out of reach of the main resource, also for
// server-side apply.
func (strategy) GetResetFields() map[fieldpath.APIVersion]*fieldpath.Set {
	return map[fieldpath.APIVersion]*fieldpath.Set{
		"secretfed.io/v1alpha1": fieldpath.NewSet(fieldpath.MakePathOrDie("status")),
	}
}

func (strategy) PrepareForCreate(ctx context.Context, obj runtime.Object) {
	fs := obj.(*secretfed.FederatedSecret)
	fs.Status = secretfed.FederatedSecretStatus{}
	fs.Generation = 1
}

func (strategy) PrepareForUpdate(ctx context.Context, obj, old runtime.Object) {
	newFS := obj.(*secretfed.FederatedSecret)
	oldFS := old.(*secretfed.FederatedSecret)
	newFS.Status = oldFS.Status
	if !apiequality.Semantic.DeepEqual(newFS.Spec, oldFS.Spec) || clustersPresenceChanged(&newFS.Spec.Placement, &oldFS.Spec.Placement) {
		newFS.Generation = oldFS.Generation + 1
	}
}

// clustersPresenceChanged reports whether placement.clusters went from absent
// to present (even empty) or back. Semantic.DeepEqual equates nil and empty
// slices, but here they differ: an absent list defers to clusterSelector, an
// empty one places the secret nowhere.
func clustersPresenceChanged(newP, oldP *secretfed.Placement) bool {
	return (newP.Clusters == nil) != (oldP.Clusters == nil)
}

func (strategy) Validate(ctx context.Context, obj runtime.Object) field.ErrorList {
	return validation.ValidateFederatedSecret(obj.(*secretfed.FederatedSecret))
}

func (strategy) WarningsOnCreate(ctx context.Context, obj runtime.Object) []string {
	return validation.WarningsForFederatedSecret(obj.(*secretfed.FederatedSecret))
}

func (strategy) AllowCreateOnUpdate(ctx context.Context) bool { return false }

func (strategy) AllowUnconditionalUpdate(ctx context.Context) bool { return true }

func (strategy) Canonicalize(obj runtime.Object) {}

func (strategy) ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	return validation.ValidateFederatedSecretUpdate(obj.(*secretfed.FederatedSecret), old.(*secretfed.FederatedSecret))
}

func (strategy) WarningsOnUpdate(ctx context.Context, obj, old runtime.Object) []string {
	return validation.WarningsForFederatedSecret(obj.(*secretfed.FederatedSecret))
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
	newFS := obj.(*secretfed.FederatedSecret)
	oldFS := old.(*secretfed.FederatedSecret)
	newFS.Spec = oldFS.Spec
	metav1.ResetObjectMetaForStatus(newFS, oldFS)
}

func (statusStrategy) ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	return validation.ValidateFederatedSecretStatusUpdate(obj.(*secretfed.FederatedSecret), old.(*secretfed.FederatedSecret))
}

func (statusStrategy) WarningsOnUpdate(ctx context.Context, obj, old runtime.Object) []string {
	return nil
}

// GetAttrs returns the labels and fields of a FederatedSecret for filtering.
func GetAttrs(obj runtime.Object) (labels.Set, fields.Set, error) {
	fs, ok := obj.(*secretfed.FederatedSecret)
	if !ok {
		return nil, nil, fmt.Errorf("given object is not a FederatedSecret")
	}
	return labels.Set(fs.Labels), generic.ObjectMetaFieldsSet(&fs.ObjectMeta, true), nil
}

// Match is the filter used by the store for list and watch.
func Match(label labels.Selector, field fields.Selector) storage.SelectionPredicate {
	return storage.SelectionPredicate{Label: label, Field: field, GetAttrs: GetAttrs}
}
