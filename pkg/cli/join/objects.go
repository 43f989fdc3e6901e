package join

import (
	"maps"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/secretfed/secretfed/pkg/apis/secretfed/v1alpha1"
	"github.com/secretfed/secretfed/pkg/cli/naming"
)

// MemberRules are everything the secretfed server may do cluster-wide in a
// member: manage Secrets, create the namespaces they go into, and probe
// health and version. Nothing else, and never a wildcard.
func MemberRules() []rbacv1.PolicyRule {
	return []rbacv1.PolicyRule{
		{
			APIGroups: []string{""},
			Resources: []string{"secrets"},
			Verbs:     []string{"get", "list", "watch", "create", "update", "patch", "delete"},
		},
		{
			APIGroups: []string{""},
			Resources: []string{"namespaces"},
			Verbs:     []string{"get", "list", "watch", "create"},
		},
		{
			NonResourceURLs: []string{"/healthz", "/livez", "/readyz", "/version"},
			Verbs:           []string{"get"},
		},
	}
}

// TokenRules let the server renew its own token, and no other ServiceAccount's.
func TokenRules(cluster string) []rbacv1.PolicyRule {
	return []rbacv1.PolicyRule{{
		APIGroups:     []string{""},
		Resources:     []string{"serviceaccounts/token"},
		Verbs:         []string{"create"},
		ResourceNames: []string{naming.ServiceAccount(cluster)},
	}}
}

// memberObjects are the objects join creates in the member, in creation order.
type memberObjects struct {
	Namespace          *corev1.Namespace
	ServiceAccount     *corev1.ServiceAccount
	ClusterRole        *rbacv1.ClusterRole
	ClusterRoleBinding *rbacv1.ClusterRoleBinding
	Role               *rbacv1.Role
	RoleBinding        *rbacv1.RoleBinding
}

// desiredMemberObjects builds the member objects for cluster.
func desiredMemberObjects(cluster string) memberObjects {
	ns := v1alpha1.SystemNamespace
	sa := naming.ServiceAccount(cluster)
	rbac := naming.RBAC(cluster)
	meta := func(namespace, name string) metav1.ObjectMeta {
		return metav1.ObjectMeta{Namespace: namespace, Name: name, Labels: naming.Labels(cluster)}
	}
	subjects := []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: ns, Name: sa}}

	objs := memberObjects{
		// The namespace outlives this join (see namespaceStep), so it is not
		// labelled with the cluster name.
		Namespace: &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
			Name:   ns,
			Labels: map[string]string{naming.ManagedByLabel: naming.ManagedByValue},
		}},
		ServiceAccount: &corev1.ServiceAccount{ObjectMeta: meta(ns, sa)},
		ClusterRole:    &rbacv1.ClusterRole{ObjectMeta: meta("", rbac), Rules: MemberRules()},
		ClusterRoleBinding: &rbacv1.ClusterRoleBinding{
			ObjectMeta: meta("", rbac),
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: rbac},
			Subjects:   subjects,
		},
		Role: &rbacv1.Role{ObjectMeta: meta(ns, rbac), Rules: TokenRules(cluster)},
		RoleBinding: &rbacv1.RoleBinding{
			ObjectMeta: meta(ns, rbac),
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: rbac},
			Subjects:   subjects,
		},
	}
	return objs
}

// credentials is the FederatedSecret holding the member token. It has no
// placement, so it is stored (encrypted) and propagated nowhere.
func credentials(cluster, token string, expiry time.Time) *v1alpha1.FederatedSecret {
	return &v1alpha1.FederatedSecret{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: v1alpha1.SystemNamespace,
			Name:      naming.Credentials(cluster),
			Labels:    naming.Labels(cluster),
			Annotations: map[string]string{
				naming.TokenExpiryAnnotation:    expiry.UTC().Format(time.RFC3339),
				naming.ServiceAccountAnnotation: naming.ServiceAccountRef(cluster),
			},
		},
		Spec: v1alpha1.FederatedSecretSpec{
			Template: v1alpha1.SecretTemplate{
				Type: string(corev1.SecretTypeOpaque),
				Data: map[string][]byte{v1alpha1.CredentialsTokenKey: []byte(token)},
			},
		},
	}
}

// clusterSpec is what join learned about how the server should reach the member.
type clusterSpec struct {
	Endpoint string
	CAData   []byte
	ProxyURL string
	Insecure bool
	Labels   map[string]string
	// ClusterID is the UID of the member's kube-system namespace.
	ClusterID string
}

func federatedCluster(cluster string, s clusterSpec) *v1alpha1.FederatedCluster {
	return &v1alpha1.FederatedCluster{
		ObjectMeta: metav1.ObjectMeta{
			Name:        cluster,
			Labels:      maps.Clone(s.Labels),
			Annotations: map[string]string{naming.ClusterIDAnnotation: s.ClusterID},
		},
		Spec: v1alpha1.FederatedClusterSpec{
			APIEndpoint:           s.Endpoint,
			CABundle:              s.CAData,
			SecretRef:             v1alpha1.LocalSecretReference{Name: naming.Credentials(cluster)},
			InsecureSkipTLSVerify: s.Insecure,
			ProxyURL:              s.ProxyURL,
		},
	}
}
