// +k8s:openapi-gen=true
// +k8s:openapi-model-package=com.github.secretfed.secretfed.pkg.apis.secretfed.v1alpha1
// +k8s:deepcopy-gen=package
// +k8s:conversion-gen=github.com/secretfed/secretfed/pkg/apis/secretfed
// +k8s:defaulter-gen=TypeMeta
// +groupName=secretfed.io

// Package v1alpha1 is the v1alpha1 wire version of the secretfed.io API group.
package v1alpha1
