// Command secretfed-apiserver serves the secretfed.io API group.
package main

import (
	"os"

	genericapiserver "k8s.io/apiserver/pkg/server"
	"k8s.io/component-base/cli"

	"github.com/secretfed/secretfed/pkg/cmd/server"
)

func main() {
	ctx := genericapiserver.SetupSignalContext()
	o := server.NewOptions(os.Stdout, os.Stderr)
	o.Controllers = server.NewControllerOptions()
	cmd := server.NewCommand(ctx, o)
	os.Exit(cli.Run(cmd))
}
