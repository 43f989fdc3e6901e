// Package validation holds the write-time rules of the secretfed.io API.
// It returns field.ErrorList with exact paths so users see which field is
// wrong. Error details must never echo secret values.
package validation

import (
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/secretfed/secretfed/pkg/apis/secretfed"
)

// ValidateFederatedSecret validates a FederatedSecret on create.
func ValidateFederatedSecret(fs *secretfed.FederatedSecret) field.ErrorList {
	return nil
}

// ValidateFederatedSecretUpdate validates a FederatedSecret on update.
func ValidateFederatedSecretUpdate(newFS, oldFS *secretfed.FederatedSecret) field.ErrorList {
	return nil
}

// ValidateFederatedSecretStatusUpdate validates a write to the status subresource.
func ValidateFederatedSecretStatusUpdate(newFS, oldFS *secretfed.FederatedSecret) field.ErrorList {
	return nil
}

// ValidateFederatedCluster validates a FederatedCluster on create.
func ValidateFederatedCluster(fc *secretfed.FederatedCluster) field.ErrorList {
	return nil
}

// ValidateFederatedClusterUpdate validates a FederatedCluster on update.
func ValidateFederatedClusterUpdate(newFC, oldFC *secretfed.FederatedCluster) field.ErrorList {
	return nil
}

// ValidateFederatedClusterStatusUpdate validates a write to the status subresource.
func ValidateFederatedClusterStatusUpdate(newFC, oldFC *secretfed.FederatedCluster) field.ErrorList {
	return nil
}
