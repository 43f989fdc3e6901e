package validation

import (
	"fmt"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/secretfed/secretfed/pkg/apis/secretfed"
	"github.com/secretfed/secretfed/pkg/apis/secretfed/v1alpha1"
)

// WarningsForFederatedCluster returns the warnings for valid but risky
// settings of a FederatedCluster, for WarningsOnCreate and WarningsOnUpdate.
func WarningsForFederatedCluster(fc *secretfed.FederatedCluster) []string {
	if fc == nil {
		return nil
	}
	var warnings []string
	if fc.Spec.InsecureSkipTLSVerify {
		warnings = append(warnings, fmt.Sprintf("%s: TLS verification of the member's API server is disabled; anyone on the network path can impersonate it and read every Secret sent to it",
			field.NewPath("spec", "insecureSkipTLSVerify")))
	}
	return warnings
}

// WarningsForFederatedSecret returns the warnings for a FederatedSecret that
// is valid but probably not what its author meant, for WarningsOnCreate and
// WarningsOnUpdate. No warning quotes a secret value.
func WarningsForFederatedSecret(fs *secretfed.FederatedSecret) []string {
	if fs == nil {
		return nil
	}
	var warnings []string
	for _, a := range []string{v1alpha1.OrphanAnnotation, v1alpha1.AdoptAnnotation} {
		if v, ok := fs.Annotations[a]; ok && v != "true" {
			warnings = append(warnings, fmt.Sprintf("%s: only the value \"true\" has an effect; %q is ignored",
				field.NewPath("metadata", "annotations").Key(a), v))
		}
	}
	if len(fs.Spec.Template.Data) == 0 {
		warnings = append(warnings, fmt.Sprintf("%s is empty: member clusters receive a Secret without data",
			field.NewPath("spec", "template", "data")))
	}
	placement := &fs.Spec.Placement
	if placement.Clusters != nil {
		if placement.ClusterSelector != nil {
			warnings = append(warnings, fmt.Sprintf("%s is ignored because %s is set",
				field.NewPath("spec", "placement", "clusterSelector"), field.NewPath("spec", "placement", "clusters")))
		}
		placed := make(map[string]bool, len(placement.Clusters))
		for _, c := range placement.Clusters {
			placed[c.Name] = true
		}
		for i, o := range fs.Spec.Overrides {
			if o.ClusterName != "" && !placed[o.ClusterName] {
				warnings = append(warnings, fmt.Sprintf("%s: cluster %q is not in spec.placement.clusters, so this override has no effect",
					field.NewPath("spec", "overrides").Index(i).Child("clusterName"), o.ClusterName))
			}
		}
	}
	return warnings
}
