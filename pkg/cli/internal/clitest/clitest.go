// Package clitest builds fake host and member clusters for the plugin's
// command tests, and looks at them the way the tests' assertions need:
// snapshots of every object the plugin may create, and counts of writes.
package clitest

import (
	"context"
	"encoding/base64"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	kubefake "k8s.io/client-go/kubernetes/fake"
	clienttesting "k8s.io/client-go/testing"

	"github.com/secretfed/secretfed/pkg/apis/secretfed/v1alpha1"
	"github.com/secretfed/secretfed/pkg/cli/clients"
	fedfake "github.com/secretfed/secretfed/pkg/generated/clientset/versioned/fake"
)

const (
	// Token is what the fake TokenRequest API issues. Tests assert it never
	// shows up in output or errors.
	Token = "eyJhbGciOiJSUzI1NiJ9.tok-SECRET-7f3a9c.signature"
	// MemberUID is the UID of the fake member's kube-system namespace.
	MemberUID = "11111111-2222-3333-4444-555555555555"
	// MemberServer and HostServer are the endpoints of the fake clusters.
	MemberServer = "https://member1.example:6443"
	HostServer   = "https://host.example:6443"
)

// MemberCA is the CA bundle the fake member's kubeconfig carries.
var MemberCA = []byte("-----BEGIN CERTIFICATE-----\nMIIfake\n-----END CERTIFICATE-----\n")

// TokenExpiry is the expiry the fake TokenRequest API reports.
var TokenExpiry = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

// Host is a fake host cluster that serves secretfed.io.
type Host struct {
	Kube *kubefake.Clientset
	Fed  *fedfake.Clientset
}

// NewHost returns a host with the given core and secretfed objects.
func NewHost(kubeObjs []runtime.Object, fedObjs ...runtime.Object) *Host {
	// NewSimpleClientset, not NewClientset: the field-managed tracker needs the
	// generated apply-configuration schema to match the OpenAPI model names,
	// which the plugin does not use and its tests should not depend on.
	h := &Host{Kube: kubefake.NewClientset(kubeObjs...), Fed: fedfake.NewSimpleClientset(fedObjs...)}
	h.Fed.Resources = []*metav1.APIResourceList{{
		GroupVersion: v1alpha1.SchemeGroupVersion.String(),
		APIResources: []metav1.APIResource{
			{Name: "federatedclusters", Kind: "FederatedCluster"},
			{Name: "federatedsecrets", Namespaced: true, Kind: "FederatedSecret"},
		},
	}}
	return h
}

// Clients returns the host as the commands take it.
func (h *Host) Clients() *clients.Host {
	return &clients.Host{
		Target:    clients.Target{Role: "host", Context: "host-ctx", Server: HostServer},
		Kube:      h.Kube,
		Secretfed: h.Fed,
	}
}

// Member is a fake member cluster. Its TokenRequest API issues Token for
// ServiceAccounts that exist and records the requests.
type Member struct {
	Kube          *kubefake.Clientset
	TokenRequests []*authenticationv1.TokenRequest
}

// NewMember returns a member holding kube-system (with MemberUID) and objs.
func NewMember(objs ...runtime.Object) *Member {
	kubeSystem := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "kube-system", UID: types.UID(MemberUID)}}
	m := &Member{Kube: kubefake.NewClientset(append([]runtime.Object{kubeSystem}, objs...)...)}
	m.Kube.PrependReactor("create", "serviceaccounts", func(action clienttesting.Action) (bool, runtime.Object, error) {
		create := action.(clienttesting.CreateAction)
		if create.GetSubresource() != "token" {
			return false, nil, nil
		}
		name := create.(clienttesting.CreateActionImpl).Name
		sa := corev1.SchemeGroupVersion.WithResource("serviceaccounts")
		if _, err := m.Kube.Tracker().Get(sa, action.GetNamespace(), name); err != nil {
			return true, nil, err
		}
		req := create.GetObject().(*authenticationv1.TokenRequest).DeepCopy()
		m.TokenRequests = append(m.TokenRequests, req.DeepCopy())
		req.Status = authenticationv1.TokenRequestStatus{Token: Token, ExpirationTimestamp: metav1.NewTime(TokenExpiry)}
		return true, req, nil
	})
	return m
}

// Clients returns the member as the commands take it.
func (m *Member) Clients() *clients.Member {
	return &clients.Member{
		Target:  clients.Target{Role: "member", Context: "member1-ctx", Server: MemberServer},
		Kube:    m.Kube,
		Cluster: clients.Cluster{Server: MemberServer, CAData: MemberCA},
	}
}

// Unreachable is the error client-go returns when nothing answers at MemberServer.
func Unreachable(path string) error {
	return &url.Error{Op: "Get", URL: MemberServer + path, Err: &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}}
}

// Fail returns a reactor failing every verb on resource with err.
func Fail(err error) clienttesting.ReactionFunc {
	return func(clienttesting.Action) (bool, runtime.Object, error) { return true, nil, err }
}

// Snapshot lists, as "side Kind namespace/name" lines, every object of a kind
// join or unjoin may create or delete, on both sides.
func Snapshot(t *testing.T, h *Host, m *Member) []string {
	t.Helper()
	ctx := context.Background()
	var out []string
	add := func(side, kind string, metas []metav1.Object, err error) {
		if err != nil {
			t.Fatalf("snapshot %s %s: %v", side, kind, err)
		}
		for _, o := range metas {
			key := o.GetName()
			if o.GetNamespace() != "" {
				key = o.GetNamespace() + "/" + key
			}
			out = append(out, fmt.Sprintf("%s %s %s", side, kind, key))
		}
	}
	if m != nil {
		k := m.Kube
		ns, err := k.CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
		add("member", "Namespace", metas(ns, err), err)
		sas, err := k.CoreV1().ServiceAccounts("").List(ctx, metav1.ListOptions{})
		add("member", "ServiceAccount", metas(sas, err), err)
		secrets, err := k.CoreV1().Secrets("").List(ctx, metav1.ListOptions{})
		add("member", "Secret", metas(secrets, err), err)
		crs, err := k.RbacV1().ClusterRoles().List(ctx, metav1.ListOptions{})
		add("member", "ClusterRole", metas(crs, err), err)
		crbs, err := k.RbacV1().ClusterRoleBindings().List(ctx, metav1.ListOptions{})
		add("member", "ClusterRoleBinding", metas(crbs, err), err)
		roles, err := k.RbacV1().Roles("").List(ctx, metav1.ListOptions{})
		add("member", "Role", metas(roles, err), err)
		rbs, err := k.RbacV1().RoleBindings("").List(ctx, metav1.ListOptions{})
		add("member", "RoleBinding", metas(rbs, err), err)
	}
	if h != nil {
		ns, err := h.Kube.CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
		add("host", "Namespace", metas(ns, err), err)
		fss, err := h.Fed.SecretfedV1alpha1().FederatedSecrets("").List(ctx, metav1.ListOptions{})
		add("host", "FederatedSecret", metas(fss, err), err)
		fcs, err := h.Fed.SecretfedV1alpha1().FederatedClusters().List(ctx, metav1.ListOptions{})
		add("host", "FederatedCluster", metas(fcs, err), err)
	}
	slices.Sort(out)
	return out
}

func metas(list runtime.Object, err error) []metav1.Object {
	if err != nil {
		return nil
	}
	objs, err := meta.ExtractList(list)
	if err != nil {
		panic(err)
	}
	out := make([]metav1.Object, 0, len(objs))
	for _, o := range objs {
		out = append(out, o.(metav1.Object))
	}
	return out
}

// Writes lists the mutating actions a fake received, as "verb resource[/subresource]".
func Writes(f *clienttesting.Fake) []string {
	var out []string
	for _, a := range f.Actions() {
		switch a.GetVerb() {
		case "get", "list", "watch":
			continue
		}
		r := a.GetResource().Resource
		if a.GetSubresource() != "" {
			r += "/" + a.GetSubresource()
		}
		out = append(out, a.GetVerb()+" "+r)
	}
	return out
}

// AssertNoToken fails the test if Token, raw or base64-encoded, appears in any of texts.
func AssertNoToken(t *testing.T, texts ...string) {
	t.Helper()
	forms := []string{
		Token,
		base64.StdEncoding.EncodeToString([]byte(Token)),
		base64.RawStdEncoding.EncodeToString([]byte(Token)),
		"tok-SECRET", // the distinctive middle, in case a message truncates or re-encodes the rest
	}
	for _, text := range texts {
		for _, f := range forms {
			if strings.Contains(text, f) {
				t.Errorf("the token leaked into output or an error:\n%s", text)
			}
		}
	}
}

// ErrString is err's message, or "" for nil.
func ErrString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
