// Package status implements `kubectl secretfed status`: one line per
// FederatedCluster with its health and how many FederatedSecrets it should
// hold and actually holds. It only reads.
package status

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/duration"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/cli-runtime/pkg/printers"

	"github.com/secretfed/secretfed/pkg/apis/secretfed/v1alpha1"
	"github.com/secretfed/secretfed/pkg/cli/clients"
)

// Options are the inputs of status.
type Options struct {
	// Host is built from the kubeconfig by Run when nil; tests set it.
	Host *clients.Host
	// Now is the clock for the AGE column.
	Now func() time.Time

	flags *clients.Flags
	genericiooptions.IOStreams
}

// NewOptions returns Options with their defaults.
func NewOptions(streams genericiooptions.IOStreams) *Options {
	return &Options{Now: time.Now, IOStreams: streams}
}

// NewCmd returns the status command.
func NewCmd(flags *clients.Flags, streams genericiooptions.IOStreams) *cobra.Command {
	o := NewOptions(streams)
	return &cobra.Command{
		Use:   "status",
		Short: "Show the member clusters and how many Secrets each holds",
		Long: `Show every FederatedCluster of the host: whether it is Ready, its Kubernetes
version, and SECRETS as in-sync/placed: how many FederatedSecrets select the
cluster, and how many of those report it Propagated for their current spec.`,
		Args: cobra.NoArgs,
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
}

// Complete keeps the connection flags for Run.
func (o *Options) Complete(flags *clients.Flags, _ []string) error {
	o.flags = flags
	return nil
}

// Validate has nothing to check: status takes no arguments.
func (o *Options) Validate() error { return nil }

// Run prints the table.
func (o *Options) Run(ctx context.Context) error {
	if o.Host == nil {
		host, err := o.flags.ConnectHost()
		if err != nil {
			return err
		}
		o.Host = host
	}
	h := o.Host
	if err := clients.CheckSecretfedAPI(ctx, h.Secretfed.Discovery(), h.Target); err != nil {
		return err
	}
	api := h.Secretfed.SecretfedV1alpha1()
	fcs, err := api.FederatedClusters().List(ctx, metav1.ListOptions{})
	if err != nil {
		return clients.Explain(err, h.Target, "list FederatedClusters")
	}
	if len(fcs.Items) == 0 {
		fmt.Fprintln(o.ErrOut, "No member clusters joined. Add one with `kubectl secretfed join`.")
		return nil
	}
	fss, err := api.FederatedSecrets(metav1.NamespaceAll).List(ctx, metav1.ListOptions{})
	if err != nil {
		return clients.Explain(err, h.Target, "list FederatedSecrets")
	}
	return Print(o.Out, Rows(fcs.Items, fss.Items, o.Now()))
}

// Row is one line of the table.
type Row struct {
	Name    string
	Ready   string
	Version string
	// InSync is how many of the Placed FederatedSecrets report the cluster Propagated.
	InSync int
	// Placed is how many FederatedSecrets select the cluster.
	Placed int
	Age    string
}

// Rows computes the table, sorted by cluster name.
func Rows(clusters []v1alpha1.FederatedCluster, secrets []v1alpha1.FederatedSecret, now time.Time) []Row {
	rows := make([]Row, 0, len(clusters))
	for i := range clusters {
		fc := &clusters[i]
		r := Row{Name: fc.Name, Ready: string(metav1.ConditionUnknown), Version: fc.Status.KubernetesVersion, Age: "<unknown>"}
		if r.Version == "" {
			r.Version = "<unknown>"
		}
		for _, c := range fc.Status.Conditions {
			if c.Type == v1alpha1.ConditionReady {
				r.Ready = string(c.Status)
			}
		}
		if !fc.CreationTimestamp.IsZero() {
			r.Age = duration.HumanDuration(now.Sub(fc.CreationTimestamp.Time))
		}
		for j := range secrets {
			if !Places(&secrets[j], fc) {
				continue
			}
			r.Placed++
			if propagated(&secrets[j], fc.Name) {
				r.InSync++
			}
		}
		rows = append(rows, r)
	}
	slices.SortFunc(rows, func(a, b Row) int { return strings.Compare(a.Name, b.Name) })
	return rows
}

// Places reports whether the FederatedSecret's placement selects the
// cluster, by the API's rules: an explicit clusters list (even empty) wins;
// otherwise the selector, where {} selects every cluster; neither selects none.
func Places(fs *v1alpha1.FederatedSecret, fc *v1alpha1.FederatedCluster) bool {
	p := fs.Spec.Placement
	if p.Clusters != nil {
		return slices.ContainsFunc(p.Clusters, func(c v1alpha1.ClusterReference) bool { return c.Name == fc.Name })
	}
	if p.ClusterSelector == nil {
		return false
	}
	sel, err := metav1.LabelSelectorAsSelector(p.ClusterSelector)
	if err != nil {
		return false // the server rejects such selectors; nothing is placed by one
	}
	return sel.Matches(labels.Set(fc.Labels))
}

// propagated reports whether the status, for the current spec, says the
// cluster holds the desired Secret.
func propagated(fs *v1alpha1.FederatedSecret, cluster string) bool {
	if fs.Generation != 0 && fs.Status.ObservedGeneration != fs.Generation {
		return false
	}
	return slices.ContainsFunc(fs.Status.Clusters, func(c v1alpha1.ClusterPropagationStatus) bool {
		return c.Name == cluster && c.Status == v1alpha1.StatusPropagated
	})
}

// Print writes rows as a kubectl-style table.
func Print(out io.Writer, rows []Row) error {
	w := printers.GetNewTabWriter(out)
	fmt.Fprintln(w, "NAME\tREADY\tVERSION\tSECRETS\tAGE")
	for _, r := range rows {
		fmt.Fprintf(w, "%s\t%s\t%s\t%d/%d\t%s\n", r.Name, r.Ready, r.Version, r.InSync, r.Placed, r.Age)
	}
	return w.Flush()
}
