// Package clients turns kubeconfig contexts into clients for the host (the
// cluster serving secretfed.io) and for members, and turns the errors those
// clients return into one-line messages that say which cluster, which
// endpoint and what to do. It never prints anything itself.
package clients

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	versioned "github.com/secretfed/secretfed/pkg/generated/clientset/versioned"
)

// Timeouts for single requests. A member is probed first and must fail fast
// when it is unreachable; the host may be slower because it is aggregated.
const (
	MemberTimeout = 10 * time.Second
	HostTimeout   = 30 * time.Second
)

// Flags are the connection flags shared by every command: --kubeconfig (from
// cli-runtime, so it behaves exactly like kubectl's) and --host-context. Each
// command adds its own --cluster-context where it needs a member.
type Flags struct {
	// ConfigFlags only carries --kubeconfig: the plugin addresses two clusters
	// at once, so kubectl's single --context/--server/--token would be ambiguous.
	ConfigFlags *genericclioptions.ConfigFlags
	// HostContext is the kubeconfig context of the host cluster; empty means the current context.
	HostContext string
	// UserAgent is sent with every request.
	UserAgent string
}

// NewFlags returns Flags with their defaults.
func NewFlags() *Flags {
	kubeconfig := ""
	return &Flags{ConfigFlags: &genericclioptions.ConfigFlags{KubeConfig: &kubeconfig}}
}

// AddFlags registers the shared flags, normally as persistent flags of the root command.
func (f *Flags) AddFlags(fs *pflag.FlagSet) {
	f.ConfigFlags.AddFlags(fs)
	fs.StringVar(&f.HostContext, "host-context", f.HostContext,
		"kubeconfig context of the host cluster that serves secretfed.io (default: the current context)")
}

// Cluster is what a kubeconfig says about how to reach a cluster; join copies
// it into the FederatedCluster spec.
type Cluster struct {
	Server   string
	CAData   []byte
	ProxyURL string
	// Insecure is the kubeconfig's insecure-skip-tls-verify for the cluster.
	Insecure bool
}

// Context is a resolved kubeconfig context.
type Context struct {
	// Name is the context name, resolved from current-context when none was given.
	Name string
	// Kubeconfig says where the context came from, for messages.
	Kubeconfig string
	Config     *rest.Config
	Cluster    Cluster
}

// Target describes the context's cluster for messages.
func (c *Context) Target(role string) Target {
	return Target{Role: role, Context: c.Name, Server: c.Cluster.Server}
}

// Kube returns a core clientset for the context.
func (c *Context) Kube() (kubernetes.Interface, error) {
	cs, err := kubernetes.NewForConfig(c.Config)
	if err != nil {
		return nil, fmt.Errorf("context %q: %w", c.Name, err)
	}
	return cs, nil
}

// Secretfed returns a secretfed.io clientset for the context.
func (c *Context) Secretfed() (versioned.Interface, error) {
	cs, err := versioned.NewForConfig(c.Config)
	if err != nil {
		return nil, fmt.Errorf("context %q: %w", c.Name, err)
	}
	return cs, nil
}

// Host resolves the host context (--host-context, or the current context).
func (f *Flags) Host() (*Context, error) {
	return f.Context(f.HostContext, "host", HostTimeout)
}

// Member resolves a member context, which must be named explicitly.
func (f *Flags) Member(name string) (*Context, error) {
	if name == "" {
		return nil, fmt.Errorf("--cluster-context is required: the kubeconfig context of the member cluster")
	}
	return f.Context(name, "member", MemberTimeout)
}

// Context resolves a kubeconfig context ("" for the current one) into a REST
// config with the given per-request timeout. role ("host", "member") is only
// used in messages.
func (f *Flags) Context(name, role string, timeout time.Duration) (*Context, error) {
	loader := f.ConfigFlags.ToRawKubeConfigLoader()
	where := describeKubeconfig(loader.ConfigAccess().GetLoadingPrecedence())
	raw, err := loader.RawConfig()
	if err != nil {
		return nil, fmt.Errorf("cannot load kubeconfig %s: %w", where, err)
	}
	if name == "" {
		name = raw.CurrentContext
		if name == "" {
			return nil, fmt.Errorf("no %s context given and kubeconfig %s has no current-context; pass --%s-context", role, where, role)
		}
	}
	kctx, ok := raw.Contexts[name]
	if !ok {
		known := make([]string, 0, len(raw.Contexts))
		for n := range raw.Contexts {
			known = append(known, n)
		}
		slices.Sort(known)
		hint := "it has no contexts"
		if len(known) > 0 {
			hint = "known contexts: " + strings.Join(known, ", ")
		}
		return nil, fmt.Errorf("%s context %q not found in kubeconfig %s (%s)", role, name, where, hint)
	}
	kcluster, ok := raw.Clusters[kctx.Cluster]
	if !ok {
		return nil, fmt.Errorf("%s context %q in kubeconfig %s refers to cluster %q, which the kubeconfig does not define", role, name, where, kctx.Cluster)
	}

	contextFlags := &genericclioptions.ConfigFlags{KubeConfig: f.ConfigFlags.KubeConfig, Context: &name}
	cfg, err := contextFlags.ToRESTConfig()
	if err != nil {
		return nil, fmt.Errorf("%s context %q in kubeconfig %s: %w", role, name, where, err)
	}
	cfg.Timeout = timeout
	if f.UserAgent != "" {
		cfg.UserAgent = f.UserAgent
	}
	cfg.QPS, cfg.Burst = 50, 100

	ca := cfg.CAData
	if len(ca) == 0 && cfg.CAFile != "" {
		if ca, err = os.ReadFile(cfg.CAFile); err != nil {
			return nil, fmt.Errorf("%s context %q in kubeconfig %s: cannot read certificate-authority: %w", role, name, where, err)
		}
	}
	return &Context{
		Name:       name,
		Kubeconfig: where,
		Config:     cfg,
		Cluster: Cluster{
			Server:   cfg.Host,
			CAData:   ca,
			ProxyURL: kcluster.ProxyURL,
			Insecure: cfg.Insecure,
		},
	}, nil
}

func describeKubeconfig(files []string) string {
	switch len(files) {
	case 0:
		return "(none found)"
	case 1:
		return files[0]
	default:
		return strings.Join(files, string(os.PathListSeparator))
	}
}
