// Package framework is the small e2e framework of secretfed: it brings up
// (or attaches to) a real multi-cluster bed, gives specs clients for the
// host, the secretfed API and every member, and runs the real kubectl and
// kubectl-secretfed binaries for user-facing steps.
//
// Providers (E2E_PROVIDER):
//   - local (default): hack/local-up.sh processes — one etcd, a host and two
//     member kube-apiservers, secretfed as a process behind an APIService.
//     With E2E_KUBECONFIG the bed is assumed up already (its env file is
//     E2E_ENV_FILE, default <dir of kubeconfig>/env).
//   - kind: kind clusters on the local container engine (see kind.go).
//
// E2E_KEEP=1 leaves the bed running after the suite.
package framework

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/secretfed/secretfed/pkg/generated/clientset/versioned"
)

// Framework is the bed the specs run against.
type Framework struct {
	Provider   string
	RepoRoot   string
	Kubeconfig string
	// Env holds the bed's facts (ports, paths) from its env file.
	Env map[string]string
	// HostContext is the kubeconfig context of the host cluster.
	HostContext string
	// MemberNames are the member contexts, which are also the names they join under.
	MemberNames []string

	Host      kubernetes.Interface
	HostREST  *rest.Config
	Secretfed versioned.Interface
	Members   map[string]kubernetes.Interface

	teardown func() error
}

// repoRoot finds the repository root: the nearest directory at or above
// the working directory (go test runs in the package's directory) whose
// go.mod declares this module. Not from runtime.Caller: the Makefile builds
// with -trimpath, which leaves no absolute source paths.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for d := dir; ; d = filepath.Dir(d) {
		if data, err := os.ReadFile(filepath.Join(d, "go.mod")); err == nil && modulePath(data) == "github.com/secretfed/secretfed" {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("no go.mod of github.com/secretfed/secretfed at or above %s", dir)
		}
	}
}

// modulePath returns the module path a go.mod declares.
func modulePath(gomod []byte) string {
	for _, line := range strings.Split(string(gomod), "\n") {
		if f := strings.Fields(line); len(f) == 2 && f[0] == "module" {
			return strings.Trim(f[1], `"`)
		}
	}
	return ""
}

// Setup brings the bed up according to the environment. Call it from TestMain.
func Setup() (*Framework, error) {
	root, err := repoRoot()
	if err != nil {
		return nil, err
	}
	f := &Framework{
		Provider: envOr("E2E_PROVIDER", "local"),
		RepoRoot: root,
	}
	switch f.Provider {
	case "local":
		if err := f.setupLocal(); err != nil {
			return nil, err
		}
	case "kind":
		if err := f.setupKind(); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("E2E_PROVIDER=%q: want local or kind", f.Provider)
	}
	if err := f.buildClients(); err != nil {
		f.Teardown()
		return nil, err
	}
	return f, nil
}

// Local bed ports differ from `make run`'s so both can run side by side, and
// stay below the ephemeral range (32768+) where outgoing connections may hold them.
var localE2EEnv = map[string]string{
	"BASE_PORT":                  "16443",
	"ETCD_CLIENT_PORT":           "13790",
	"ETCD_PEER_PORT":             "13800",
	"SECRETFED_PORT":             "18443",
	"SECRETFED_ETCD_CLIENT_PORT": "13890",
	"SECRETFED_ETCD_PEER_PORT":   "13891",
	"MEMBERS":                    "2",
}

func (f *Framework) setupLocal() error {
	if kc := os.Getenv("E2E_KUBECONFIG"); kc != "" {
		f.Kubeconfig = kc
		envFile := envOr("E2E_ENV_FILE", filepath.Join(filepath.Dir(kc), "env"))
		return f.loadEnv(envFile)
	}
	localDir := envOr("E2E_LOCAL_DIR", filepath.Join(f.RepoRoot, "_output", "e2e-bed"))
	env := []string{"LOCAL_DIR=" + localDir, "SECRETFED_V=" + envOr("E2E_SECRETFED_V", "6")}
	// E2E_PORT_OFFSET moves every port, so several suites can run at once.
	offset, _ := strconv.Atoi(os.Getenv("E2E_PORT_OFFSET"))
	for k, v := range localE2EEnv {
		if n, err := strconv.Atoi(v); err == nil && strings.HasSuffix(k, "PORT") {
			v = strconv.Itoa(n + offset)
		}
		env = append(env, k+"="+v)
	}
	env = append(env, "SECRETFED_ARGS="+os.Getenv("E2E_SECRETFED_ARGS"))
	// A previous run that was killed may have left the bed up: start clean.
	_ = f.runScript(env, "hack/local-down.sh", "--purge")
	if err := f.runScript(env, "hack/local-up.sh"); err != nil {
		return fmt.Errorf("hack/local-up.sh failed (logs: %s/logs): %w", localDir, err)
	}
	f.Kubeconfig = filepath.Join(localDir, "kubeconfig")
	f.teardown = func() error {
		if os.Getenv("E2E_KEEP") == "1" {
			fmt.Fprintf(os.Stderr, "E2E_KEEP=1: the bed stays up; KUBECONFIG=%s; stop it with LOCAL_DIR=%s hack/local-down.sh --purge\n", f.Kubeconfig, localDir)
			return nil
		}
		args := []string{"--purge"}
		if os.Getenv("E2E_KEEP_LOGS") == "1" {
			args = nil
		}
		return f.runScript(env, "hack/local-down.sh", args...)
	}
	return f.loadEnv(filepath.Join(localDir, "env"))
}

func (f *Framework) runScript(env []string, script string, args ...string) error {
	cmd := exec.Command(filepath.Join(f.RepoRoot, script), args...)
	cmd.Dir = f.RepoRoot
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout = os.Stderr
	cmd.Stderr = os.Stderr
	return cmd.Run()
}

// loadEnv reads a shell env file of `export K=V` lines.
func (f *Framework) loadEnv(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("reading the bed's env file: %w", err)
	}
	f.Env = map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(sc.Text()), "export "))
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		f.Env[k] = strings.Trim(v, `'"`)
	}
	f.HostContext = envOrMap(f.Env, "HOST_CONTEXT", "secretfed-host")
	f.MemberNames = strings.Fields(f.Env["MEMBER_CONTEXTS"])
	if len(f.MemberNames) == 0 {
		return fmt.Errorf("%s names no MEMBER_CONTEXTS", path)
	}
	return nil
}

func (f *Framework) restConfig(context string) (*rest.Config, error) {
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(
		&clientcmd.ClientConfigLoadingRules{ExplicitPath: f.Kubeconfig},
		&clientcmd.ConfigOverrides{CurrentContext: context}).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("context %s in %s: %w", context, f.Kubeconfig, err)
	}
	cfg.QPS, cfg.Burst = 100, 200
	cfg.Timeout = 30 * time.Second
	return cfg, nil
}

// RESTConfig returns a copy of the admin configuration of a context.
func (f *Framework) RESTConfig(context string) *rest.Config {
	cfg, err := f.restConfig(context)
	if err != nil {
		panic(err)
	}
	return cfg
}

func (f *Framework) buildClients() error {
	hostCfg, err := f.restConfig(f.HostContext)
	if err != nil {
		return err
	}
	f.HostREST = hostCfg
	if f.Host, err = kubernetes.NewForConfig(hostCfg); err != nil {
		return err
	}
	if f.Secretfed, err = versioned.NewForConfig(hostCfg); err != nil {
		return err
	}
	f.Members = map[string]kubernetes.Interface{}
	for _, m := range f.MemberNames {
		cfg, err := f.restConfig(m)
		if err != nil {
			return err
		}
		if f.Members[m], err = kubernetes.NewForConfig(cfg); err != nil {
			return err
		}
	}
	return nil
}

// Teardown stops what Setup started.
func (f *Framework) Teardown() {
	if f.teardown != nil {
		if err := f.teardown(); err != nil {
			fmt.Fprintln(os.Stderr, "e2e teardown:", err)
		}
	}
}

// Result is the outcome of running a binary.
type Result struct {
	Stdout, Stderr string
	Err            error
}

// Output is stdout and stderr together, for error messages and scans.
func (r Result) Output() string { return r.Stdout + r.Stderr }

// Bin returns the path of a binary built into bin/.
func (f *Framework) Bin(name string) string { return filepath.Join(f.RepoRoot, "bin", name) }

// Kubectl runs the real kubectl against the bed's kubeconfig.
func (f *Framework) Kubectl(ctx context.Context, stdin string, args ...string) Result {
	return f.run(ctx, stdin, f.Bin("kubectl"), append([]string{"--kubeconfig", f.Kubeconfig}, args...)...)
}

// Plugin runs `kubectl secretfed ...` through the real kubectl, which finds
// the plugin on PATH, as a user's shell would. On kind, a join without
// --api-endpoint gets the cluster's in-network endpoint: the kubeconfig's
// 127.0.0.1 port is this machine's only, not the secretfed pod's.
func (f *Framework) Plugin(ctx context.Context, args ...string) Result {
	if f.Provider == "kind" {
		args = f.kindJoinArgs(args)
	}
	return f.run(ctx, "", f.Bin("kubectl"), append([]string{"secretfed", "--kubeconfig", f.Kubeconfig}, args...)...)
}

func (f *Framework) run(ctx context.Context, stdin, bin string, args ...string) Result {
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), "PATH="+filepath.Join(f.RepoRoot, "bin")+string(os.PathListSeparator)+os.Getenv("PATH"))
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	err := cmd.Run()
	return Result{Stdout: out.String(), Stderr: errb.String(), Err: err}
}

// Eventually polls cond until it returns nil or the timeout passes, then
// fails the test with the last error.
func Eventually(t testing.TB, timeout time.Duration, what string, cond func(ctx context.Context) error) {
	t.Helper()
	var last error
	err := wait.PollUntilContextTimeout(context.Background(), 200*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		last = cond(ctx)
		return last == nil, nil
	})
	if err != nil {
		t.Fatalf("%s: not true within %s: %v", what, timeout, last)
	}
}

// Context returns a context bounded by d and cancelled with the test.
func Context(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// SecretfedLogs returns the secretfed server's log so far: its log files on
// the local provider, the pod's current and previous containers' logs on kind.
func (f *Framework) SecretfedLogs() (string, error) {
	if f.Provider == "kind" {
		return f.kindSecretfedLogs()
	}
	dir := f.Env["LOG_DIR"]
	if dir == "" {
		return "", fmt.Errorf("the bed records no LOG_DIR")
	}
	matches, _ := filepath.Glob(filepath.Join(dir, "secretfed*.log"))
	sort.Strings(matches)
	var b strings.Builder
	for _, m := range matches {
		data, err := os.ReadFile(m)
		if err != nil {
			return "", err
		}
		b.Write(data)
	}
	return b.String(), nil
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func envOrMap(m map[string]string, k, def string) string {
	if v := m[k]; v != "" {
		return v
	}
	return def
}
