package v1alpha1

import (
	"k8s.io/apimachinery/pkg/runtime"
)

func addDefaultingFuncs(scheme *runtime.Scheme) error {
	return RegisterDefaults(scheme)
}

// SetDefaults_SecretTemplate makes an untyped template Opaque, as core Secrets are.
func SetDefaults_SecretTemplate(obj *SecretTemplate) {
	if obj.Type == "" {
		obj.Type = "Opaque"
	}
}

// SetDefaults_OverridePatch makes replace the default operation.
func SetDefaults_OverridePatch(obj *OverridePatch) {
	if obj.Op == "" {
		obj.Op = OverrideOpReplace
	}
}
