// Package cli assembles the kubectl-secretfed command tree. Each command
// lives in its own package (join, unjoin, status, version); this one only
// wires them under a root that carries the shared connection flags.
package cli

import (
	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/secretfed/secretfed/pkg/cli/clients"
	"github.com/secretfed/secretfed/pkg/cli/join"
	"github.com/secretfed/secretfed/pkg/cli/status"
	"github.com/secretfed/secretfed/pkg/cli/unjoin"
	"github.com/secretfed/secretfed/pkg/cli/version"
)

// NewRootCmd returns the kubectl-secretfed command.
func NewRootCmd(streams genericiooptions.IOStreams) *cobra.Command {
	flags := clients.NewFlags()
	flags.UserAgent = "kubectl-secretfed/" + version.Version
	root := &cobra.Command{
		Use:   "kubectl-secretfed",
		Short: "Join member clusters to a secretfed federation and inspect it",
		Long: `kubectl secretfed manages the member clusters of a secretfed federation.

The host cluster (--host-context, default: the current context) serves the
secretfed.io API. Members are reached through their own kubeconfig contexts
(--cluster-context) with your credentials; the secretfed server itself only
ever uses the bounded, least-privilege token join creates for it.`,
		Annotations:   map[string]string{cobra.CommandDisplayNameAnnotation: "kubectl secretfed"},
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetIn(streams.In)
	root.SetOut(streams.Out)
	root.SetErr(streams.ErrOut)
	flags.AddFlags(root.PersistentFlags())
	root.AddCommand(
		join.NewCmd(flags, streams),
		unjoin.NewCmd(flags, streams),
		status.NewCmd(flags, streams),
		version.NewCmd(flags, streams),
	)
	return root
}
