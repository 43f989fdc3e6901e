package server

import (
	"github.com/spf13/pflag"
	genericapiserver "k8s.io/apiserver/pkg/server"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/klog/v2"

	"github.com/secretfed/secretfed/pkg/controller/manager"
	"github.com/secretfed/secretfed/pkg/generated/clientset/versioned"
	"github.com/secretfed/secretfed/pkg/loghygiene"
)

// controllers adapts the loops' options to the command.
type controllers struct {
	o *manager.Options
}

// NewControllerOptions returns the propagation loop's options for the command.
func NewControllerOptions() ControllerOptions { return controllers{o: manager.NewOptions()} }

func (c controllers) AddFlags(fs *pflag.FlagSet) { c.o.AddFlags(fs) }
func (c controllers) Validate() []error          { return c.o.Validate() }

// PostStartHook starts the loops once the server serves: they read
// FederatedSecrets and FederatedClusters through the server's own API.
func (c controllers) PostStartHook(cfg *genericapiserver.RecommendedConfig) (genericapiserver.PostStartHookFunc, error) {
	if !c.o.Enabled {
		klog.InfoS("Propagation loops disabled (--controllers=false)")
		return nil, nil
	}
	if cfg.ClientConfig == nil {
		klog.InfoS("No --kubeconfig to the host cluster: the propagation loops do not run")
		return nil, nil
	}
	hostCfg := rest.CopyConfig(cfg.ClientConfig)
	hostCfg.UserAgent = "secretfed-controller"
	host, err := kubernetes.NewForConfig(hostCfg)
	if err != nil {
		return nil, err
	}
	return func(hookCtx genericapiserver.PostStartHookContext) error {
		loopback := rest.CopyConfig(hookCtx.LoopbackClientConfig)
		loopback.QPS, loopback.Burst = 200, 400
		sf, err := versioned.NewForConfig(loopback)
		if err != nil {
			return err
		}
		go func() {
			ctx := loghygiene.NewContext(hookCtx)
			if err := manager.Run(ctx, c.o, manager.Clients{Secretfed: sf, Host: host}); err != nil {
				klog.ErrorS(err, "Propagation loops ended")
			}
		}()
		return nil
	}, nil
}
