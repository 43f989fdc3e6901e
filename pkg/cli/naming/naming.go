// Package naming is the contract between the kubectl-secretfed plugin and the
// secretfed server: the names join gives to the objects it creates, the labels
// that mark them, and the annotations the server reads to renew tokens and to
// honour --keep-secrets. It holds no logic beyond deriving names and checking
// ownership, so that join, unjoin and status cannot disagree about them.
package naming

import (
	"fmt"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/secretfed/secretfed/pkg/apis/secretfed/v1alpha1"
)

// Labels on every object join creates, in the member and in the host.
const (
	// ManagedByLabel is the recommended Kubernetes label naming the tool that manages an object.
	ManagedByLabel = "app.kubernetes.io/managed-by"
	// ManagedByValue is the value of ManagedByLabel on objects join creates.
	ManagedByValue = "secretfed"
	// ClusterLabel names the FederatedCluster an object was created for.
	ClusterLabel = "secretfed.io/cluster"
)

// Annotations read or written by join, unjoin and the server.
const (
	// ClusterIDAnnotation on a FederatedCluster holds the UID of the member's
	// kube-system namespace, which identifies the member whatever its endpoint.
	// join refuses to join the same member under a second name.
	ClusterIDAnnotation = "secretfed.io/cluster-id"
	// KeepSecretsAnnotation ("true") on a FederatedCluster being deleted tells
	// the server to leave the Secrets it propagated to that member in place and
	// only remove their secretfed.io/managed label.
	KeepSecretsAnnotation = "secretfed.io/keep-secrets"
	// TokenExpiryAnnotation on a credentials FederatedSecret is the RFC 3339
	// time at which its bearer token expires; the server renews it before then.
	TokenExpiryAnnotation = "secretfed.io/token-expiry"
	// ServiceAccountAnnotation on a credentials FederatedSecret is the
	// "namespace/name" of the member ServiceAccount the token belongs to; the
	// server renews the token through that ServiceAccount's TokenRequest API.
	ServiceAccountAnnotation = "secretfed.io/service-account"
)

// ServiceAccount is the member ServiceAccount (in secretfed-system) whose token
// the server uses for the cluster.
func ServiceAccount(cluster string) string { return "secretfed-" + cluster }

// ServiceAccountRef is the value of ServiceAccountAnnotation for the cluster.
func ServiceAccountRef(cluster string) string {
	return v1alpha1.SystemNamespace + "/" + ServiceAccount(cluster)
}

// RBAC is the name of the member ClusterRole, ClusterRoleBinding, Role and
// RoleBinding join creates for the cluster.
func RBAC(cluster string) string { return "secretfed:member:" + cluster }

// Credentials is the name of the credentials FederatedSecret in the host's
// secretfed-system namespace.
func Credentials(cluster string) string { return cluster + "-credentials" }

// Labels returns the labels join puts on every object it creates for the cluster.
func Labels(cluster string) map[string]string {
	return map[string]string{ManagedByLabel: ManagedByValue, ClusterLabel: cluster}
}

// Selector is a label selector matching the objects join created for the cluster.
func Selector(cluster string) string {
	return ManagedByLabel + "=" + ManagedByValue + "," + ClusterLabel + "=" + cluster
}

// OwnedBy reports whether obj carries the labels join puts on objects for the cluster.
// Join takes such objects over and unjoin deletes them; anything else is left alone.
func OwnedBy(obj metav1.Object, cluster string) bool {
	l := obj.GetLabels()
	return l[ManagedByLabel] == ManagedByValue && l[ClusterLabel] == cluster
}

// ValidateClusterName checks that name can be a FederatedCluster name: a
// DNS-1123 label, because it also becomes part of label values and object names.
func ValidateClusterName(name string) error {
	if name == "" {
		return fmt.Errorf("a cluster name is required")
	}
	if errs := validation.IsDNS1123Label(name); len(errs) > 0 {
		return fmt.Errorf("invalid cluster name %q: %s", name, strings.Join(errs, "; "))
	}
	return nil
}
