// Package version implements `kubectl secretfed version` and holds the
// plugin's version, set at build time with
//
//	-ldflags "-X github.com/secretfed/secretfed/pkg/cli/version.Version=v0.1.0"
package version

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/secretfed/secretfed/pkg/apis/secretfed/v1alpha1"
	"github.com/secretfed/secretfed/pkg/cli/clients"
)

// Version is the plugin's version.
var Version = "dev"

// Options are the inputs of version.
type Options struct {
	// ClientOnly skips asking the host.
	ClientOnly bool
	// Host is built from the kubeconfig by Run when nil; tests set it.
	Host *clients.Host

	flags *clients.Flags
	genericiooptions.IOStreams
}

// NewCmd returns the version command.
func NewCmd(flags *clients.Flags, streams genericiooptions.IOStreams) *cobra.Command {
	o := &Options{IOStreams: streams}
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the plugin version and whether the host serves secretfed.io",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			o.flags = flags
			return o.Run(cmd.Context())
		},
	}
	cmd.Flags().BoolVar(&o.ClientOnly, "client", o.ClientOnly, "print only the plugin version, without contacting the host")
	return cmd
}

// Run prints the versions. A host that cannot be asked is reported, not an
// error: the plugin's own version is still useful.
func (o *Options) Run(ctx context.Context) error {
	fmt.Fprintf(o.Out, "client: kubectl-secretfed %s\n", Version)
	if o.ClientOnly {
		return nil
	}
	if o.Host == nil {
		host, err := o.flags.ConnectHost()
		if err != nil {
			fmt.Fprintf(o.Out, "server: unknown: %v\n", err)
			return nil
		}
		o.Host = host
	}
	disc := o.Host.Secretfed.Discovery()
	if err := clients.CheckSecretfedAPI(ctx, disc, o.Host.Target); err != nil {
		fmt.Fprintf(o.Out, "server: %v\n", err)
		return nil
	}
	line := fmt.Sprintf("server: %s available on the %s", v1alpha1.SchemeGroupVersion, o.Host.Target)
	if info, err := disc.ServerVersionWithContext(ctx); err == nil && info.GitVersion != "" {
		line += ", Kubernetes " + info.GitVersion
	}
	fmt.Fprintln(o.Out, line)
	return nil
}
