// Package member owns the connections to member clusters: one client per
// FederatedCluster, built from the cluster's spec and the bearer token in its
// credentials FederatedSecret, plus an informer on the Secrets secretfed
// manages there, so drift is seen as it happens.
//
// A client is rebuilt when anything it was built from changes (endpoint, CA,
// TLS and proxy settings, token); the old client's informer is stopped. The
// cache is keyed on a hash of those inputs, not on resourceVersions, so that
// the health controller's status writes do not tear connections down.
//
// This package must never log a token or a client configuration.
package member

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"

	"github.com/secretfed/secretfed/pkg/apis/secretfed/v1alpha1"
	listers "github.com/secretfed/secretfed/pkg/generated/listers/secretfed/v1alpha1"
)

// ClientFunc builds a clientset for member cluster from config. Tests
// substitute one that returns fake clientsets.
type ClientFunc func(cluster string, config *rest.Config) (kubernetes.Interface, error)

// NewForConfig is the ClientFunc used outside tests.
func NewForConfig(_ string, config *rest.Config) (kubernetes.Interface, error) {
	return kubernetes.NewForConfig(config)
}

// SecretEventHandler is told about every change to a managed Secret in a
// member: the cluster's name and the Secret's namespace and name.
type SecretEventHandler func(cluster, namespace, name string)

// Options configure every member client.
type Options struct {
	// QPS and Burst limit requests to each member.
	QPS   float32
	Burst int
	// RequestTimeout bounds each request to a member (not the watch).
	RequestTimeout time.Duration
	// UserAgent identifies secretfed in members' audit logs.
	UserAgent string
	// NewClient builds clientsets; NewForConfig when nil.
	NewClient ClientFunc
}

// ConfigError means a FederatedCluster, or its credentials, cannot yield a
// client: a missing or malformed endpoint, CA bundle, proxy URL, credentials
// FederatedSecret or token. It is not transient; the health controller
// reports it as ConfigMalformed.
type ConfigError struct {
	msg string
}

func (e *ConfigError) Error() string { return e.msg }

// IsConfigError reports whether err is, or wraps, a ConfigError.
func IsConfigError(err error) bool {
	var ce *ConfigError
	return errors.As(err, &ce)
}

func configErrorf(format string, args ...any) error {
	return &ConfigError{msg: fmt.Sprintf(format, args...)}
}

// Member is the connection to one member cluster.
type Member struct {
	// Name is the FederatedCluster's name.
	Name string
	// Client talks to the member; every request is bounded by the
	// configured request timeout.
	Client kubernetes.Interface

	informer cache.SharedIndexInformer
	lister   corelisters.SecretLister
	hash     string
	cancel   context.CancelFunc
	done     <-chan struct{}

	// namespaces this client has seen exist in the member, so that a
	// create need not check its namespace first every time.
	nsMu       sync.Mutex
	namespaces map[string]bool
}

// NamespaceKnown reports whether ns was seen to exist in the member since
// this client was built (RememberNamespace), and not forgotten since.
func (m *Member) NamespaceKnown(ns string) bool {
	m.nsMu.Lock()
	defer m.nsMu.Unlock()
	return m.namespaces[ns]
}

// RememberNamespace records that ns exists in the member.
func (m *Member) RememberNamespace(ns string) {
	m.nsMu.Lock()
	defer m.nsMu.Unlock()
	if m.namespaces == nil {
		m.namespaces = map[string]bool{}
	}
	m.namespaces[ns] = true
}

// ForgetNamespace drops ns, e.g. after a create found it missing.
func (m *Member) ForgetNamespace(ns string) {
	m.nsMu.Lock()
	defer m.nsMu.Unlock()
	delete(m.namespaces, ns)
}

// Secrets lists the member's managed Secrets (label secretfed.io/managed=true)
// from the informer cache. Objects are shared with the cache: never mutate.
func (m *Member) Secrets() corelisters.SecretLister { return m.lister }

// HasSynced reports whether the managed-Secret cache has been filled.
func (m *Member) HasSynced() bool { return m.informer.HasSynced() }

// GetSecret returns the member Secret namespace/name: from the cache when it
// has synced, otherwise from the member's API. The cache holds only managed
// Secrets, so a NotFound from the cache can still mean an unmanaged Secret
// exists; a create then fails with AlreadyExists and the caller GETs it.
// The result is shared with the cache: never mutate it.
func (m *Member) GetSecret(ctx context.Context, namespace, name string) (*corev1.Secret, error) {
	if m.HasSynced() {
		return m.lister.Secrets(namespace).Get(name)
	}
	return m.Client.CoreV1().Secrets(namespace).Get(ctx, name, metav1.GetOptions{})
}

func (m *Member) stop() {
	m.cancel()
}

// Cache holds one Member per FederatedCluster.
type Cache struct {
	ctx         context.Context
	opts        Options
	credentials listers.FederatedSecretLister

	mu       sync.Mutex
	members  map[string]*Member
	handlers []SecretEventHandler
}

// NewCache returns an empty cache. Members are built on first Get; all of
// their informers stop when ctx is done. credentials lists FederatedSecrets
// (only secretfed-system is read).
func NewCache(ctx context.Context, credentials listers.FederatedSecretLister, opts Options) *Cache {
	if opts.NewClient == nil {
		opts.NewClient = NewForConfig
	}
	if opts.UserAgent == "" {
		opts.UserAgent = "secretfed-controller"
	}
	return &Cache{
		ctx:         ctx,
		opts:        opts,
		credentials: credentials,
		members:     map[string]*Member{},
	}
}

// AddEventHandler registers h for managed-Secret changes in every member,
// present and future.
func (c *Cache) AddEventHandler(h SecretEventHandler) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.handlers = append(c.handlers, h)
	for _, m := range c.members {
		c.attach(m, h)
	}
}

// Get returns the member client for fc, building it, or rebuilding it when
// fc's connection settings or token changed. A *ConfigError means fc cannot
// be connected to as configured; any member built before is then stopped.
func (c *Cache) Get(fc *v1alpha1.FederatedCluster) (*Member, error) {
	// Called for every pair and probe: when nothing the client was built
	// from changed, skip parsing the endpoint and CA bundle again.
	if token, err := c.token(fc); err == nil {
		hash := inputsHash(&fc.Spec, token)
		c.mu.Lock()
		old := c.members[fc.Name]
		c.mu.Unlock()
		if old != nil && old.hash == hash {
			return old, nil
		}
	}
	cfg, hash, err := c.configFor(fc)
	c.mu.Lock()
	defer c.mu.Unlock()
	old := c.members[fc.Name]
	if err != nil {
		if old != nil {
			old.stop()
			delete(c.members, fc.Name)
		}
		return nil, err
	}
	if old != nil && old.hash == hash {
		return old, nil
	}

	m, err := c.build(fc.Name, cfg, hash)
	if err != nil {
		return nil, err
	}
	if old != nil {
		klog.V(2).InfoS("Rebuilding member client after a change of its settings or credentials", "cluster", fc.Name)
		old.stop()
	} else {
		klog.V(2).InfoS("Connecting to member cluster", "cluster", fc.Name)
	}
	c.members[fc.Name] = m
	return m, nil
}

// Peek returns the member built for cluster, or nil, without building one.
func (c *Cache) Peek(cluster string) *Member {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.members[cluster]
}

// Names returns the clusters that currently have a member.
func (c *Cache) Names() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]string, 0, len(c.members))
	for n := range c.members {
		out = append(out, n)
	}
	return out
}

// Remove stops and forgets cluster's member, if any.
func (c *Cache) Remove(cluster string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if m := c.members[cluster]; m != nil {
		m.stop()
		delete(c.members, cluster)
	}
}

// Stop stops every member.
func (c *Cache) Stop() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for n, m := range c.members {
		m.stop()
		delete(c.members, n)
	}
}

func (c *Cache) build(cluster string, cfg *rest.Config, hash string) (*Member, error) {
	reqCfg := rest.CopyConfig(cfg)
	reqCfg.Timeout = c.opts.RequestTimeout
	client, err := c.opts.NewClient(cluster, reqCfg)
	if err != nil {
		// Errors from client construction are about the configuration
		// (TLS material, URL), never about the network.
		return nil, configErrorf("cannot build a client: %v", err)
	}
	// The watch must outlive the request timeout: a separate client
	// without one. Reads through it are bounded by the informer itself.
	watchClient, err := c.opts.NewClient(cluster, cfg)
	if err != nil {
		return nil, configErrorf("cannot build a client: %v", err)
	}

	selector := v1alpha1.ManagedLabel + "=true"
	informer := coreinformers.NewFilteredSecretInformer(watchClient, metav1.NamespaceAll, 0,
		cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc},
		func(o *metav1.ListOptions) { o.LabelSelector = selector })
	// Cached Secrets are compared with desired ones and sent back in
	// updates; their managedFields serve neither (an update without them
	// keeps the stored ones) and cost memory for every Secret.
	_ = informer.SetTransform(StripManagedFields)
	ctx, cancel := context.WithCancel(c.ctx)
	m := &Member{
		Name:     cluster,
		Client:   client,
		informer: informer,
		lister:   corelisters.NewSecretLister(informer.GetIndexer()),
		hash:     hash,
		cancel:   cancel,
		done:     ctx.Done(),
	}
	for _, h := range c.handlers {
		c.attach(m, h)
	}
	go informer.RunWithContext(ctx)
	return m, nil
}

// StripManagedFields is an informer transform that drops
// metadata.managedFields, which no loop of secretfed reads: a write of an
// object without them leaves the stored ones as they are.
func StripManagedFields(obj any) (any, error) {
	if a, err := meta.Accessor(obj); err == nil && a.GetManagedFields() != nil {
		a.SetManagedFields(nil)
	}
	return obj, nil
}

func (c *Cache) attach(m *Member, h SecretEventHandler) {
	notify := func(obj any) {
		key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj)
		if err != nil {
			return
		}
		ns, name, err := cache.SplitMetaNamespaceKey(key)
		if err != nil {
			return
		}
		h(m.Name, ns, name)
	}
	_, _ = m.informer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    notify,
		UpdateFunc: func(_, obj any) { notify(obj) },
		DeleteFunc: notify,
	})
}

// configFor builds the rest.Config for fc and a hash of everything it was
// built from. The token goes into the hash, never into a message.
func (c *Cache) configFor(fc *v1alpha1.FederatedCluster) (*rest.Config, string, error) {
	spec := &fc.Spec
	if spec.APIEndpoint == "" {
		return nil, "", configErrorf("spec.apiEndpoint is empty")
	}
	u, err := url.Parse(spec.APIEndpoint)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, "", configErrorf("spec.apiEndpoint is not an http(s) URL")
	}
	token, err := c.token(fc)
	if err != nil {
		return nil, "", err
	}

	cfg := &rest.Config{
		Host:        spec.APIEndpoint,
		BearerToken: token,
		QPS:         c.opts.QPS,
		Burst:       c.opts.Burst,
		UserAgent:   c.opts.UserAgent,
	}
	if spec.InsecureSkipTLSVerify {
		// client-go refuses a CA together with insecure.
		cfg.TLSClientConfig.Insecure = true
	} else if len(spec.CABundle) > 0 {
		if !x509.NewCertPool().AppendCertsFromPEM(spec.CABundle) {
			return nil, "", configErrorf("spec.caBundle holds no PEM certificate")
		}
		cfg.TLSClientConfig.CAData = spec.CABundle
	}
	if spec.ProxyURL != "" {
		pu, err := url.Parse(spec.ProxyURL)
		if err != nil || pu.Host == "" || (pu.Scheme != "http" && pu.Scheme != "https" && pu.Scheme != "socks5") {
			return nil, "", configErrorf("spec.proxyURL is not an http, https or socks5 URL")
		}
		cfg.Proxy = http.ProxyURL(pu)
	}

	return cfg, inputsHash(spec, token), nil
}

// token returns the bearer token in fc's credentials FederatedSecret.
func (c *Cache) token(fc *v1alpha1.FederatedCluster) (string, error) {
	spec := &fc.Spec
	if spec.SecretRef.Name == "" {
		return "", configErrorf("spec.secretRef.name is empty")
	}
	creds, err := c.credentials.FederatedSecrets(v1alpha1.SystemNamespace).Get(spec.SecretRef.Name)
	if apierrors.IsNotFound(err) {
		return "", configErrorf("credentials FederatedSecret %s/%s not found", v1alpha1.SystemNamespace, spec.SecretRef.Name)
	}
	if err != nil {
		return "", err
	}
	token := string(creds.Spec.Template.Data[v1alpha1.CredentialsTokenKey])
	if token == "" {
		token = creds.Spec.Template.StringData[v1alpha1.CredentialsTokenKey]
	}
	if token == "" {
		return "", configErrorf("credentials FederatedSecret %s/%s has no %q key", v1alpha1.SystemNamespace, spec.SecretRef.Name, v1alpha1.CredentialsTokenKey)
	}
	return token, nil
}

// inputsHash is a hash of everything a member client is built from.
func inputsHash(spec *v1alpha1.FederatedClusterSpec, token string) string {
	h := sha256.New()
	for _, part := range []string{spec.APIEndpoint, string(spec.CABundle), strconv.FormatBool(spec.InsecureSkipTLSVerify), spec.ProxyURL, token} {
		// Length-prefixed so that no two inputs hash alike.
		fmt.Fprintf(h, "%d:%s;", len(part), part)
	}
	return hex.EncodeToString(h.Sum(nil))
}
