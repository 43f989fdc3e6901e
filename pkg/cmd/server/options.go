// Package server holds the secretfed-apiserver command: its flags (Options),
// how they become a server configuration, and how the server runs. Flags are
// read only here.
package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apiserver/pkg/admission/plugin/namespace/lifecycle"
	"k8s.io/apiserver/pkg/endpoints/openapi"
	genericapiserver "k8s.io/apiserver/pkg/server"
	genericoptions "k8s.io/apiserver/pkg/server/options"
	"k8s.io/apiserver/pkg/util/compatibility"
	utilfeature "k8s.io/apiserver/pkg/util/feature"
	cliflag "k8s.io/component-base/cli/flag"
	logsapi "k8s.io/component-base/logs/api/v1"
	"k8s.io/component-base/term"
	"k8s.io/klog/v2"
	netutils "k8s.io/utils/net"

	"github.com/secretfed/secretfed/pkg/apis/secretfed/v1alpha1"
	"github.com/secretfed/secretfed/pkg/apiserver"
	"github.com/secretfed/secretfed/pkg/embeddedetcd"
	"github.com/secretfed/secretfed/pkg/encryption"
	sfopenapi "github.com/secretfed/secretfed/pkg/generated/openapi"
	"github.com/secretfed/secretfed/pkg/loghygiene"
)

// Keys are <prefix>/secretfed.io/<resource>/...; the key is authenticated
// data for the encryption transformers, so the prefix must never change once
// data is written.
func init() {
	// The logging options consult these gates (e.g. ContextualLogging).
	utilruntime.Must(logsapi.AddFeatureGates(utilfeature.DefaultMutableFeatureGate))
}

const defaultEtcdPathPrefix = "/registry"

// Options are the flags of secretfed-apiserver.
type Options struct {
	RecommendedOptions *genericoptions.RecommendedOptions
	Logs               *logsapi.LoggingConfiguration

	// DataDir holds the embedded etcd data and the generated encryption key.
	DataDir string
	// EmbeddedEtcdClientURL and EmbeddedEtcdPeerURL are the loopback
	// listeners of the embedded etcd, used when --etcd-servers is not given.
	EmbeddedEtcdClientURL string
	EmbeddedEtcdPeerURL   string
	// EmbeddedEtcdLogLevel is the embedded etcd's own log level.
	EmbeddedEtcdLogLevel string
	// AllowUnencryptedStorage accepts an encryption configuration whose first
	// provider for federatedsecrets is identity.
	AllowUnencryptedStorage bool
	// AlternateDNS are extra names for the self-signed serving certificate.
	AlternateDNS []string
	// ShutdownWatchTerminationGracePeriod is how long shutdown waits for
	// open watches to drain once they are told to end. Zero keeps them
	// open until the HTTP server's shutdown timeout (--request-timeout,
	// 60 s): any `kubectl get -w`, or the host controller manager's
	// garbage collector, would hold every restart that long.
	ShutdownWatchTerminationGracePeriod time.Duration
	// Controllers adds the propagation loop and its flags. Nil disables it.
	Controllers ControllerOptions

	StdOut io.Writer
	StdErr io.Writer

	// Set by Complete.
	embeddedEtcd bool
}

// ControllerOptions is what the server needs from the propagation loop's
// options: its flags, their validation, and a way to run it once the server
// serves. Defined as an interface so the command does not depend on the
// loop's internals.
type ControllerOptions interface {
	AddFlags(fs *pflag.FlagSet)
	Validate() []error
	// PostStartHook returns the hook that runs the loops with clients built
	// from the server's loopback configuration and the host kubeconfig.
	PostStartHook(cfg *genericapiserver.RecommendedConfig) (genericapiserver.PostStartHookFunc, error)
}

// NewOptions returns the default options.
func NewOptions(out, errOut io.Writer) *Options {
	o := &Options{
		RecommendedOptions: genericoptions.NewRecommendedOptions(
			defaultEtcdPathPrefix,
			apiserver.Codecs.LegacyCodec(v1alpha1.SchemeGroupVersion),
		),
		Logs:                  logsapi.NewLoggingConfiguration(),
		DataDir:               "/var/lib/secretfed",
		EmbeddedEtcdClientURL: "http://127.0.0.1:2479",
		EmbeddedEtcdPeerURL:   "http://127.0.0.1:2480",
		EmbeddedEtcdLogLevel:  "warn",

		ShutdownWatchTerminationGracePeriod: 5 * time.Second,
		StdOut:                              out,
		StdErr:                              errOut,
	}
	o.RecommendedOptions.Etcd.StorageConfig.EncodeVersioner = runtime.NewMultiGroupVersioner(v1alpha1.SchemeGroupVersion, schema.GroupKind{Group: v1alpha1.GroupName})
	// Only NamespaceLifecycle runs by default: it needs nothing but namespace
	// reads in the host. Webhook and policy admission can be enabled with
	// --enable-admission-plugins (they need list/watch on admissionregistration).
	o.RecommendedOptions.Admission.DefaultOffPlugins = sets.New[string](o.RecommendedOptions.Admission.RecommendedPluginOrder...).Delete(lifecycle.PluginName)
	return o
}

// Flags returns the named flag sets, in the order `--help` prints them.
func (o *Options) Flags() cliflag.NamedFlagSets {
	var fss cliflag.NamedFlagSets
	o.RecommendedOptions.Etcd.AddFlags(fss.FlagSet("etcd"))
	o.RecommendedOptions.SecureServing.AddFlags(fss.FlagSet("secure serving"))
	o.RecommendedOptions.Authentication.AddFlags(fss.FlagSet("authentication"))
	o.RecommendedOptions.Authorization.AddFlags(fss.FlagSet("authorization"))
	o.RecommendedOptions.Audit.AddFlags(fss.FlagSet("auditing"))
	o.RecommendedOptions.Features.AddFlags(fss.FlagSet("features"))
	o.RecommendedOptions.CoreAPI.AddFlags(fss.FlagSet("host cluster"))
	o.RecommendedOptions.Admission.AddFlags(fss.FlagSet("admission"))
	o.RecommendedOptions.EgressSelector.AddFlags(fss.FlagSet("egress selector"))
	o.RecommendedOptions.Traces.AddFlags(fss.FlagSet("traces"))
	logsapi.AddFlags(o.Logs, fss.FlagSet("logs"))

	fs := fss.FlagSet("secretfed")
	fs.StringVar(&o.DataDir, "data-dir", o.DataDir,
		"Directory for the embedded etcd's data and the generated encryption key. Keep it on persistent storage and back it up.")
	fs.StringVar(&o.EmbeddedEtcdClientURL, "embedded-etcd-client-url", o.EmbeddedEtcdClientURL,
		"Loopback URL the embedded etcd serves clients on. Ignored with --etcd-servers.")
	fs.StringVar(&o.EmbeddedEtcdPeerURL, "embedded-etcd-peer-url", o.EmbeddedEtcdPeerURL,
		"Loopback URL of the embedded etcd's peer listener. Ignored with --etcd-servers.")
	fs.StringVar(&o.EmbeddedEtcdLogLevel, "embedded-etcd-log-level", o.EmbeddedEtcdLogLevel,
		"Log level of the embedded etcd (debug, info, warn, error, panic, fatal).")
	fs.BoolVar(&o.AllowUnencryptedStorage, "allow-unencrypted-storage", o.AllowUnencryptedStorage,
		"Accept an --encryption-provider-config whose first provider for federatedsecrets.secretfed.io is identity (secrets stored in plain text).")
	fs.StringSliceVar(&o.AlternateDNS, "alternate-dns", o.AlternateDNS,
		"Extra DNS names for the self-signed serving certificate generated when no --tls-cert-file is given.")
	fs.DurationVar(&o.ShutdownWatchTerminationGracePeriod, "shutdown-watch-termination-grace-period", o.ShutdownWatchTerminationGracePeriod,
		"On shutdown, end open watches (clients re-establish them with another replica) and wait at most this long for them to drain. 0 leaves them open until the shutdown timeout, which holds restarts for as long as any watch is open.")
	if o.Controllers != nil {
		o.Controllers.AddFlags(fss.FlagSet("propagation"))
	}
	return fss
}

// Complete fills in what depends on other flags.
func (o *Options) Complete() error {
	if len(o.RecommendedOptions.Etcd.StorageConfig.Transport.ServerList) == 0 {
		o.embeddedEtcd = true
		o.RecommendedOptions.Etcd.StorageConfig.Transport.ServerList = []string{o.EmbeddedEtcdClientURL}
	}
	return nil
}

// Validate reports every invalid flag at once.
func (o *Options) Validate() error {
	var errs []error
	errs = append(errs, o.RecommendedOptions.Validate()...)
	if o.DataDir == "" {
		errs = append(errs, errors.New("--data-dir is required"))
	}
	if o.ShutdownWatchTerminationGracePeriod < 0 {
		errs = append(errs, errors.New("--shutdown-watch-termination-grace-period must not be negative"))
	}
	if o.embeddedEtcd {
		if err := embeddedetcd.ValidateLoopbackURL("embedded-etcd-client-url", o.EmbeddedEtcdClientURL); err != nil {
			errs = append(errs, err)
		}
		if err := embeddedetcd.ValidateLoopbackURL("embedded-etcd-peer-url", o.EmbeddedEtcdPeerURL); err != nil {
			errs = append(errs, err)
		}
	}
	if p := o.RecommendedOptions.Etcd.EncryptionProviderConfigFilepath; p != "" && !o.AllowUnencryptedStorage {
		if err := encryption.CheckFederatedSecretsEncrypted(p); err != nil {
			errs = append(errs, fmt.Errorf("--encryption-provider-config: %w", err))
		}
	}
	if o.Controllers != nil {
		errs = append(errs, o.Controllers.Validate()...)
	}
	return utilerrors.NewAggregate(errs)
}

// prepareEncryption points the storage at the generated key when no
// configuration was given.
func (o *Options) prepareEncryption() error {
	if o.RecommendedOptions.Etcd.EncryptionProviderConfigFilepath != "" {
		return nil
	}
	path, created, err := encryption.EnsureDefaultConfig(o.DataDir)
	if err != nil {
		return fmt.Errorf("preparing the default encryption key: %w", err)
	}
	if created {
		klog.InfoS("No --encryption-provider-config given: generated a secretbox key for federatedsecrets and federatedclusters; back it up, the stored data cannot be read without it", "path", path, "mode", "0600")
	} else {
		klog.InfoS("No --encryption-provider-config given: using the secretbox key generated earlier", "path", path)
	}
	o.RecommendedOptions.Etcd.EncryptionProviderConfigFilepath = path
	return nil
}

// Config turns the options into a server configuration.
func (o *Options) Config() (*apiserver.Config, error) {
	if err := o.RecommendedOptions.SecureServing.MaybeDefaultWithSelfSignedCerts(
		"localhost", o.AlternateDNS, []net.IP{netutils.ParseIPSloppy("127.0.0.1")}); err != nil {
		return nil, fmt.Errorf("creating self-signed certificates: %w", err)
	}
	if err := o.prepareEncryption(); err != nil {
		return nil, err
	}

	serverConfig := genericapiserver.NewRecommendedConfig(apiserver.Codecs)
	namer := openapi.NewDefinitionNamer(apiserver.Scheme)
	serverConfig.OpenAPIConfig = genericapiserver.DefaultOpenAPIConfig(sfopenapi.GetOpenAPIDefinitions, namer)
	serverConfig.OpenAPIConfig.Info.Title = "secretfed"
	serverConfig.OpenAPIConfig.Info.Version = "v1alpha1"
	serverConfig.OpenAPIV3Config = genericapiserver.DefaultOpenAPIV3Config(sfopenapi.GetOpenAPIDefinitions, namer)
	serverConfig.OpenAPIV3Config.Info.Title = "secretfed"
	serverConfig.OpenAPIV3Config.Info.Version = "v1alpha1"
	serverConfig.FeatureGate = utilfeature.DefaultFeatureGate
	serverConfig.EffectiveVersion = compatibility.DefaultBuildEffectiveVersion()

	if err := o.RecommendedOptions.ApplyTo(serverConfig); err != nil {
		return nil, err
	}
	serverConfig.ShutdownWatchTerminationGracePeriod = o.ShutdownWatchTerminationGracePeriod
	// client-go logs request and response bodies at -v=8 through the
	// request's context logger: TokenReviews carry bearer tokens.
	buildChain := serverConfig.BuildHandlerChainFunc
	serverConfig.BuildHandlerChainFunc = func(h http.Handler, c *genericapiserver.Config) http.Handler {
		return loghygiene.Handler(buildChain(h, c))
	}
	cfg := &apiserver.Config{
		GenericConfig: serverConfig,
		ExtraConfig:   apiserver.ExtraConfig{PostStartHooks: map[string]genericapiserver.PostStartHookFunc{}},
	}
	if o.Controllers != nil {
		hook, err := o.Controllers.PostStartHook(serverConfig)
		if err != nil {
			return nil, err
		}
		if hook != nil {
			cfg.ExtraConfig.PostStartHooks["start-secretfed-controllers"] = hook
		}
	}
	return cfg, nil
}

// Running is a built server and the embedded etcd it stores into, if any.
type Running struct {
	Server *apiserver.Server
	// Config is the configuration the server was built from.
	Config *apiserver.Config
	etcd   *embeddedetcd.Etcd
}

// Close stops the embedded etcd. Call it after the server has stopped.
func (r *Running) Close() {
	if r.etcd != nil {
		r.etcd.Close()
	}
}

// EtcdErr reports a fatal error of the embedded etcd (nil channel otherwise).
func (r *Running) EtcdErr() <-chan error {
	if r.etcd == nil {
		return nil
	}
	return r.etcd.Err()
}

// NewServer starts the embedded etcd when needed and builds the server
// without serving yet.
func (o *Options) NewServer(ctx context.Context) (*Running, error) {
	r := &Running{}
	if o.embeddedEtcd {
		if err := os.MkdirAll(o.DataDir, 0o700); err != nil {
			return nil, err
		}
		etcd, err := embeddedetcd.Start(ctx, embeddedetcd.Config{
			DataDir:   o.DataDir,
			ClientURL: o.EmbeddedEtcdClientURL,
			PeerURL:   o.EmbeddedEtcdPeerURL,
			LogLevel:  o.EmbeddedEtcdLogLevel,
		})
		if err != nil {
			return nil, err
		}
		r.etcd = etcd
	}
	config, err := o.Config()
	if err != nil {
		r.Close()
		return nil, err
	}
	server, err := config.Complete().New()
	if err != nil {
		r.Close()
		return nil, err
	}
	r.Server, r.Config = server, config
	return r, nil
}

// Run serves until ctx is done or the embedded etcd fails.
func (o *Options) Run(ctx context.Context) error {
	ctx = loghygiene.NewContext(ctx)
	r, err := o.NewServer(ctx)
	if err != nil {
		return err
	}
	defer r.Close()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case err := <-r.EtcdErr():
			klog.ErrorS(err, "Embedded etcd failed; stopping")
			cancel()
		case <-ctx.Done():
		}
	}()
	return r.Server.GenericAPIServer.PrepareRun().RunWithContext(ctx)
}

// NewCommand returns the secretfed-apiserver command.
func NewCommand(ctx context.Context, o *Options) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "secretfed-apiserver",
		Short: "Serve the secretfed.io API and propagate FederatedSecrets to member clusters",
		Long: `secretfed-apiserver is a Kubernetes aggregated API server. The host cluster's
kube-apiserver proxies the secretfed.io group to it. It stores FederatedSecrets
and FederatedClusters encrypted in its own etcd and fans FederatedSecrets out
as ordinary Secrets to the member clusters they place.`,
		SilenceUsage: true,
		RunE: func(c *cobra.Command, args []string) error {
			if len(args) != 0 {
				return fmt.Errorf("unexpected arguments: %v", args)
			}
			if err := logsapi.ValidateAndApply(o.Logs, utilfeature.DefaultFeatureGate); err != nil {
				return err
			}
			cliflag.PrintFlags(c.Flags())
			if err := o.Complete(); err != nil {
				return err
			}
			if err := o.Validate(); err != nil {
				return err
			}
			return o.Run(c.Context())
		},
	}
	cmd.SetContext(ctx)
	fss := o.Flags()
	fs := cmd.Flags()
	for _, f := range fss.FlagSets {
		fs.AddFlagSet(f)
	}
	cols, _, _ := term.TerminalSize(cmd.OutOrStdout())
	cliflag.SetUsageAndHelpFunc(cmd, fss, cols)
	return cmd
}
