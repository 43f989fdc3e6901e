// Package integration runs the real secretfed-apiserver in-process on an
// embedded etcd and talks to it through the generated clientset. There is no
// host cluster here: the loopback client (system:masters) is the caller, and
// delegated authentication, authorization and NamespaceLifecycle are covered
// by the e2e suite instead.
package integration

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/spf13/pflag"
	clientv3 "go.etcd.io/etcd/client/v3"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/klog/v2"

	"github.com/secretfed/secretfed/pkg/cmd/server"
	"github.com/secretfed/secretfed/pkg/generated/clientset/versioned"
)

// logs collects everything the server logs, at -v=6, for the hygiene test.
var logs = &syncBuffer{}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestMain(m *testing.M) {
	fs := flag.NewFlagSet("klog", flag.ExitOnError)
	klog.InitFlags(fs)
	_ = fs.Set("v", "6")
	_ = fs.Set("logtostderr", "false")
	_ = fs.Set("alsologtostderr", "false")
	_ = fs.Set("stderrthreshold", "FATAL")
	klog.SetOutput(logs)
	code := m.Run()
	if code != 0 && os.Getenv("INTEGRATION_DUMP_LOGS") != "" {
		fmt.Fprintln(os.Stderr, logs.String())
	}
	os.Exit(code)
}

// testServer is one run of the server on a data directory.
type testServer struct {
	t       *testing.T
	cancel  context.CancelFunc
	done    chan error
	running *server.Running
	Client  versioned.Interface
	EtcdURL string
}

// serverConfig says how to start a server; a zero value gets fresh ports.
type serverConfig struct {
	DataDir       string
	EtcdClientURL string
	EtcdPeerURL   string
	Flags         []string
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// newServerConfig returns a configuration with its own data dir and ports.
func newServerConfig(t *testing.T) serverConfig {
	return serverConfig{
		DataDir:       filepath.Join(t.TempDir(), "data"),
		EtcdClientURL: fmt.Sprintf("http://127.0.0.1:%d", freePort(t)),
		EtcdPeerURL:   fmt.Sprintf("http://127.0.0.1:%d", freePort(t)),
	}
}

// buildOptions parses flags the way the command does, minus the host cluster.
func buildOptions(t *testing.T, c serverConfig) (*server.Options, error) {
	t.Helper()
	o := server.NewOptions(io.Discard, io.Discard)
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	for _, f := range o.Flags().FlagSets {
		fs.AddFlagSet(f)
	}
	args := append([]string{
		"--data-dir=" + c.DataDir,
		"--embedded-etcd-client-url=" + c.EtcdClientURL,
		"--embedded-etcd-peer-url=" + c.EtcdPeerURL,
		"--bind-address=127.0.0.1",
		fmt.Sprintf("--secure-port=%d", freePort(t)),
		"--cert-dir=" + filepath.Join(t.TempDir(), "certs"),
		"--enable-priority-and-fairness=false",
		"--embedded-etcd-log-level=fatal",
	}, c.Flags...)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	// No host cluster: only the loopback client (system:masters) is allowed.
	o.RecommendedOptions.Authentication.RemoteKubeConfigFileOptional = true
	o.RecommendedOptions.Authorization.RemoteKubeConfigFileOptional = true
	o.RecommendedOptions.CoreAPI = nil
	o.RecommendedOptions.Admission = nil
	if err := o.Complete(); err != nil {
		return nil, err
	}
	if err := o.Validate(); err != nil {
		return nil, err
	}
	return o, nil
}

// startServer starts the server and waits until it is ready.
func startServer(t *testing.T, c serverConfig) *testServer {
	t.Helper()
	s, err := tryStartServer(t, c)
	if err != nil {
		t.Fatalf("starting secretfed-apiserver: %v", err)
	}
	return s
}

func tryStartServer(t *testing.T, c serverConfig) (*testServer, error) {
	t.Helper()
	o, err := buildOptions(t, c)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	running, err := o.NewServer(ctx)
	if err != nil {
		cancel()
		return nil, err
	}
	s := &testServer{t: t, cancel: cancel, done: make(chan error, 1), running: running, EtcdURL: c.EtcdClientURL}
	go func() {
		s.done <- running.Server.GenericAPIServer.PrepareRun().RunWithContext(ctx)
	}()
	t.Cleanup(s.Stop)

	cfg := *running.Server.GenericAPIServer.LoopbackClientConfig
	cfg.Timeout = 30 * time.Second
	s.Client, err = versioned.NewForConfig(&cfg)
	if err != nil {
		return nil, err
	}
	err = wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 60*time.Second, true, func(ctx context.Context) (bool, error) {
		body, err := s.Client.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
		return err == nil && string(body) == "ok", nil
	})
	if err != nil {
		return nil, fmt.Errorf("server never became ready: %w", err)
	}
	return s, nil
}

// Stop stops the server and its embedded etcd; safe to call twice.
func (s *testServer) Stop() {
	if s.cancel == nil {
		return
	}
	s.cancel()
	select {
	case <-s.done:
	case <-time.After(60 * time.Second):
		s.t.Errorf("server did not stop within 60s")
	}
	s.running.Close()
	s.cancel = nil
}

// rawEtcdValue reads a key straight from etcd, bypassing the apiserver.
func rawEtcdValue(t *testing.T, etcdURL, key string) []byte {
	t.Helper()
	c, err := clientv3.New(clientv3.Config{Endpoints: []string{etcdURL}, DialTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := c.Get(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Kvs) != 1 {
		all, _ := c.Get(ctx, "/", clientv3.WithPrefix(), clientv3.WithKeysOnly())
		var ks []string
		for _, kv := range all.Kvs {
			ks = append(ks, string(kv.Key))
		}
		t.Fatalf("etcd key %s: got %d values, want 1; keys present: %v", key, len(resp.Kvs), ks)
	}
	return resp.Kvs[0].Value
}

func federatedSecretKey(ns, name string) string {
	return "/registry/secretfed.io/federatedsecrets/" + ns + "/" + name
}

func federatedClusterKey(name string) string {
	return "/registry/secretfed.io/federatedclusters/" + name
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func contains(haystack []byte, needles ...string) []string {
	var found []string
	for _, n := range needles {
		if bytes.Contains(haystack, []byte(n)) {
			found = append(found, n)
		}
	}
	return found
}

// An open watch must not hold the server's shutdown: every `kubectl get
// -w` and the host's garbage collector keep watches open, and a restart
// that waits for them until the 60 s shutdown timeout stalls propagation
// as long. The server ends them when shutdown begins.
func TestOpenWatchesDoNotHoldShutdown(t *testing.T) {
	s := startServer(t, newServerConfig(t))
	ctx := ctxT(t)
	w, err := s.Client.SecretfedV1alpha1().FederatedSecrets(metav1.NamespaceAll).Watch(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	s.cancel()
	// Well under --request-timeout (60 s), the HTTP server's shutdown
	// timeout that an open watch would otherwise run into.
	select {
	case err := <-s.done:
		if err != nil {
			t.Errorf("server stopped with %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the server still runs 30 s after shutdown began, with one watch open")
	}
	s.running.Close()
	s.cancel = nil
	select {
	case _, open := <-w.ResultChan():
		if open {
			// Drain whatever was in flight; the channel must close.
			for range w.ResultChan() {
			}
		}
	case <-time.After(10 * time.Second):
		t.Error("the watch is still open after the server stopped")
	}
}
