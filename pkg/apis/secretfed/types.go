package secretfed

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// +genclient
// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// FederatedSecret is a Secret template that secretfed propagates to the
// member clusters its placement selects.
type FederatedSecret struct {
	metav1.TypeMeta
	metav1.ObjectMeta

	Spec   FederatedSecretSpec
	Status FederatedSecretStatus
}

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// FederatedSecretList is a list of FederatedSecrets.
type FederatedSecretList struct {
	metav1.TypeMeta
	metav1.ListMeta

	Items []FederatedSecret
}

// FederatedSecretSpec is the desired state of a FederatedSecret.
type FederatedSecretSpec struct {
	Template  SecretTemplate
	Placement Placement
	Overrides []ClusterOverride
}

// SecretTemplate is the Secret created in every placed member. The internal
// form has no stringData: it is folded into Data when decoded.
type SecretTemplate struct {
	Metadata  TemplateMetadata
	Type      string
	Data      map[string][]byte
	Immutable *bool
}

// TemplateMetadata is the subset of object metadata a template may carry.
type TemplateMetadata struct {
	Labels      map[string]string
	Annotations map[string]string
}

// Placement selects member clusters. Clusters, when non-nil (even empty),
// takes precedence over ClusterSelector.
type Placement struct {
	Clusters        []ClusterReference
	ClusterSelector *metav1.LabelSelector
}

// ClusterReference names a FederatedCluster.
type ClusterReference struct {
	Name string
}

// ClusterOverride lists the patches applied to the template for one cluster.
type ClusterOverride struct {
	ClusterName      string
	ClusterOverrides []OverridePatch
}

// OverrideOp is a JSON patch operation allowed in overrides.
type OverrideOp string

const (
	OverrideOpAdd     OverrideOp = "add"
	OverrideOpRemove  OverrideOp = "remove"
	OverrideOpReplace OverrideOp = "replace"
)

// OverridePatch is one RFC 6902-style operation on the template.
type OverridePatch struct {
	Op    OverrideOp
	Path  string
	Value *OverrideValue
}

// OverrideValue holds an arbitrary JSON value.
type OverrideValue struct {
	Raw []byte
}

// FederatedSecretStatus is the observed propagation state.
type FederatedSecretStatus struct {
	ObservedGeneration int64
	Conditions         []metav1.Condition
	Clusters           []ClusterPropagationStatus
}

// PropagationStatus is the per-cluster outcome of propagation.
type PropagationStatus string

// ClusterPropagationStatus is the propagation state in one member cluster.
type ClusterPropagationStatus struct {
	Name    string
	Status  PropagationStatus
	Message string
}

// +genclient
// +genclient:nonNamespaced
// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// FederatedCluster registers a member cluster with the federation.
type FederatedCluster struct {
	metav1.TypeMeta
	metav1.ObjectMeta

	Spec   FederatedClusterSpec
	Status FederatedClusterStatus
}

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// FederatedClusterList is a list of FederatedClusters.
type FederatedClusterList struct {
	metav1.TypeMeta
	metav1.ListMeta

	Items []FederatedCluster
}

// FederatedClusterSpec says how to reach a member cluster.
type FederatedClusterSpec struct {
	APIEndpoint           string
	CABundle              []byte
	SecretRef             LocalSecretReference
	InsecureSkipTLSVerify bool
	ProxyURL              string
}

// LocalSecretReference names a FederatedSecret in the secretfed system namespace.
type LocalSecretReference struct {
	Name string
}

// FederatedClusterStatus is the observed health of a member cluster.
type FederatedClusterStatus struct {
	KubernetesVersion string
	Conditions        []metav1.Condition
}
