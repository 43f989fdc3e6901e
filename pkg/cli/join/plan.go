package join

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/cli-runtime/pkg/printers"
	"k8s.io/client-go/kubernetes"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"

	"github.com/secretfed/secretfed/pkg/apis/secretfed/v1alpha1"
	"github.com/secretfed/secretfed/pkg/cli/clients"
	"github.com/secretfed/secretfed/pkg/cli/naming"
)

// rollbackTimeout bounds the undo of a failed join. Rollback runs even when
// the join was interrupted, so it gets a context of its own.
const rollbackTimeout = time.Minute

// state carries what one step produces for a later one. The token lives
// only here, in memory, between the TokenRequest and the credentials write.
type state struct {
	token  string
	expiry time.Time
}

type verb string

const (
	verbCreate  verb = "create"
	verbUpdate  verb = "update"  // left over from an earlier join of the same name
	verbKeep    verb = "keep"    // already there; join neither changes nor removes it
	verbRequest verb = "request" // the TokenRequest: nothing to undo but the ServiceAccount
)

// step is one change on one side. undo is set only for objects the step
// creates (but not for the system namespace, see namespaceStep): rollback
// removes what this join created and nothing else.
type step struct {
	target clients.Target
	kind   string
	key    string // name, or namespace/name
	verb   verb
	note   string
	do     func(ctx context.Context) error
	undo   func(ctx context.Context) error
}

func (s *step) String() string { return s.kind + " " + s.key }

// plan is the ordered list of changes: member first (the token is needed for
// the credentials), then the host, the FederatedCluster last so the server
// only sees a cluster whose credentials are already there.
type plan struct {
	cluster  string
	endpoint string
	steps    []*step
	warnings []string
}

// plan checks everything that can be checked without changing anything and
// returns the steps. Every failure rule of join that does not depend on a
// write is enforced here, before the first write on either side.
func (o *Options) plan(ctx context.Context, st *state) (*plan, error) {
	host, member := o.Host, o.Member
	p := &plan{cluster: o.Name}

	if err := clients.CheckSecretfedAPI(ctx, host.Secretfed.Discovery(), host.Target); err != nil {
		return nil, err
	}
	fcs := host.Secretfed.SecretfedV1alpha1().FederatedClusters()
	switch _, err := fcs.Get(ctx, o.Name, metav1.GetOptions{}); {
	case err == nil:
		return nil, fmt.Errorf("cluster %q is already joined (FederatedCluster %q exists on the %s); unjoin it first or choose another name", o.Name, o.Name, host.Target)
	case !apierrors.IsNotFound(err):
		return nil, p.explain(err, host.Target, fmt.Sprintf("get FederatedCluster %q", o.Name))
	}

	kubeSystem, err := member.Kube.CoreV1().Namespaces().Get(ctx, metav1.NamespaceSystem, metav1.GetOptions{})
	if err != nil {
		return nil, p.explain(err, member.Target, "get namespace kube-system (which identifies the member)")
	}
	clusterID := string(kubeSystem.UID)
	if clusterID != "" {
		all, err := fcs.List(ctx, metav1.ListOptions{})
		if err != nil {
			return nil, p.explain(err, host.Target, "list FederatedClusters")
		}
		for _, fc := range all.Items {
			if fc.Annotations[naming.ClusterIDAnnotation] == clusterID {
				return nil, fmt.Errorf("the %s is already joined as %q (same kube-system namespace UID %s); unjoin %q first to join it as %q",
					member.Target, fc.Name, clusterID, fc.Name, o.Name)
			}
		}
	}

	p.endpoint = o.APIEndpoint
	if p.endpoint == "" {
		p.endpoint = member.Cluster.Server
		if err := validateEndpoint(p.endpoint); err != nil {
			return nil, fmt.Errorf("the server of member context %q cannot be used as the FederatedCluster apiEndpoint: %w; pass --api-endpoint", member.Target.Context, err)
		}
	}
	p.warnings = o.endpointWarnings(p.endpoint)

	if err := o.planMember(ctx, p, st); err != nil {
		return nil, err
	}
	if err := o.planHost(ctx, p, st, clusterSpec{
		Endpoint:  p.endpoint,
		CAData:    member.Cluster.CAData,
		ProxyURL:  member.Cluster.ProxyURL,
		Insecure:  o.InsecureSkipTLSVerify,
		Labels:    o.Labels,
		ClusterID: clusterID,
	}); err != nil {
		return nil, err
	}
	return p, nil
}

func (o *Options) planMember(ctx context.Context, p *plan, st *state) error {
	t, kube, rbac := o.Member.Target, o.Member.Kube, o.Member.Kube.RbacV1()
	ns := v1alpha1.SystemNamespace
	objs := desiredMemberObjects(o.Name)

	// One at a time: the first failure (say, an unreachable member) ends the planning.
	for _, next := range []func() (*step, error){
		func() (*step, error) { return namespaceStep(ctx, p, t, kube, objs.Namespace) },
		func() (*step, error) {
			return objectStep(ctx, p, t, "ServiceAccount", kube.CoreV1().ServiceAccounts(ns), objs.ServiceAccount.DeepCopy)
		},
		func() (*step, error) {
			return objectStep(ctx, p, t, "ClusterRole", rbac.ClusterRoles(), objs.ClusterRole.DeepCopy)
		},
		func() (*step, error) {
			return objectStep(ctx, p, t, "ClusterRoleBinding", rbac.ClusterRoleBindings(), objs.ClusterRoleBinding.DeepCopy)
		},
		func() (*step, error) { return objectStep(ctx, p, t, "Role", rbac.Roles(ns), objs.Role.DeepCopy) },
		func() (*step, error) {
			return objectStep(ctx, p, t, "RoleBinding", rbac.RoleBindings(ns), objs.RoleBinding.DeepCopy)
		},
	} {
		s, err := next()
		if err != nil {
			return err
		}
		p.steps = append(p.steps, s)
	}
	p.steps = append(p.steps, tokenStep(t, kube, o.Name, o.TokenTTL, st))
	return nil
}

func (o *Options) planHost(ctx context.Context, p *plan, st *state, spec clusterSpec) error {
	t, fed := o.Host.Target, o.Host.Secretfed.SecretfedV1alpha1()
	hostNS := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
		Name:   v1alpha1.SystemNamespace,
		Labels: map[string]string{naming.ManagedByLabel: naming.ManagedByValue},
	}}
	nsStep, err := namespaceStep(ctx, p, t, o.Host.Kube, hostNS)
	if err != nil {
		return err
	}
	credStep, err := objectStep(ctx, p, t, "FederatedSecret", fed.FederatedSecrets(v1alpha1.SystemNamespace),
		func() *v1alpha1.FederatedSecret { return credentials(o.Name, st.token, st.expiry) })
	if err != nil {
		return err
	}
	credStep.note = "holds the member token; no placement"
	fcStep, err := objectStep(ctx, p, t, "FederatedCluster", fed.FederatedClusters(),
		func() *v1alpha1.FederatedCluster { return federatedCluster(o.Name, spec) })
	if err != nil {
		return err
	}
	fcStep.note = "apiEndpoint " + spec.Endpoint
	if len(spec.Labels) > 0 {
		fcStep.note += ", labels " + labelsString(spec.Labels)
	}
	p.steps = append(p.steps, nsStep, credStep, fcStep)
	return nil
}

// objectClient is what every typed client offers for one kind.
type objectClient[T metav1.Object] interface {
	Get(ctx context.Context, name string, opts metav1.GetOptions) (T, error)
	Create(ctx context.Context, obj T, opts metav1.CreateOptions) (T, error)
	Update(ctx context.Context, obj T, opts metav1.UpdateOptions) (T, error)
	Delete(ctx context.Context, name string, opts metav1.DeleteOptions) error
}

// objectStep looks the object up and returns the step that brings it about:
// create when missing; update when it carries join's labels for this cluster
// (left over from an interrupted join or unjoin); an error naming the object
// when anything else already has its name. build runs again when the step
// runs, so it may use what earlier steps produced.
func objectStep[T metav1.Object](ctx context.Context, p *plan, t clients.Target, kind string, c objectClient[T], build func() T) (*step, error) {
	probe := build()
	name := probe.GetName()
	s := &step{target: t, kind: kind, key: objectKey(probe.GetNamespace(), name)}
	existing, err := c.Get(ctx, name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		s.verb = verbCreate
		s.do = func(ctx context.Context) error {
			_, err := c.Create(ctx, build(), metav1.CreateOptions{})
			return err
		}
		s.undo = func(ctx context.Context) error {
			return c.Delete(ctx, name, metav1.DeleteOptions{})
		}
	case err != nil:
		return nil, p.explain(err, t, fmt.Sprintf("get %s %q", kind, s.key))
	case naming.OwnedBy(existing, p.cluster):
		s.verb = verbUpdate
		s.note = fmt.Sprintf("left over from an earlier join of %q", p.cluster)
		resourceVersion := existing.GetResourceVersion()
		s.do = func(ctx context.Context) error {
			obj := build()
			obj.SetResourceVersion(resourceVersion)
			_, err := c.Update(ctx, obj, metav1.UpdateOptions{})
			return err
		}
	default:
		return nil, fmt.Errorf("the %s already has %s %q, which was not created by join for %q (it lacks the labels %s); remove it or choose another cluster name",
			t, kind, s.key, p.cluster, naming.Selector(p.cluster))
	}
	return s, nil
}

// namespaceStep keeps an existing namespace as it is, whoever made it, and
// creates a missing one.
//
// The step has no undo, and unjoin leaves the namespace too: secretfed-system
// is secretfed's system namespace on every cluster (on the host it also holds
// the other members' credentials), and deleting a namespace is asynchronous,
// so a retry right after a rollback would find it terminating and fail.
// Where no namespace controller runs (the local test bed), it would stay
// terminating for good and block every later join.
func namespaceStep(ctx context.Context, p *plan, t clients.Target, kube kubernetes.Interface, desired *corev1.Namespace) (*step, error) {
	nss := kube.CoreV1().Namespaces()
	s := &step{target: t, kind: "Namespace", key: desired.Name}
	existing, err := nss.Get(ctx, desired.Name, metav1.GetOptions{})
	terminating := false
	switch {
	case err == nil && existing.DeletionTimestamp == nil:
		s.verb, s.note = verbKeep, "exists"
		return s, nil
	case err == nil:
		// Typically the namespace a rolled-back join or an unjoin just deleted.
		terminating = true
		s.note = fmt.Sprintf("being deleted; join waits up to %s for it to go, then creates it", namespaceTerminationTimeout)
	case !apierrors.IsNotFound(err):
		return nil, p.explain(err, t, fmt.Sprintf("get namespace %q", desired.Name))
	}
	s.verb = verbCreate
	if s.note == "" {
		s.note = "system namespace: rollback and unjoin keep it"
	}
	s.do = func(ctx context.Context) error {
		if terminating {
			if err := waitNamespaceGone(ctx, nss, desired.Name); err != nil {
				return err
			}
		}
		_, err := nss.Create(ctx, desired.DeepCopy(), metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			return nil // created meanwhile by someone else
		}
		return err
	}
	return s, nil
}

// namespaceTerminationTimeout bounds the wait for a terminating namespace;
// an empty one goes within seconds.
var namespaceTerminationTimeout = time.Minute

func waitNamespaceGone(ctx context.Context, nss typedcorev1.NamespaceInterface, name string) error {
	err := wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, namespaceTerminationTimeout, true, func(ctx context.Context) (bool, error) {
		_, err := nss.Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return true, nil
		}
		return false, nil // still there, or a transient error: the timeout decides
	})
	if err != nil && ctx.Err() == nil {
		return fmt.Errorf("namespace %q is still being deleted after %s; join again once it is gone", name, namespaceTerminationTimeout)
	}
	return err
}

// tokenStep asks the TokenRequest API for a bounded token. There is nothing
// to undo: deleting the ServiceAccount on rollback invalidates the token.
func tokenStep(t clients.Target, kube kubernetes.Interface, cluster string, ttl time.Duration, st *state) *step {
	ns, sa := v1alpha1.SystemNamespace, naming.ServiceAccount(cluster)
	return &step{
		target: t, kind: "TokenRequest", key: objectKey(ns, sa), verb: verbRequest,
		note: "for ServiceAccount " + sa + ", valid " + ttl.String(),
		do: func(ctx context.Context) error {
			seconds := int64(ttl / time.Second)
			tr, err := kube.CoreV1().ServiceAccounts(ns).CreateToken(ctx, sa, &authenticationv1.TokenRequest{
				Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &seconds},
			}, metav1.CreateOptions{})
			if err != nil {
				return err
			}
			if tr.Status.Token == "" {
				return fmt.Errorf("the TokenRequest API returned no token")
			}
			st.token = tr.Status.Token
			st.expiry = tr.Status.ExpirationTimestamp.Time
			if st.expiry.IsZero() {
				st.expiry = time.Now().Add(ttl)
			}
			return nil
		},
	}
}

// explain makes a one-line error and, for a refusal, says what rights join needs.
func (p *plan) explain(err error, t clients.Target, action string) error {
	err = clients.Explain(err, t, action)
	// Forbidden also means "namespace terminating", which no rights fix.
	if apierrors.IsForbidden(err) && !apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
		if t.Role == "member" {
			return fmt.Errorf("%w; join needs cluster-admin-like rights on the member cluster", err)
		}
		return fmt.Errorf("%w; join needs rights on the host to read and create namespaces, FederatedSecrets and FederatedClusters", err)
	}
	return err
}

// execute runs the steps in order; when one fails, it undoes the steps done
// so far in reverse order and reports both the failure and the rollback.
func (p *plan) execute(ctx context.Context, out, errOut io.Writer) error {
	var done []*step
	for _, s := range p.steps {
		if s.do == nil {
			fmt.Fprintf(out, "%s: %s %s (%s)\n", s.target.Role, s, "kept", s.note)
			continue
		}
		if err := s.do(ctx); err != nil {
			failure := p.explain(err, s.target, fmt.Sprintf("%s %s %q", s.verb, s.kind, s.key))
			leftovers := p.rollback(ctx, done, errOut)
			if len(leftovers) == 0 {
				return fmt.Errorf("%w; the changes join had made were rolled back", failure)
			}
			return fmt.Errorf("%w; rollback could not remove: %s; delete them by hand (they carry the labels %s)",
				failure, strings.Join(leftovers, "; "), naming.Selector(p.cluster))
		}
		done = append(done, s)
		switch s.verb {
		case verbRequest:
			fmt.Fprintf(out, "%s: requested a token for ServiceAccount %s, valid until the secretfed server renews it\n", s.target.Role, s.key)
		case verbUpdate:
			fmt.Fprintf(out, "%s: %s updated (%s)\n", s.target.Role, s, s.note)
		default:
			fmt.Fprintf(out, "%s: %s created\n", s.target.Role, s)
		}
	}
	return nil
}

// rollback undoes done in reverse order and returns what it could not remove.
func (p *plan) rollback(ctx context.Context, done []*step, errOut io.Writer) []string {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), rollbackTimeout)
	defer cancel()
	var leftovers []string
	for i := len(done) - 1; i >= 0; i-- {
		s := done[i]
		if s.undo == nil {
			continue
		}
		if err := s.undo(ctx); err != nil && !apierrors.IsNotFound(err) {
			leftovers = append(leftovers, fmt.Sprintf("%s %s (%v)", s.target, s, clients.Explain(err, s.target, "delete "+s.String())))
			continue
		}
		fmt.Fprintf(errOut, "rolled back: %s: %s deleted\n", s.target.Role, s)
	}
	return leftovers
}

// print writes the plan for --dry-run, grouped by cluster.
func (p *plan) print(out io.Writer) {
	fmt.Fprintf(out, "Dry run: join of cluster %q would make these changes (nothing was changed):\n", p.cluster)
	w := printers.GetNewTabWriter(out)
	var current clients.Target
	for _, s := range p.steps {
		if s.target != current {
			current = s.target
			fmt.Fprintf(w, "%s:\n", current)
		}
		note := s.note
		if s.verb == verbKeep {
			note += ", left as it is"
		}
		fmt.Fprintf(w, "  %s\t%s\t%s\t%s\n", s.verb, s.kind, s.key, note)
	}
	_ = w.Flush()
}

func objectKey(namespace, name string) string {
	if namespace == "" {
		return name
	}
	return namespace + "/" + name
}
