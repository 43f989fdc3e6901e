// Package unjoin implements `kubectl secretfed unjoin`: it removes a member
// cluster from the federation and undoes what join created. The server's
// finalizer on the FederatedCluster removes (or, with --keep-secrets,
// unlabels) the Secrets it placed in the member; unjoin waits for that, does
// the same from the client as a fallback, then deletes the credentials and
// the member's ServiceAccount and RBAC. Each step tolerates work already
// done, so an interrupted unjoin can simply be run again while the
// FederatedCluster still exists.
package unjoin

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/util/retry"

	"github.com/secretfed/secretfed/pkg/apis/secretfed/v1alpha1"
	"github.com/secretfed/secretfed/pkg/cli/clients"
	"github.com/secretfed/secretfed/pkg/cli/naming"
)

// DefaultTimeout bounds the wait for the server to finish with the FederatedCluster.
const DefaultTimeout = 60 * time.Second

// Options are the inputs of unjoin.
type Options struct {
	// Name of the FederatedCluster.
	Name string
	// ClusterContext is the kubeconfig context of the member.
	ClusterContext string
	// KeepSecrets leaves the propagated Secrets in the member, without the managed label.
	KeepSecrets bool
	// Force unjoins even when the member cannot be cleaned up: it removes the
	// FederatedCluster's finalizer when the member is unreachable or the
	// server does not finish in time, and skips the member with a warning.
	Force bool
	// Timeout bounds the wait for the FederatedCluster to disappear.
	Timeout time.Duration
	// PollInterval is how often the FederatedCluster is checked while waiting.
	PollInterval time.Duration

	// Host and Member are built from the kubeconfig by Run when nil; tests set them.
	Host   *clients.Host
	Member *clients.Member

	flags *clients.Flags
	genericiooptions.IOStreams
}

// NewOptions returns Options with their defaults.
func NewOptions(streams genericiooptions.IOStreams) *Options {
	return &Options{Timeout: DefaultTimeout, PollInterval: time.Second, IOStreams: streams}
}

// NewCmd returns the unjoin command.
func NewCmd(flags *clients.Flags, streams genericiooptions.IOStreams) *cobra.Command {
	o := NewOptions(streams)
	cmd := &cobra.Command{
		Use:   "unjoin NAME --cluster-context CONTEXT",
		Short: "Remove a member cluster from the federation",
		Long: `Remove the member cluster NAME from the federation and undo what join created.

The FederatedCluster is deleted first; the secretfed server then removes the
Secrets it propagated to the member (with --keep-secrets it leaves them and only
removes their secretfed.io/managed label), and unjoin waits for it (--timeout).
unjoin then does the same from here for any Secret still labelled, deletes the
credentials FederatedSecret, and in the member the ServiceAccount and RBAC
objects join created. The secretfed-system namespaces stay: they are
secretfed's system namespaces.

With --force, an unreachable member does not stop unjoin: the FederatedCluster's
finalizer is removed so its deletion completes, and the member is left as it is
(the command prints how to clean it up later).`,
		Example: `  kubectl secretfed unjoin member1 --cluster-context kind-member1
  kubectl secretfed unjoin member1 --cluster-context kind-member1 --keep-secrets
  kubectl secretfed unjoin member1 --cluster-context kind-member1 --force`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.Complete(flags, args); err != nil {
				return err
			}
			if err := o.Validate(); err != nil {
				return err
			}
			return o.Run(cmd.Context())
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&o.ClusterContext, "cluster-context", o.ClusterContext, "kubeconfig context of the member cluster (required)")
	fs.BoolVar(&o.KeepSecrets, "keep-secrets", o.KeepSecrets, "leave the Secrets secretfed propagated to the member in place, no longer managed")
	fs.BoolVar(&o.Force, "force", o.Force, "unjoin even if the member is unreachable or its Secrets cannot be removed in time; the member is then not cleaned up")
	fs.DurationVar(&o.Timeout, "timeout", o.Timeout, "how long to wait for the secretfed server to release the FederatedCluster")
	_ = cmd.MarkFlagRequired("cluster-context")
	return cmd
}

// Complete takes the cluster name from args. It sends no request.
func (o *Options) Complete(flags *clients.Flags, args []string) error {
	if len(args) != 1 {
		return fmt.Errorf("exactly one cluster NAME is required")
	}
	o.Name = args[0]
	o.flags = flags
	return nil
}

// Validate checks the inputs without touching any cluster.
func (o *Options) Validate() error {
	if err := naming.ValidateClusterName(o.Name); err != nil {
		return err
	}
	if o.ClusterContext == "" && o.Member == nil {
		return fmt.Errorf("--cluster-context is required: the kubeconfig context of the member cluster")
	}
	if o.Timeout <= 0 {
		return fmt.Errorf("--timeout must be positive")
	}
	return nil
}

// errWrongCluster marks a member context that is not the joined cluster.
var errWrongCluster = errors.New("is not the cluster joined")

// memberState says how far unjoin may go in the member.
type memberState int

const (
	memberOK          memberState = iota
	memberUnreachable             // skipped; the server cannot clean it either, so the finalizer goes
	memberSkipped                 // skipped for another reason (refused, or not the joined cluster)
)

// Run unjoins the cluster.
func (o *Options) Run(ctx context.Context) error {
	if err := o.connect(); err != nil {
		return err
	}
	host := o.Host
	if err := clients.CheckSecretfedAPI(ctx, host.Secretfed.Discovery(), host.Target); err != nil {
		return err
	}
	fcs := host.Secretfed.SecretfedV1alpha1().FederatedClusters()
	fc, err := fcs.Get(ctx, o.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return fmt.Errorf("cluster %q is not joined: there is no FederatedCluster %q on the %s", o.Name, o.Name, host.Target)
	}
	if err != nil {
		return clients.Explain(err, host.Target, fmt.Sprintf("get FederatedCluster %q", o.Name))
	}

	member := memberOK
	memberContext := o.Member.Target.Context
	if err := o.checkMember(ctx, fc); err != nil {
		if !o.Force {
			if clients.IsUnreachable(err) {
				return fmt.Errorf("%w; unjoin cleans up the member, so retry when it is reachable, or pass --force to unjoin without cleaning it up", err)
			}
			return err
		}
		member = memberSkipped
		if clients.IsUnreachable(err) {
			member = memberUnreachable
		}
		if errors.Is(err, errWrongCluster) {
			memberContext = "CONTEXT-OF-" + o.Name
		}
		fmt.Fprintf(o.ErrOut, "Warning: %v\nWarning: --force: unjoining without cleaning up the member\n", err)
	}

	if err := o.setKeepSecrets(ctx, fc); err != nil {
		return err
	}
	if err := fcs.Delete(ctx, o.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		return clients.Explain(err, host.Target, fmt.Sprintf("delete FederatedCluster %q", o.Name))
	}
	if member == memberUnreachable {
		// The server cannot reach the member either, so its finalizer would never finish.
		if err := o.removeFinalizer(ctx); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(o.Out, "host: FederatedCluster %s deleted; waiting up to %s for the secretfed server to %s\n",
			o.Name, o.Timeout, o.serverTask())
	}
	if err := o.waitGone(ctx); err != nil {
		return err
	}
	fmt.Fprintf(o.Out, "host: FederatedCluster %s removed\n", o.Name)

	var errs []error
	if member == memberOK {
		errs = append(errs, o.cleanSecrets(ctx))
	}
	errs = append(errs, o.deleteCredentials(ctx, fc))
	if member == memberOK {
		errs = append(errs, o.deleteMemberObjects(ctx)...)
	} else {
		fmt.Fprint(o.ErrOut, o.manualCleanup(memberContext))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("cluster %q is no longer joined, but cleanup is incomplete: %s", o.Name, strings.ReplaceAll(err.Error(), "\n", "; "))
	}
	fmt.Fprintf(o.Out, "cluster %q unjoined\n", o.Name)
	return nil
}

func (o *Options) connect() error {
	var err error
	if o.Host == nil {
		if o.Host, err = o.flags.ConnectHost(); err != nil {
			return err
		}
	}
	if o.Member == nil {
		if o.Member, err = o.flags.ConnectMember(o.ClusterContext); err != nil {
			return err
		}
	}
	return nil
}

// checkMember makes sure the member answers and is the cluster that was
// joined under this name: cleaning up the wrong cluster would delete Secrets
// that belong to another federation member.
func (o *Options) checkMember(ctx context.Context, fc *v1alpha1.FederatedCluster) error {
	t := o.Member.Target
	ks, err := o.Member.Kube.CoreV1().Namespaces().Get(ctx, metav1.NamespaceSystem, metav1.GetOptions{})
	if err != nil {
		return clients.Explain(err, t, "get namespace kube-system (which identifies the member)")
	}
	if want := fc.Annotations[naming.ClusterIDAnnotation]; want != "" && want != string(ks.UID) {
		return fmt.Errorf("context %q %w as %q: its kube-system namespace UID is %s, the FederatedCluster records %s; pass the context of the joined cluster",
			t.Context, errWrongCluster, o.Name, ks.UID, want)
	}
	return nil
}

func (o *Options) serverTask() string {
	if o.KeepSecrets {
		return "release the Secrets it propagated to the member"
	}
	return "remove the Secrets it propagated to the member"
}

// setKeepSecrets makes the FederatedCluster's keep-secrets annotation say
// what this run asks for, so that a rerun without --keep-secrets undoes an
// earlier --keep-secrets.
func (o *Options) setKeepSecrets(ctx context.Context, fc *v1alpha1.FederatedCluster) error {
	current, has := fc.Annotations[naming.KeepSecretsAnnotation]
	value := "null" // JSON null removes the annotation in a merge patch
	switch {
	case o.KeepSecrets && current == "true", !o.KeepSecrets && !has:
		return nil
	case o.KeepSecrets:
		value = `"true"`
	}
	patch := fmt.Appendf(nil, `{"metadata":{"annotations":{%q:%s}}}`, naming.KeepSecretsAnnotation, value)
	_, err := o.Host.Secretfed.SecretfedV1alpha1().FederatedClusters().Patch(ctx, o.Name, types.MergePatchType, patch, metav1.PatchOptions{})
	if err != nil {
		return clients.Explain(err, o.Host.Target, fmt.Sprintf("annotate FederatedCluster %q with %s", o.Name, naming.KeepSecretsAnnotation))
	}
	if o.KeepSecrets {
		fmt.Fprintf(o.Out, "host: FederatedCluster %s annotated %s=true\n", o.Name, naming.KeepSecretsAnnotation)
	}
	return nil
}

// waitGone waits for the FederatedCluster to disappear. With --force, a
// server that does not finish in time loses its finalizer.
func (o *Options) waitGone(ctx context.Context) error {
	last, err := o.poll(ctx)
	if err == nil || !wait.Interrupted(err) || ctx.Err() != nil {
		return err
	}
	reason := stuckReason(last)
	if !o.Force {
		return fmt.Errorf("FederatedCluster %q is still being deleted after %s: the secretfed server has not finished (finalizer %s%s); run unjoin again to keep waiting, or pass --force to remove the finalizer and clean up the member from here",
			o.Name, o.Timeout, v1alpha1.ClusterFinalizer, reason)
	}
	fmt.Fprintf(o.ErrOut, "Warning: FederatedCluster %q is still being deleted after %s%s; --force: removing finalizer %s\n",
		o.Name, o.Timeout, reason, v1alpha1.ClusterFinalizer)
	if err := o.removeFinalizer(ctx); err != nil {
		return err
	}
	if _, err := o.poll(ctx); err != nil {
		if wait.Interrupted(err) && ctx.Err() == nil {
			return fmt.Errorf("FederatedCluster %q is still there after removing finalizer %s: other finalizers hold it", o.Name, v1alpha1.ClusterFinalizer)
		}
		return err
	}
	return nil
}

// poll returns nil once the FederatedCluster is gone, the last state seen
// and a wait.Interrupted error on timeout.
func (o *Options) poll(ctx context.Context) (*v1alpha1.FederatedCluster, error) {
	fcs := o.Host.Secretfed.SecretfedV1alpha1().FederatedClusters()
	var last *v1alpha1.FederatedCluster
	err := wait.PollUntilContextTimeout(ctx, o.PollInterval, o.Timeout, true, func(ctx context.Context) (bool, error) {
		fc, err := fcs.Get(ctx, o.Name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			return true, nil
		case err != nil:
			return false, nil // transient; the timeout decides
		}
		last = fc
		return false, nil
	})
	if err != nil && ctx.Err() != nil {
		return last, fmt.Errorf("interrupted while waiting for FederatedCluster %q to be removed; run unjoin again to finish", o.Name)
	}
	return last, err
}

// stuckReason points at what the server reports when it holds the cluster.
func stuckReason(fc *v1alpha1.FederatedCluster) string {
	if fc == nil {
		return ""
	}
	for _, c := range fc.Status.Conditions {
		if c.Type == v1alpha1.ConditionReady && c.Status != metav1.ConditionTrue {
			return fmt.Sprintf("; the cluster is %s: %s", c.Reason, c.Message)
		}
	}
	return ""
}

// removeFinalizer drops secretfed.io/cluster from the FederatedCluster so
// that its deletion completes without the server's cleanup.
func (o *Options) removeFinalizer(ctx context.Context) error {
	fcs := o.Host.Secretfed.SecretfedV1alpha1().FederatedClusters()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		fc, err := fcs.Get(ctx, o.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if !slices.Contains(fc.Finalizers, v1alpha1.ClusterFinalizer) {
			return nil
		}
		fc.Finalizers = slices.DeleteFunc(fc.Finalizers, func(f string) bool { return f == v1alpha1.ClusterFinalizer })
		_, err = fcs.Update(ctx, fc, metav1.UpdateOptions{})
		return err
	})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return clients.Explain(err, o.Host.Target, fmt.Sprintf("remove finalizer %s from FederatedCluster %q", v1alpha1.ClusterFinalizer, o.Name))
	}
	fmt.Fprintf(o.ErrOut, "Warning: removed finalizer %s from FederatedCluster %s: the secretfed server will not clean up the member\n", v1alpha1.ClusterFinalizer, o.Name)
	return nil
}

// cleanSecrets is the client-side fallback for the server's finalizer: any
// member Secret still labelled managed is deleted, or with --keep-secrets
// unlabelled. Normally the server has done this already and nothing is left.
func (o *Options) cleanSecrets(ctx context.Context) error {
	t := o.Member.Target
	secrets := o.Member.Kube.CoreV1().Secrets(metav1.NamespaceAll)
	selector := v1alpha1.ManagedLabel + "=true"
	list, err := secrets.List(ctx, metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		return clients.Explain(err, t, "list Secrets labelled "+selector)
	}
	var errs []error
	done := 0
	unlabel := fmt.Appendf(nil, `{"metadata":{"labels":{%q:null}}}`, v1alpha1.ManagedLabel)
	verb := "delete"
	if o.KeepSecrets {
		verb = "unlabel"
	}
	for _, s := range list.Items {
		c := o.Member.Kube.CoreV1().Secrets(s.Namespace)
		if o.KeepSecrets {
			_, err = c.Patch(ctx, s.Name, types.MergePatchType, unlabel, metav1.PatchOptions{})
		} else {
			err = c.Delete(ctx, s.Name, metav1.DeleteOptions{})
		}
		switch {
		case apierrors.IsNotFound(err):
		case err != nil:
			errs = append(errs, clients.Explain(err, t, fmt.Sprintf("%s Secret %s/%s", verb, s.Namespace, s.Name)))
		default:
			done++
		}
	}
	if done > 0 {
		if o.KeepSecrets {
			fmt.Fprintf(o.Out, "member: removed the %s label from %d Secret(s) the server had left labelled; they stay in place\n", v1alpha1.ManagedLabel, done)
		} else {
			fmt.Fprintf(o.Out, "member: deleted %d Secret(s) still labelled %s that the server had not removed\n", done, selector)
		}
	}
	return errors.Join(errs...)
}

// deleteCredentials deletes the credentials FederatedSecret, if join made it.
func (o *Options) deleteCredentials(ctx context.Context, fc *v1alpha1.FederatedCluster) error {
	name := fc.Spec.SecretRef.Name
	if name == "" {
		name = naming.Credentials(o.Name)
	}
	fss := o.Host.Secretfed.SecretfedV1alpha1().FederatedSecrets(v1alpha1.SystemNamespace)
	deleted, err := deleteOwned(ctx, fss, o.Name, o.Host.Target, "FederatedSecret", v1alpha1.SystemNamespace, name, o.ErrOut)
	if deleted {
		fmt.Fprintf(o.Out, "host: FederatedSecret %s/%s deleted\n", v1alpha1.SystemNamespace, name)
	}
	return err
}

// deleteMemberObjects deletes the member RBAC and ServiceAccount join
// created. The namespace stays (see join's namespace step for why).
func (o *Options) deleteMemberObjects(ctx context.Context) []error {
	t, kube := o.Member.Target, o.Member.Kube
	ns, rbacName, saName := v1alpha1.SystemNamespace, naming.RBAC(o.Name), naming.ServiceAccount(o.Name)

	var errs []error
	report := func(kind, key string, deleted bool, err error) {
		if deleted {
			fmt.Fprintf(o.Out, "member: %s %s deleted\n", kind, key)
		}
		errs = append(errs, err)
	}
	rbac := kube.RbacV1()
	d, err := deleteOwned(ctx, rbac.RoleBindings(ns), o.Name, t, "RoleBinding", ns, rbacName, o.ErrOut)
	report("RoleBinding", ns+"/"+rbacName, d, err)
	d, err = deleteOwned(ctx, rbac.Roles(ns), o.Name, t, "Role", ns, rbacName, o.ErrOut)
	report("Role", ns+"/"+rbacName, d, err)
	d, err = deleteOwned(ctx, rbac.ClusterRoleBindings(), o.Name, t, "ClusterRoleBinding", "", rbacName, o.ErrOut)
	report("ClusterRoleBinding", rbacName, d, err)
	d, err = deleteOwned(ctx, rbac.ClusterRoles(), o.Name, t, "ClusterRole", "", rbacName, o.ErrOut)
	report("ClusterRole", rbacName, d, err)
	d, err = deleteOwned(ctx, kube.CoreV1().ServiceAccounts(ns), o.Name, t, "ServiceAccount", ns, saName, o.ErrOut)
	report("ServiceAccount", ns+"/"+saName, d, err)
	return errs
}

// manualCleanup says how to clean a member that unjoin had to skip.
func (o *Options) manualCleanup(context string) string {
	ctxFlag := fmt.Sprintf("--context %q", context)
	sel := naming.Selector(o.Name)
	secrets := fmt.Sprintf("kubectl %s delete secrets -A -l %s=true", ctxFlag, v1alpha1.ManagedLabel)
	if o.KeepSecrets {
		secrets = fmt.Sprintf("kubectl %s label secrets -A -l %s=true %s-", ctxFlag, v1alpha1.ManagedLabel, v1alpha1.ManagedLabel)
	}
	return fmt.Sprintf(`Warning: the member was not cleaned up. Its ServiceAccount, RBAC objects and the Secrets secretfed placed there remain. Once it is reachable:
  kubectl %[1]s delete clusterrole,clusterrolebinding -l %[2]s
  kubectl %[1]s -n %[3]s delete serviceaccount,role,rolebinding -l %[2]s
  %[4]s
`, ctxFlag, sel, v1alpha1.SystemNamespace, secrets)
}
