package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/secretfed/secretfed/pkg/generated/clientset/versioned"
	"github.com/secretfed/secretfed/test/e2e/framework"
)

// Ports of the bench's own bed: clear of `make run` (23790.., 26443.., 28443)
// and of the e2e beds (13790..18891 plus E2E_PORT_OFFSET up to 5000), and
// below the ephemeral range (32768+).
var bedPorts = map[string]int{
	"BASE_PORT":                  24443, // host; members 24444..24446
	"ETCD_CLIENT_PORT":           24790,
	"ETCD_PEER_PORT":             24800,
	"SECRETFED_PORT":             24843,
	"SECRETFED_ETCD_CLIENT_PORT": 24890,
	"SECRETFED_ETCD_PEER_PORT":   24891,
}

// extraAPIServerPort is figure 6's kube-apiserver with the encryption config.
const extraAPIServerPort = 24449

// Bed is the bench's local multi-cluster bed (hack/local-up.sh, 3 members).
type Bed struct {
	Repo    string
	Dir     string // LOCAL_DIR
	LogFile *os.File
	F       *framework.Framework
	Members []string

	// Unthrottled clients. Host and Secretfed go through the host's
	// aggregator (the path users take); SecretfedDirect talks to the
	// secretfed port itself.
	HostCfg         *rest.Config
	Host            kubernetes.Interface
	Secretfed       versioned.Interface
	SecretfedCfg    *rest.Config // direct
	SecretfedDirect versioned.Interface
	SecretfedRaw    rest.Interface // /metrics, /debug/pprof on the secretfed port
	MemberCfg       map[string]*rest.Config
	Member          map[string]kubernetes.Interface

	// SecretfedBin, when set, is the server binary (SECRETFED_BIN of the
	// hack scripts) instead of bin/secretfed-apiserver.
	SecretfedBin string

	secretfedArgs string
}

func (b *Bed) env() []string {
	env := []string{"LOCAL_DIR=" + b.Dir, "MEMBERS=3", "SECRETFED_V=2", "SKIP_TOOLS_BUILD=1",
		// The bed's etcd skips fsync (a test bed); secretfed's embedded
		// etcd does not. The members store as durably as secretfed here,
		// or every baseline would be flattered.
		"ETCD_ARGS=--unsafe-no-fsync=false"}
	for k, v := range bedPorts {
		env = append(env, k+"="+strconv.Itoa(v))
	}
	if b.SecretfedBin != "" {
		env = append(env, "SECRETFED_BIN="+b.SecretfedBin)
	}
	return env
}

func (b *Bed) script(extraEnv []string, script string, args ...string) error {
	cmd := exec.Command(filepath.Join(b.Repo, script), args...)
	cmd.Dir = b.Repo
	cmd.Env = append(append(os.Environ(), b.env()...), extraEnv...)
	cmd.Stdout, cmd.Stderr = b.LogFile, b.LogFile
	fmt.Fprintf(b.LogFile, "==== %s %s %s\n", time.Now().Format(time.RFC3339), script, strings.Join(args, " "))
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s %s: %w (log: %s)", script, strings.Join(args, " "), err, b.LogFile.Name())
	}
	return nil
}

// Up starts a fresh bed, attaches the e2e framework to it and joins the
// members with the real kubectl-secretfed.
func (b *Bed) Up() error {
	_ = b.script(nil, "hack/local-down.sh", "--purge")
	if err := b.script(nil, "hack/local-up.sh"); err != nil {
		return err
	}
	// The e2e framework attaches to a running bed with E2E_KUBECONFIG.
	os.Setenv("E2E_PROVIDER", "local")
	os.Setenv("E2E_KUBECONFIG", filepath.Join(b.Dir, "kubeconfig"))
	os.Setenv("E2E_ENV_FILE", filepath.Join(b.Dir, "env"))
	f, err := framework.Setup()
	if err != nil {
		return err
	}
	b.F = f
	b.Members = f.MemberNames
	return b.clients()
}

// Join joins every member (kubectl secretfed join) and waits until Ready.
func (b *Bed) Join() error { return b.F.JoinMembers() }

func unthrottled(cfg *rest.Config) *rest.Config {
	cfg = rest.CopyConfig(cfg)
	cfg.QPS, cfg.Burst = -1, 0
	cfg.Timeout = 2 * time.Minute
	return cfg
}

func (b *Bed) clients() error {
	var err error
	b.HostCfg = unthrottled(b.F.RESTConfig(b.F.HostContext))
	if b.Host, err = kubernetes.NewForConfig(b.HostCfg); err != nil {
		return err
	}
	if b.Secretfed, err = versioned.NewForConfig(b.HostCfg); err != nil {
		return err
	}
	b.SecretfedCfg = rest.CopyConfig(b.HostCfg)
	b.SecretfedCfg.Host = b.F.Env["SECRETFED_URL"]
	b.SecretfedCfg.TLSClientConfig.CAData, b.SecretfedCfg.TLSClientConfig.CAFile = nil, b.F.Env["SECRETFED_CA_FILE"]
	if b.SecretfedDirect, err = versioned.NewForConfig(b.SecretfedCfg); err != nil {
		return err
	}
	raw := rest.CopyConfig(b.SecretfedCfg)
	raw.Timeout = 0 // profiles take as long as they take
	cs, err := kubernetes.NewForConfig(raw)
	if err != nil {
		return err
	}
	b.SecretfedRaw = cs.CoreV1().RESTClient()
	b.MemberCfg = map[string]*rest.Config{}
	b.Member = map[string]kubernetes.Interface{}
	for _, m := range b.Members {
		cfg := unthrottled(b.F.RESTConfig(m))
		b.MemberCfg[m] = cfg
		if b.Member[m], err = kubernetes.NewForConfig(cfg); err != nil {
			return err
		}
	}
	return nil
}

// Down stops the bed; purge deletes its directory too.
func (b *Bed) Down(purge bool) error {
	if purge {
		return b.script(nil, "hack/local-down.sh", "--purge")
	}
	return b.script(nil, "hack/local-down.sh")
}

// RestartSecretfed restarts only the secretfed process with extra flags
// (empty: the bed's defaults) and waits until it serves through the host.
func (b *Bed) RestartSecretfed(args string) error {
	b.secretfedArgs = args
	return b.script([]string{"SECRETFED_ARGS=" + args}, "hack/local-secretfed.sh", "restart")
}

// SecretfedPid is the pid of the running secretfed process.
func (b *Bed) SecretfedPid() (int, error) { return b.F.Pid("secretfed") }

// RSS returns a process's resident set size in bytes.
func RSS(pid int) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb * 1024, err
		}
	}
	return 0, fmt.Errorf("no VmRSS for pid %d", pid)
}

// SecretfedRSS is the secretfed process's resident set size in bytes.
func (b *Bed) SecretfedRSS() (int64, error) {
	pid, err := b.SecretfedPid()
	if err != nil {
		return 0, err
	}
	return RSS(pid)
}

// Metrics fetches and parses secretfed's /metrics.
func (b *Bed) Metrics(ctx context.Context) (Metrics, error) {
	body, err := b.SecretfedRaw.Get().AbsPath("/metrics").DoRaw(ctx)
	if err != nil {
		return nil, err
	}
	return parseMetrics(string(body)), nil
}

// MemberWriteRequests sums, per member, the write requests (POST, PUT,
// PATCH, DELETE) its kube-apiserver served on secrets and namespaces, from
// its own apiserver_request_total: independent of secretfed's counters and
// unaffected by a secretfed restart.
func (b *Bed) MemberWriteRequests(ctx context.Context) (map[string]float64, error) {
	out := map[string]float64{}
	for _, m := range b.Members {
		body, err := b.Member[m].CoreV1().RESTClient().Get().AbsPath("/metrics").DoRaw(ctx)
		if err != nil {
			return nil, fmt.Errorf("%s /metrics: %w", m, err)
		}
		for _, s := range parseMetrics(string(body))["apiserver_request_total"] {
			if s.Labels["resource"] != "secrets" && s.Labels["resource"] != "namespaces" {
				continue
			}
			switch s.Labels["verb"] {
			case "POST", "PUT", "PATCH", "DELETE", "APPLY", "DELETECOLLECTION":
				out[m] += s.Value
			}
		}
	}
	return out, nil
}

// Profile fetches a CPU profile of secretfed over d.
func (b *Bed) Profile(ctx context.Context, d time.Duration) ([]byte, error) {
	return b.SecretfedRaw.Get().AbsPath("/debug/pprof/profile").
		Param("seconds", strconv.Itoa(int(d/time.Second))).DoRaw(ctx)
}

// Goroutines fetches secretfed's goroutine dump (debug=1: grouped stacks).
func (b *Bed) Goroutines(ctx context.Context) ([]byte, error) {
	return b.SecretfedRaw.Get().AbsPath("/debug/pprof/goroutine").Param("debug", "1").DoRaw(ctx)
}

// EnsureNamespace creates a namespace in the host (secretfed's namespace
// lifecycle admission checks it there) and, when inMembers, in every member.
func (b *Bed) EnsureNamespace(ctx context.Context, name string, inMembers bool) error {
	clients := []kubernetes.Interface{b.Host}
	if inMembers {
		for _, m := range b.Members {
			clients = append(clients, b.Member[m])
		}
	}
	for _, c := range clients {
		_, err := c.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
		if err != nil && !apierrors.IsAlreadyExists(err) {
			return err
		}
	}
	return nil
}

// Load is the 1/5/15-minute load average.
type Load [3]float64

func (l Load) String() string { return fmt.Sprintf("%.2f/%.2f/%.2f", l[0], l[1], l[2]) }

func loadAvg() Load {
	var l Load
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return l
	}
	f := strings.Fields(string(data))
	for i := 0; i < 3 && i < len(f); i++ {
		l[i], _ = strconv.ParseFloat(f[i], 64)
	}
	return l
}

// startProcess runs a helper binary (kube-apiserver, KMS plugin) in its own
// process group with its output in a log file; stop ends exactly it.
func startProcess(logPath string, bin string, args ...string) (stop func(), err error) {
	lf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(lf, "==== %s %s %s\n", time.Now().Format(time.RFC3339), bin, strings.Join(args, " "))
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = lf, lf
	if err := cmd.Start(); err != nil {
		lf.Close()
		return nil, err
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done); lf.Close() }()
	return func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	}, nil
}

func tail(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	data, _ := io.ReadAll(f)
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// cpuSeconds is a process's user+system CPU time so far.
func cpuSeconds(pid int) (float64, error) {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	fields := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+2:]))
	if len(fields) < 13 {
		return 0, fmt.Errorf("short /proc/%d/stat", pid)
	}
	ut, err1 := strconv.ParseFloat(fields[11], 64) // field 14: utime
	st, err2 := strconv.ParseFloat(fields[12], 64) // field 15: stime
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("parsing /proc/%d/stat", pid)
	}
	return (ut + st) / 100, nil // USER_HZ
}

// CPU returns the CPU seconds used so far by every process of the bed and
// by the bench itself.
func (b *Bed) CPU() map[string]float64 {
	out := map[string]float64{}
	comps := append([]string{"etcd", "host"}, b.Members...)
	comps = append(comps, "secretfed")
	for _, c := range comps {
		if pid, err := b.F.Pid(c); err == nil {
			if s, err := cpuSeconds(pid); err == nil {
				out[c] = s
			}
		}
	}
	if s, err := cpuSeconds(os.Getpid()); err == nil {
		out["bench (client)"] = s
	}
	return out
}

// cpuDelta is after - before per component (a restarted process counts
// from zero, so a negative delta is taken as its whole after value).
func cpuDelta(before, after map[string]float64) map[string]float64 {
	out := map[string]float64{}
	for k, a := range after {
		d := a - before[k]
		if d < 0 {
			d = a
		}
		out[k] = d
	}
	return out
}

// Counters are the request counts the bench compares between passes.
type Counters map[string]float64

// Counters reads secretfed's and the members' request counters.
func (b *Bed) Counters(ctx context.Context) Counters {
	c := Counters{}
	if m, err := b.Metrics(ctx); err == nil {
		for _, s := range m["apiserver_request_total"] {
			if s.Labels["resource"] != "federatedsecrets" {
				continue
			}
			switch s.Labels["verb"] {
			case "POST", "PUT", "PATCH", "DELETE":
				sub := s.Labels["subresource"]
				if sub == "" {
					sub = "object"
				}
				c["secretfed API: "+s.Labels["verb"]+" "+sub] += s.Value
				if s.Labels["code"] == "409" {
					c["secretfed API: conflicts (409)"] += s.Value
				}
			}
		}
		c["planner retries (workqueue_retries_total)"] = m.Sum("workqueue_retries_total", map[string]string{"name": "secretfed_propagation"})
		c["member pair retries (workqueue_retries_total)"] = m.Sum("workqueue_retries_total", map[string]string{"name": "secretfed_member_pairs"})
	}
	for _, mem := range b.Members {
		body, err := b.Member[mem].CoreV1().RESTClient().Get().AbsPath("/metrics").DoRaw(ctx)
		if err != nil {
			continue
		}
		for _, s := range parseMetrics(string(body))["apiserver_request_total"] {
			if s.Labels["resource"] != "secrets" && s.Labels["resource"] != "namespaces" {
				continue
			}
			switch s.Labels["verb"] {
			case "LIST", "WATCH":
				continue
			}
			c["member requests: "+s.Labels["verb"]+" "+s.Labels["resource"]] += s.Value
		}
	}
	return c
}

// Sub is c - before (a counter that restarted counts from zero).
func (c Counters) Sub(before Counters) Counters {
	out := Counters{}
	for k, v := range c {
		d := v - before[k]
		if d < 0 {
			d = v
		}
		out[k] = d
	}
	return out
}

// Heap fetches secretfed's heap profile (after a GC: gc=1).
func (b *Bed) Heap(ctx context.Context) ([]byte, error) {
	return b.SecretfedRaw.Get().AbsPath("/debug/pprof/heap").Param("gc", "1").DoRaw(ctx)
}
