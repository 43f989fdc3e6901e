package v1alpha1

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strconv"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// +genclient
// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// FederatedSecret is a Secret template that secretfed propagates, as an
// ordinary Secret with the same namespace and name, to the member clusters
// its placement selects. It is stored encrypted at rest.
type FederatedSecret struct {
	metav1.TypeMeta `json:",inline"`
	// Standard object metadata. The annotations secretfed.io/orphan and
	// secretfed.io/adopt change how member copies are deleted and adopted.
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec is the Secret template, where it goes, and per-cluster overrides.
	// +optional
	Spec FederatedSecretSpec `json:"spec,omitempty"`
	// Status reports propagation to each placed cluster. Written by secretfed.
	// +optional
	Status FederatedSecretStatus `json:"status,omitempty"`
}

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// FederatedSecretList is a list of FederatedSecrets.
type FederatedSecretList struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ListMeta `json:"metadata,omitempty"`

	// Items is the list of FederatedSecrets.
	Items []FederatedSecret `json:"items"`
}

// FederatedSecretSpec is the desired state of a FederatedSecret.
type FederatedSecretSpec struct {
	// Template is the Secret created in every placed member cluster.
	// +optional
	Template SecretTemplate `json:"template,omitempty"`
	// Placement selects the member clusters that receive the Secret.
	// With neither clusters nor clusterSelector, the Secret goes nowhere.
	// +optional
	Placement Placement `json:"placement,omitempty"`
	// Overrides patch the template for individual clusters.
	// +optional
	// +listType=map
	// +listMapKey=clusterName
	Overrides []ClusterOverride `json:"overrides,omitempty"`
}

// SecretTemplate is the Secret created in member clusters. Its fields mean
// what they mean on a core v1 Secret.
type SecretTemplate struct {
	// Metadata holds the labels and annotations of the member Secret.
	// +optional
	Metadata TemplateMetadata `json:"metadata,omitempty"`
	// Type is the core Secret type (Opaque when empty); type-specific keys are
	// validated as for core Secrets.
	// +optional
	Type string `json:"type,omitempty"`
	// Data holds the secret values, base64-encoded in JSON and YAML.
	// +optional
	Data map[string][]byte `json:"data,omitempty"`
	// StringData is a write-only convenience: its entries are folded into data
	// on write, overriding data entries of the same key, and never stored.
	// +optional
	StringData map[string]string `json:"stringData,omitempty"`
	// Immutable makes the member Secret immutable. secretfed deletes and
	// recreates an immutable member Secret whose desired content changed.
	// +optional
	Immutable *bool `json:"immutable,omitempty"`
}

// TemplateMetadata is the subset of object metadata a template may carry.
type TemplateMetadata struct {
	// Labels of the member Secret. secretfed adds secretfed.io/managed=true.
	// +optional
	Labels map[string]string `json:"labels,omitempty"`
	// Annotations of the member Secret.
	// +optional
	Annotations map[string]string `json:"annotations,omitempty"`
}

// Placement selects member clusters, as in KubeFed.
type Placement struct {
	// Clusters names the member clusters explicitly. When present, even empty,
	// it takes precedence and clusterSelector is ignored. A name without a
	// FederatedCluster is reported in status as ClusterNotFound.
	// +optional
	// +listType=atomic
	Clusters []ClusterReference `json:"clusters"`
	// ClusterSelector selects FederatedClusters by label. An empty selector
	// ({}) selects every cluster.
	// +optional
	ClusterSelector *metav1.LabelSelector `json:"clusterSelector,omitempty"`
}

// ClusterReference names a FederatedCluster.
type ClusterReference struct {
	// Name of the FederatedCluster.
	Name string `json:"name"`
}

// ClusterOverride lists the patches applied to the template for one cluster.
type ClusterOverride struct {
	// ClusterName is the FederatedCluster the patches apply to.
	ClusterName string `json:"clusterName"`
	// ClusterOverrides are applied in order to the template for this cluster.
	// +optional
	// +listType=atomic
	ClusterOverrides []OverridePatch `json:"clusterOverrides,omitempty"`
}

// OverrideOp is a JSON patch operation allowed in overrides.
// +enum
type OverrideOp string

const (
	// OverrideOpAdd adds a value (or replaces an existing map entry).
	OverrideOpAdd OverrideOp = "add"
	// OverrideOpRemove removes a value; it fails the cluster if the value is missing.
	OverrideOpRemove OverrideOp = "remove"
	// OverrideOpReplace replaces a value; it fails the cluster if the value is missing.
	OverrideOpReplace OverrideOp = "replace"
)

// OverridePatch is one RFC 6902-style operation on the template.
type OverridePatch struct {
	// Op is add, remove or replace (default replace).
	// +optional
	Op OverrideOp `json:"op,omitempty"`
	// Path is an RFC 6901 JSON pointer into the template, such as
	// /data/password, /stringData/user, /metadata/labels/env, /type or /immutable.
	Path string `json:"path"`
	// Value is the JSON value for add and replace. Values under /data are base64.
	// +optional
	Value *OverrideValue `json:"value,omitempty"`
}

// OverrideValue holds an arbitrary JSON value.
// +k8s:openapi-gen=true
type OverrideValue struct {
	Raw []byte `json:"-"`
}

// OpenAPISchemaType lets any JSON value through schema-based tooling
// (server-side apply, kubectl explain).
func (OverrideValue) OpenAPISchemaType() []string { return nil }

// OpenAPISchemaFormat is empty: the value has no fixed format.
func (OverrideValue) OpenAPISchemaFormat() string { return "" }

// MarshalJSON returns the raw JSON value.
func (v OverrideValue) MarshalJSON() ([]byte, error) {
	if len(v.Raw) == 0 {
		return []byte("null"), nil
	}
	return v.Raw, nil
}

// UnmarshalJSON keeps a copy of the raw JSON value, without surrounding
// white space. It refuses numbers that do not fit a float64: the rest of the
// API machinery cannot represent them (server-side apply's field tracking
// converts every value and would fail the request with a 500), and a typed
// field would refuse them at decoding too. Errors never quote the value.
func (v *OverrideValue) UnmarshalJSON(data []byte) error {
	if v == nil {
		return errors.New("OverrideValue: UnmarshalJSON on nil pointer")
	}
	data = bytes.TrimSpace(data)
	if string(data) == "null" {
		v.Raw = nil
		return nil
	}
	if !json.Valid(data) {
		return errors.New("OverrideValue: invalid JSON")
	}
	if !numbersFitFloat64(data) {
		return errors.New("OverrideValue: a number is out of the range of a 64-bit float")
	}
	v.Raw = append(v.Raw[:0], data...)
	return nil
}

// numbersFitFloat64 reports whether every number in the valid JSON data
// parses as a float64 without overflow.
func numbersFitFloat64(data []byte) bool {
	if !bytes.ContainsAny(data, "0123456789") {
		return true
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	for {
		tok, err := dec.Token()
		if err != nil {
			return err == io.EOF
		}
		if n, ok := tok.(json.Number); ok {
			if _, err := strconv.ParseFloat(string(n), 64); err != nil {
				return false
			}
		}
	}
}

// FederatedSecretStatus is the observed propagation state.
type FederatedSecretStatus struct {
	// ObservedGeneration is the spec generation the status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// Conditions: Propagated is True only when every placed cluster holds the desired Secret.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// Clusters reports the state in each placed cluster.
	// +optional
	// +listType=map
	// +listMapKey=name
	Clusters []ClusterPropagationStatus `json:"clusters,omitempty"`
}

// PropagationStatus is the per-cluster outcome of propagation.
// +enum
type PropagationStatus string

// ClusterPropagationStatus is the propagation state in one member cluster.
type ClusterPropagationStatus struct {
	// Name of the FederatedCluster.
	Name string `json:"name"`
	// Status is one of Propagated, ClusterNotFound, ClusterNotReady,
	// NamespaceCreationFailed, CreationFailed, UpdateFailed, DeletionFailed,
	// AlreadyExists, OverrideFailed, WaitingForRemoval.
	Status PropagationStatus `json:"status"`
	// Message explains a failure. It never contains a secret value.
	// +optional
	Message string `json:"message,omitempty"`
}

// +genclient
// +genclient:nonNamespaced
// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// FederatedCluster registers a member cluster. Its labels are what
// placement.clusterSelector matches.
type FederatedCluster struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec says how to reach the member cluster.
	// +optional
	Spec FederatedClusterSpec `json:"spec,omitempty"`
	// Status reports the member cluster's health.
	// +optional
	Status FederatedClusterStatus `json:"status,omitempty"`
}

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// FederatedClusterList is a list of FederatedClusters.
type FederatedClusterList struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ListMeta `json:"metadata,omitempty"`

	// Items is the list of FederatedClusters.
	Items []FederatedCluster `json:"items"`
}

// FederatedClusterSpec says how to reach a member cluster.
type FederatedClusterSpec struct {
	// APIEndpoint is the https URL of the member's kube-apiserver.
	APIEndpoint string `json:"apiEndpoint"`
	// CABundle is the PEM bundle that verifies the member's serving certificate.
	// +optional
	CABundle []byte `json:"caBundle,omitempty"`
	// SecretRef names the credentials FederatedSecret in namespace
	// secretfed-system; its key "token" is the bearer token.
	SecretRef LocalSecretReference `json:"secretRef"`
	// InsecureSkipTLSVerify disables verification of the member's serving
	// certificate. Opt-in only; a warning is returned when set.
	// +optional
	InsecureSkipTLSVerify bool `json:"insecureSkipTLSVerify,omitempty"`
	// ProxyURL is an optional http, https or socks5 proxy for the member.
	// +optional
	ProxyURL string `json:"proxyURL,omitempty"`
}

// LocalSecretReference names a FederatedSecret in the secretfed-system namespace.
type LocalSecretReference struct {
	// Name of the credentials FederatedSecret.
	Name string `json:"name"`
}

// FederatedClusterStatus is the observed health of a member cluster.
type FederatedClusterStatus struct {
	// KubernetesVersion is the member's version as its /version reports.
	// +optional
	KubernetesVersion string `json:"kubernetesVersion,omitempty"`
	// Conditions: Ready, with reasons ClusterReady, ClusterNotReady,
	// ClusterNotReachable, Unauthorized, ConfigMalformed.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}
