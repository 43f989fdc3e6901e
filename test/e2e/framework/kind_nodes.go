package framework

// What specs do to a kind bed once it is up: freeze, stop and start a
// cluster's node container, read the secretfed pod's log, reach the pod
// directly, and join clusters at their in-network endpoints. Also the
// deletion of a bed that `make run PROVIDER=kind` left running.

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	kindcluster "sigs.k8s.io/kind/pkg/cluster"
	kindlog "sigs.k8s.io/kind/pkg/log"
)

// SecretfedNamespace and SecretfedPod are where artifacts/deploy runs the server.
const (
	SecretfedNamespace = "secretfed-system"
	SecretfedPod       = "secretfed-apiserver-0"
)

// KindNode returns the node container of the cluster behind a kubeconfig
// context (or "host" for the host cluster) on the kind provider.
func (f *Framework) KindNode(context string) (string, error) {
	if f.Provider != "kind" {
		return "", fmt.Errorf("no node containers on the %s provider", f.Provider)
	}
	if context == "host" || context == f.HostContext {
		return f.Env["HOST_KIND_CLUSTER"] + "-control-plane", nil
	}
	for k, v := range f.Env {
		if strings.HasSuffix(k, "_CONTEXT") && strings.HasPrefix(k, "MEMBER") && v == context {
			if name := f.Env[strings.TrimSuffix(k, "_CONTEXT")+"_KIND_CLUSTER"]; name != "" {
				return name + "-control-plane", nil
			}
		}
	}
	return "", fmt.Errorf("no kind cluster behind context %q", context)
}

// Docker runs the docker CLI and returns its error with its output.
func (f *Framework) Docker(ctx context.Context, args ...string) (string, error) {
	out, err := exec.CommandContext(ctx, "docker", args...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("docker %s: %v: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return string(out), nil
}

func (f *Framework) kindSignal(component string, sig syscall.Signal) error {
	node, err := f.KindNode(component)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// Like signals to a process, freezing a frozen node or thawing a running
	// one changes nothing (docker itself refuses both).
	state, err := f.Docker(ctx, "inspect", "-f", "{{.State.Paused}}", node)
	if err != nil {
		return err
	}
	paused := strings.TrimSpace(state) == "true"
	switch sig {
	case syscall.SIGSTOP:
		if !paused {
			_, err = f.Docker(ctx, "pause", node)
		}
	case syscall.SIGCONT:
		if paused {
			_, err = f.Docker(ctx, "unpause", node)
		}
	default:
		return fmt.Errorf("signal %v to %s: the kind provider only freezes (SIGSTOP: docker pause) and thaws (SIGCONT: docker unpause) a node", sig, component)
	}
	return err
}

func (f *Framework) kindSecretfedLogs() (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var b strings.Builder
	// The previous container's log, when the pod restarted, comes first.
	if r := f.Kubectl(ctx, "", "--context", f.HostContext, "-n", SecretfedNamespace, "logs", SecretfedPod, "--previous"); r.Err == nil {
		b.WriteString(r.Stdout)
	}
	r := f.Kubectl(ctx, "", "--context", f.HostContext, "-n", SecretfedNamespace, "logs", SecretfedPod)
	if r.Err != nil {
		return b.String(), fmt.Errorf("kubectl logs %s: %v: %s", SecretfedPod, r.Err, r.Stderr)
	}
	b.WriteString(r.Stdout)
	return b.String(), nil
}

// kindJoinArgs applies KindJoinArgs with the bed's in-network endpoints.
func (f *Framework) kindJoinArgs(args []string) []string {
	endpoints := map[string]string{}
	for k, ctx := range f.Env {
		if prefix, ok := strings.CutSuffix(k, "_CONTEXT"); ok {
			if ep := f.Env[prefix+"_API_ENDPOINT"]; ep != "" {
				endpoints[ctx] = ep
			}
		}
	}
	return KindJoinArgs(args, endpoints)
}

// KindJoinArgs adds `--api-endpoint <in-network endpoint>` to the arguments
// of a `join` whose --cluster-context has one in endpoints, unless they name
// an endpoint already. Other commands pass unchanged.
func KindJoinArgs(args []string, endpoints map[string]string) []string {
	if len(args) == 0 || args[0] != "join" {
		return args
	}
	cluster := ""
	for i, a := range args {
		if a == "--api-endpoint" || strings.HasPrefix(a, "--api-endpoint=") {
			return args
		}
		if a == "--cluster-context" && i+1 < len(args) {
			cluster = args[i+1]
		} else if v, ok := strings.CutPrefix(a, "--cluster-context="); ok {
			cluster = v
		}
	}
	ep, ok := endpoints[cluster]
	if !ok {
		return args
	}
	return append(slices.Clone(args), "--api-endpoint", ep)
}

var forwardingLine = regexp.MustCompile(`^Forwarding from 127\.0\.0\.1:(\d+) ->`)

// PortForward runs `kubectl port-forward` to a pod's port in the host and
// returns the local port; stop ends it.
func (f *Framework) PortForward(ns, pod string, port int) (local int, stop func(), err error) {
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, f.Bin("kubectl"), "--kubeconfig", f.Kubeconfig, "--context", f.HostContext,
		"-n", ns, "port-forward", "pod/"+pod, "127.0.0.1:0:"+strconv.Itoa(port)) //nolint:gosec // test binary and args
	out, err := cmd.StdoutPipe()
	if err != nil {
		cancel()
		return 0, nil, err
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		cancel()
		return 0, nil, err
	}
	stop = func() { cancel(); _ = cmd.Wait() }
	found := make(chan int, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if m := forwardingLine.FindStringSubmatch(sc.Text()); m != nil {
				n, _ := strconv.Atoi(m[1])
				found <- n
			}
		}
	}()
	select {
	case local = <-found:
		return local, stop, nil
	case <-time.After(30 * time.Second):
		stop()
		return 0, nil, fmt.Errorf("kubectl port-forward %s/%s %d: no forwarding within 30s: %s", ns, pod, port, stderr.String())
	}
}

// DeleteKindBed deletes the kind clusters of the bed that KindOptionsFromEnv
// describes (E2E_KIND_PREFIX, E2E_KIND_MEMBERS), those that exist.
func DeleteKindBed(getenv func(string) string) ([]string, error) {
	o, err := KindOptionsFromEnv(getenv, EngineInfo{CgroupVersion: "2"})
	if err != nil {
		return nil, err
	}
	p := kindcluster.NewProvider(kindcluster.ProviderWithDocker(), kindcluster.ProviderWithLogger(kindlog.NoopLogger{}))
	existing, err := p.List()
	if err != nil {
		return nil, fmt.Errorf("kind get clusters: %w", err)
	}
	var deleted []string
	var errs []error
	for _, c := range o.Clusters() {
		if !slices.Contains(existing, c.Name) {
			continue
		}
		if err := p.Delete(c.Name, ""); err != nil {
			errs = append(errs, fmt.Errorf("kind delete cluster %s: %w", c.Name, err))
			continue
		}
		deleted = append(deleted, c.Name)
	}
	return deleted, errors.Join(errs...)
}
