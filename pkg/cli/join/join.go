// Package join implements `kubectl secretfed join`: it registers a member
// cluster with the federation. In the member it creates a ServiceAccount with
// least-privilege RBAC and requests a bounded token for it; in the host it
// stores that token in a credentials FederatedSecret and creates the
// FederatedCluster. Every change is a step of a plan, and a failed step rolls
// back the steps before it, so a failed join leaves nothing behind.
//
// The token is never printed and never appears in an error.
package join

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/secretfed/secretfed/pkg/cli/clients"
	"github.com/secretfed/secretfed/pkg/cli/naming"
)

const (
	// DefaultTokenTTL is how long the first token is valid; the server renews it before then.
	DefaultTokenTTL = 24 * time.Hour
	// MinTokenTTL is the shortest token the TokenRequest API issues.
	MinTokenTTL = 10 * time.Minute
)

// Options are the inputs of join.
type Options struct {
	// Name of the FederatedCluster.
	Name string
	// ClusterContext is the kubeconfig context of the member.
	ClusterContext string
	// Labels of the FederatedCluster, matched by clusterSelector.
	Labels map[string]string
	// APIEndpoint overrides the member endpoint taken from the kubeconfig,
	// for when the server reaches the member by another address.
	APIEndpoint string
	// TokenTTL is the requested lifetime of the member token.
	TokenTTL time.Duration
	// DryRun prints the plan and changes nothing.
	DryRun bool
	// InsecureSkipTLSVerify sets spec.insecureSkipTLSVerify on the FederatedCluster.
	InsecureSkipTLSVerify bool

	// Host and Member are built from the kubeconfig by Run when nil; tests set them.
	Host   *clients.Host
	Member *clients.Member

	flags *clients.Flags
	genericiooptions.IOStreams
}

// NewOptions returns Options with their defaults.
func NewOptions(streams genericiooptions.IOStreams) *Options {
	return &Options{TokenTTL: DefaultTokenTTL, IOStreams: streams}
}

// NewCmd returns the join command.
func NewCmd(flags *clients.Flags, streams genericiooptions.IOStreams) *cobra.Command {
	o := NewOptions(streams)
	cmd := &cobra.Command{
		Use:   "join NAME --cluster-context CONTEXT",
		Short: "Join a member cluster to the federation",
		Long: `Join a member cluster to the federation under NAME.

In the member (reached through --cluster-context) join creates the namespace
secretfed-system if missing, a ServiceAccount secretfed-NAME, a least-privilege
ClusterRole and Role with their bindings, and requests a token for the
ServiceAccount that expires after --token-ttl (the secretfed server renews it).
In the host (--host-context) it creates the namespace secretfed-system if
missing, the FederatedSecret secretfed-system/NAME-credentials holding the
token, and the FederatedCluster NAME.

If any step fails, the steps already done are undone. The token is never printed.`,
		Example: `  # Join the cluster of context kind-member1 as "member1", labelled for placement
  kubectl secretfed join member1 --cluster-context kind-member1 --labels env=prod,region=eu

  # The server runs in another network: give the address it should use
  kubectl secretfed join member1 --cluster-context kind-member1 --api-endpoint https://member1-control-plane:6443

  # Show what would be created
  kubectl secretfed join member1 --cluster-context kind-member1 --dry-run`,
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
	fs.StringToStringVar(&o.Labels, "labels", o.Labels, "labels of the FederatedCluster, as k=v,k2=v2 (what placement.clusterSelector matches)")
	fs.StringVar(&o.APIEndpoint, "api-endpoint", o.APIEndpoint, "https URL the secretfed server uses to reach the member (default: the server of the member context)")
	fs.DurationVar(&o.TokenTTL, "token-ttl", o.TokenTTL, "lifetime of the member token; the secretfed server renews it before it expires (minimum 10m)")
	fs.BoolVar(&o.DryRun, "dry-run", o.DryRun, "print what would be created on each side, and create nothing")
	fs.BoolVar(&o.InsecureSkipTLSVerify, "insecure-skip-tls-verify", o.InsecureSkipTLSVerify, "let the secretfed server skip verifying the member's serving certificate (insecure)")
	_ = cmd.MarkFlagRequired("cluster-context")
	return cmd
}

// Complete takes the cluster name from args and keeps the connection flags
// for Run. It sends no request.
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
	if errs := metav1validation.ValidateLabels(o.Labels, field.NewPath("--labels")); len(errs) > 0 {
		return fmt.Errorf("invalid --labels: %w", errs.ToAggregate())
	}
	if o.TokenTTL < MinTokenTTL {
		return fmt.Errorf("--token-ttl %s is too short: the TokenRequest API issues tokens valid for at least %s", o.TokenTTL, MinTokenTTL)
	}
	if o.APIEndpoint != "" {
		if err := validateEndpoint(o.APIEndpoint); err != nil {
			return fmt.Errorf("invalid --api-endpoint: %w", err)
		}
	}
	return nil
}

func validateEndpoint(endpoint string) error {
	u, err := url.Parse(endpoint)
	if err != nil {
		return err
	}
	if u.Scheme != "https" || u.Host == "" {
		return fmt.Errorf("%q is not an https URL", endpoint)
	}
	return nil
}

// Run joins the cluster, or prints the plan when DryRun is set.
func (o *Options) Run(ctx context.Context) (err error) {
	st := &state{}
	// Last line of defence: whatever went wrong, the token must not leave in an error.
	defer func() { err = redact(err, st.token) }()

	if err := o.connect(); err != nil {
		return err
	}
	p, err := o.plan(ctx, st)
	if err != nil {
		return err
	}
	for _, w := range p.warnings {
		fmt.Fprintf(o.ErrOut, "Warning: %s\n", w)
	}
	if o.DryRun {
		p.print(o.Out)
		return nil
	}
	if err := p.execute(ctx, o.Out, o.ErrOut); err != nil {
		return fmt.Errorf("join %q failed: %w", o.Name, err)
	}
	fmt.Fprintf(o.Out, "cluster %q joined; the secretfed server will mark it Ready once it reaches %s (see `kubectl secretfed status`)\n",
		o.Name, p.endpoint)
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

// endpointWarnings points out endpoint settings that usually mean the server
// will not be able to reach or trust the member.
func (o *Options) endpointWarnings(endpoint string) []string {
	var warnings []string
	c := o.Member.Cluster
	if u, err := url.Parse(endpoint); err == nil {
		host := u.Hostname()
		if ip := net.ParseIP(host); host == "localhost" || (ip != nil && ip.IsLoopback()) {
			warnings = append(warnings, fmt.Sprintf("the member endpoint %s is a loopback address: the secretfed server must be able to reach it; pass --api-endpoint with an address it can reach", endpoint))
		}
	}
	switch {
	case o.InsecureSkipTLSVerify:
		warnings = append(warnings, "--insecure-skip-tls-verify: the secretfed server will not verify the member's serving certificate")
	case c.Insecure && len(c.CAData) == 0:
		warnings = append(warnings, fmt.Sprintf("the kubeconfig skips TLS verification for context %q and has no certificate-authority: the secretfed server will verify the member against its system roots; pass --insecure-skip-tls-verify if that cannot work", o.Member.Target.Context))
	case len(c.CAData) == 0:
		warnings = append(warnings, fmt.Sprintf("the kubeconfig has no certificate-authority for context %q: the secretfed server will verify the member against its system roots", o.Member.Target.Context))
	}
	return warnings
}

func labelsString(l map[string]string) string {
	keys := make([]string, 0, len(l))
	for k := range l {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for i, k := range keys {
		keys[i] = k + "=" + l[k]
	}
	return strings.Join(keys, ",")
}
