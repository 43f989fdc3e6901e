// Package embeddedetcd runs the etcd that secretfed uses when no external
// etcd cluster is given. It listens on loopback only: nothing outside the
// secretfed process (and local tooling) may reach the encrypted store.
package embeddedetcd

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
	"k8s.io/klog/v2"
)

// Config says where the embedded etcd keeps its data and listens.
type Config struct {
	// DataDir is the etcd data directory; data survives restarts.
	DataDir string
	// ClientURL is the loopback http URL clients (the storage layer) use.
	ClientURL string
	// PeerURL is the loopback URL of the single-member raft peer listener.
	PeerURL string
	// StartTimeout bounds how long Start waits for etcd to serve.
	StartTimeout time.Duration
	// LogLevel is etcd's own log level (debug, info, warn, error, panic, fatal); default warn.
	LogLevel string
}

// ValidateLoopbackURL checks that u is an http URL on a loopback address.
func ValidateLoopbackURL(flag, u string) error {
	parsed, err := url.Parse(u)
	if err != nil {
		return fmt.Errorf("--%s: %v", flag, err)
	}
	if parsed.Scheme != "http" {
		return fmt.Errorf("--%s=%s: scheme must be http (the listener is loopback-only)", flag, u)
	}
	host := parsed.Hostname()
	if host == "localhost" {
		return nil
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("--%s=%s: the embedded etcd listens on loopback addresses only (127.0.0.0/8, ::1 or localhost)", flag, u)
	}
	if parsed.Port() == "" {
		return fmt.Errorf("--%s=%s: a port is required", flag, u)
	}
	return nil
}

// Etcd is a running embedded etcd.
type Etcd struct {
	e *embed.Etcd
}

// Start starts etcd and waits until it serves or the timeout passes.
func Start(ctx context.Context, c Config) (*Etcd, error) {
	clientURL, err := url.Parse(c.ClientURL)
	if err != nil {
		return nil, err
	}
	peerURL, err := url.Parse(c.PeerURL)
	if err != nil {
		return nil, err
	}
	cfg := embed.NewConfig()
	cfg.Name = "secretfed"
	cfg.Dir = filepath.Join(c.DataDir, "etcd")
	cfg.ListenClientUrls = []url.URL{*clientURL}
	cfg.AdvertiseClientUrls = []url.URL{*clientURL}
	cfg.ListenPeerUrls = []url.URL{*peerURL}
	cfg.AdvertisePeerUrls = []url.URL{*peerURL}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	cfg.LogLevel = "warn"
	if c.LogLevel != "" {
		cfg.LogLevel = c.LogLevel
	}
	// Metrics of the embedded etcd would collide with the apiserver's registry.
	cfg.Metrics = "basic"
	cfg.ListenMetricsUrls = nil

	klog.InfoS("Starting embedded etcd", "dataDir", cfg.Dir, "clientURL", c.ClientURL)
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return nil, fmt.Errorf("starting embedded etcd in %s: %w", cfg.Dir, err)
	}
	timeout := c.StartTimeout
	if timeout == 0 {
		timeout = time.Minute
	}
	select {
	case <-e.Server.ReadyNotify():
	case err := <-e.Err():
		e.Close()
		return nil, fmt.Errorf("embedded etcd failed: %w", err)
	case <-time.After(timeout):
		e.Close()
		return nil, fmt.Errorf("embedded etcd in %s did not become ready within %s", cfg.Dir, timeout)
	case <-ctx.Done():
		e.Close()
		return nil, ctx.Err()
	}
	klog.InfoS("Embedded etcd is ready", "clientURL", c.ClientURL)
	return &Etcd{e: e}, nil
}

// Err reports a fatal etcd error.
func (e *Etcd) Err() <-chan error { return e.e.Err() }

// Close stops etcd and waits for it to release its data directory.
func (e *Etcd) Close() {
	e.e.Close()
	<-e.e.Server.StopNotify()
}
