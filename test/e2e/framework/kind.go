package framework

// The kind provider (E2E_PROVIDER=kind): a host and members as kind
// clusters on the local container engine, secretfed installed in the host
// from artifacts/deploy exactly as a user would, members joined with the
// real plugin at addresses the secretfed pod can reach. The pure decisions
// (cluster configurations, kubeconfig, env) are in kind_config.go.
//
// Environment (besides KindOptionsFromEnv's):
//
//	E2E_KIND_DIR         state directory (default _output/e2e-kind): kubeconfig, env, deploy overlay, logs
//	E2E_KIND_REUSE=1     reuse clusters of the same names if they exist (default: delete and recreate)
//	E2E_KIND_DOCKER_SHIM auto (default) | always | never: put hack/kind/bin/docker first on
//	                     PATH, which replaces kind's --privileged by an explicit capability set
//	E2E_KEEP=1           leave the clusters up after the suite
//	KEEP_ON_FAILURE=1    leave them up when the bed fails to come up (default: collect logs, delete)

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	kindcluster "sigs.k8s.io/kind/pkg/cluster"
	"sigs.k8s.io/kind/pkg/cluster/nodes"
	"sigs.k8s.io/kind/pkg/cluster/nodeutils"
	kindexec "sigs.k8s.io/kind/pkg/exec"
	kindlog "sigs.k8s.io/kind/pkg/log"
)

func (f *Framework) setupKind() error {
	dir := envOr("E2E_KIND_DIR", filepath.Join(f.RepoRoot, "_output", "e2e-kind"))
	k := &kindBed{f: f, dir: dir, log: kindStepLogger()}

	engine, err := k.preflight()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(dir, "logs"), 0o700); err != nil {
		return err
	}
	opts, err := KindOptionsFromEnv(os.Getenv, engine)
	if err != nil {
		return err
	}
	k.opts = opts
	for key, v := range KindProcessEnv(os.Getenv, engine) {
		k.log("%s=%s (engine storage driver %s)", key, v, engine.StorageDriver)
		os.Setenv(key, v)
	}
	if err := k.dockerShim(); err != nil {
		return err
	}

	k.provider = kindcluster.NewProvider(kindcluster.ProviderWithDocker(), kindcluster.ProviderWithLogger(kindlog.NoopLogger{}))
	f.teardown = k.teardown
	steps := []struct {
		what string
		run  func(context.Context) error
	}{
		{"building the secretfed image " + opts.SecretfedImage + " (hack/build-image.sh)", k.buildImage},
		{"creating kind clusters", k.createClusters},
		{"writing the kubeconfig", k.writeKubeconfig},
		{"loading " + opts.SecretfedImage + " into the host", k.loadImage},
		{"installing secretfed from artifacts/deploy", k.deploy},
		{"joining members at their in-network endpoints", k.join},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	for i, s := range steps {
		k.log("[%d/%d] %s", i+1, len(steps), s.what)
		t0 := time.Now()
		if err := s.run(ctx); err != nil {
			err = fmt.Errorf("kind bed: %s: %w (state and logs: %s)", s.what, err, dir)
			k.failed()
			return err
		}
		k.log("      done in %s", time.Since(t0).Round(100*time.Millisecond))
	}
	f.Env = k.env
	f.HostContext = k.clusters[0].Context
	f.MemberNames = strings.Fields(k.env["MEMBER_CONTEXTS"])
	return nil
}

type kindBed struct {
	f        *Framework
	dir      string
	opts     KindOptions
	log      func(format string, args ...any)
	provider *kindcluster.Provider
	clusters []KindCluster
	created  []string
	internal map[string]string // context -> in-network API endpoint
	env      map[string]string
}

func kindStepLogger() func(string, ...any) {
	return func(format string, args ...any) {
		fmt.Fprintf(os.Stderr, "[kind] "+format+"\n", args...)
	}
}

// preflight checks the engine and the node image, and reads the facts the
// configuration depends on.
func (k *kindBed) preflight() (EngineInfo, error) {
	if _, err := exec.LookPath("docker"); err != nil {
		return EngineInfo{}, errors.New("E2E_PROVIDER=kind needs docker on PATH (a running Docker engine)")
	}
	out, err := exec.Command("docker", "info", "--format", "{{.CgroupVersion}} {{.Driver}}").CombinedOutput()
	if err != nil {
		return EngineInfo{}, fmt.Errorf("docker info: %v: %s", err, bytes.TrimSpace(out))
	}
	engine, err := ParseEngineInfo(string(out))
	if err != nil {
		return engine, err
	}
	image := envOr("KIND_NODE_IMAGE", DefaultKindNodeImage)
	label, err := exec.Command("docker", "image", "inspect", "-f",
		`{{index .Config.Labels "`+KindNodeImageCNILabel+`"}}|{{index .Config.Labels "`+KindNodeImageSkipPhasesLabel+`"}}`, image).CombinedOutput()
	if err != nil {
		return engine, fmt.Errorf("kind node image %s is not in the local engine (%s). Images cannot be pulled "+
			"on this machine; build it as hack/kind/README.md describes, or set KIND_NODE_IMAGE to a node image "+
			"you have (`docker images`)", image, strings.TrimSpace(string(label)))
	}
	cni, skip, _ := strings.Cut(strings.TrimSpace(strings.ReplaceAll(string(label), "<no value>", "")), "|")
	engine.NodeImageCNI, engine.NodeImageSkipPhases = cni, skip
	k.log("engine: cgroup v%s, storage driver %s; node image %s (CNI %q, skips kubeadm phases %q)",
		engine.CgroupVersion, engine.StorageDriver, image, engine.NodeImageCNI, engine.NodeImageSkipPhases)
	return engine, nil
}

// dockerShim puts hack/kind/bin first on PATH when the engine refuses
// --privileged (kind passes it to every `docker run` and `docker exec`).
func (k *kindBed) dockerShim() error {
	shimDir := filepath.Join(k.f.RepoRoot, "hack", "kind", "bin")
	use := false
	switch mode := envOr("E2E_KIND_DOCKER_SHIM", "auto"); mode {
	case "always":
		use = true
	case "never":
	case "auto":
		// The node image runs as root, which is what the engine refuses to
		// give the full capability set to; /bin/true exists in any node image.
		out, err := exec.Command("docker", "run", "--rm", "--privileged", "--entrypoint", "/bin/true", k.opts.NodeImage).CombinedOutput()
		if err != nil {
			if !PrivilegedRefused(string(out)) {
				return fmt.Errorf("probing `docker run --privileged %s`: %v: %s", k.opts.NodeImage, err, bytes.TrimSpace(out))
			}
			use = true
		}
	default:
		return fmt.Errorf("E2E_KIND_DOCKER_SHIM=%q: want auto, always or never", mode)
	}
	if use {
		k.log("the engine refuses --privileged: using %s/docker for kind", shimDir)
		os.Setenv("PATH", shimDir+string(os.PathListSeparator)+os.Getenv("PATH"))
	}
	return nil
}

func (k *kindBed) buildImage(ctx context.Context) error {
	cmd := exec.CommandContext(ctx, filepath.Join(k.f.RepoRoot, "hack", "build-image.sh"))
	cmd.Dir = k.f.RepoRoot
	cmd.Env = append(os.Environ(), "IMAGE="+k.opts.SecretfedImage)
	return k.runLogged(cmd, "build-image.log")
}

func (k *kindBed) createClusters(ctx context.Context) error {
	k.clusters = k.opts.Clusters()
	existing, err := k.provider.List()
	if err != nil {
		return fmt.Errorf("kind get clusters: %w", err)
	}
	reuse := os.Getenv("E2E_KIND_REUSE") == "1"
	for _, c := range k.clusters {
		if slices.Contains(existing, c.Name) {
			if reuse {
				k.log("      reusing kind cluster %s", c.Name)
				continue
			}
			k.log("      deleting the leftover kind cluster %s", c.Name)
			if err := k.provider.Delete(c.Name, ""); err != nil {
				return fmt.Errorf("deleting %s: %w", c.Name, err)
			}
		}
		t0 := time.Now()
		k.log("      creating %s (node %s, image %s)", c.Name, c.NodeName(), c.Config.Nodes[0].Image)
		// An explicit kubeconfig path keeps kind away from the user's ~/.kube/config.
		err := k.provider.Create(c.Name,
			kindcluster.CreateWithV1Alpha4Config(c.Config),
			kindcluster.CreateWithKubeconfigPath(filepath.Join(k.dir, "kind-"+c.Name+".kubeconfig")),
			kindcluster.CreateWithWaitForReady(3*time.Minute),
			kindcluster.CreateWithDisplayUsage(false),
			kindcluster.CreateWithDisplaySalutation(false),
			// kind deletes a node that failed to come up unless told to keep it.
			kindcluster.CreateWithRetain(os.Getenv("E2E_KEEP") == "1" || os.Getenv("KEEP_ON_FAILURE") == "1"))
		k.created = append(k.created, c.Name)
		if err != nil {
			_ = k.provider.CollectLogs(c.Name, filepath.Join(k.dir, "logs", c.Name))
			return fmt.Errorf("kind create cluster %s: %w%s (node logs: %s)", c.Name, err, commandOutputTail(err), filepath.Join(k.dir, "logs", c.Name))
		}
		k.log("      %s up in %s", c.Name, time.Since(t0).Round(time.Second))
	}
	return nil
}

func (k *kindBed) writeKubeconfig(ctx context.Context) error {
	raw := map[string][]byte{}
	k.internal = map[string]string{}
	for _, c := range k.clusters {
		kc, err := k.provider.KubeConfig(c.Name, false)
		if err != nil {
			return fmt.Errorf("kubeconfig of %s: %w", c.Name, err)
		}
		raw[c.Context] = []byte(kc)
		ip := ""
		if k.opts.MemberAddressByIP {
			n, err := k.controlPlane(c)
			if err != nil {
				return err
			}
			if ip, _, err = n.IP(); err != nil {
				return fmt.Errorf("IP of %s: %w", c.NodeName(), err)
			}
		}
		k.internal[c.Context] = c.InternalAPIEndpoint(ip)
	}
	merged, err := MergeKindKubeconfigs(raw, k.clusters[0].Context)
	if err != nil {
		return err
	}
	path := filepath.Join(k.dir, "kubeconfig")
	if err := clientcmd.WriteToFile(*merged, path); err != nil {
		return err
	}
	k.f.Kubeconfig = path
	k.env = KindEnv(k.opts, k.dir, path, merged, k.internal)
	return writeEnvFile(filepath.Join(k.dir, "env"), k.env)
}

func (k *kindBed) controlPlane(c KindCluster) (nodes.Node, error) {
	all, err := k.provider.ListNodes(c.Name)
	if err != nil {
		return nil, fmt.Errorf("nodes of %s: %w", c.Name, err)
	}
	cp, err := nodeutils.ControlPlaneNodes(all)
	if err != nil || len(cp) == 0 {
		return nil, fmt.Errorf("no control-plane node in %s: %v", c.Name, err)
	}
	return cp[0], nil
}

// loadImage is `kind load docker-image` for the host's nodes.
func (k *kindBed) loadImage(ctx context.Context) error {
	all, err := k.provider.ListNodes(k.clusters[0].Name)
	if err != nil {
		return err
	}
	for _, n := range all {
		save := exec.CommandContext(ctx, "docker", "save", k.opts.SecretfedImage)
		var stderr bytes.Buffer
		save.Stderr = &stderr
		out, err := save.StdoutPipe()
		if err != nil {
			return err
		}
		if err := save.Start(); err != nil {
			return err
		}
		loadErr := nodeutils.LoadImageArchive(n, out)
		_, _ = io.Copy(io.Discard, out)
		if err := save.Wait(); err != nil {
			return fmt.Errorf("docker save %s: %v: %s", k.opts.SecretfedImage, err, stderr.String())
		}
		if loadErr != nil {
			return fmt.Errorf("loading %s into %s: %w", k.opts.SecretfedImage, n.String(), loadErr)
		}
	}
	return nil
}

// deploy installs artifacts/deploy through the overlay of hack/deploy-certs.sh,
// as docs/deploy.md tells a user to, and waits until the API answers.
func (k *kindBed) deploy(ctx context.Context) error {
	host := k.clusters[0].Context
	overlay := filepath.Join(k.dir, "deploy")
	cmd := exec.CommandContext(ctx, filepath.Join(k.f.RepoRoot, "hack", "deploy-certs.sh"), overlay)
	cmd.Env = append(os.Environ(), "IMAGE="+k.opts.SecretfedImage)
	if err := k.runLogged(cmd, "deploy-certs.log"); err != nil {
		return err
	}
	if err := k.ensureDataVolume(ctx); err != nil {
		return err
	}
	if r := k.f.Kubectl(ctx, "", "--context", host, "apply", "-k", overlay); r.Err != nil {
		return fmt.Errorf("kubectl apply -k %s: %v\n%s", overlay, r.Err, r.Output())
	}
	r := k.f.Kubectl(ctx, "", "--context", host, "-n", "secretfed-system", "rollout", "status",
		"statefulset/secretfed-apiserver", "--timeout=5m")
	if r.Err != nil {
		return fmt.Errorf("secretfed-apiserver did not become ready: %v\n%s\n%s", r.Err, r.Output(), k.diagnose(ctx))
	}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		r = k.f.Kubectl(ctx, "", "--context", host, "get", "federatedsecrets", "-A")
		if r.Err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("kubectl get federatedsecrets -A through the host: %v\n%s\n%s", r.Err, r.Output(), k.diagnose(ctx))
		}
		time.Sleep(time.Second)
	}
}

// ensureDataVolume gives the StatefulSet's claim a volume when the host has
// no default StorageClass (a node image without kind's local-path
// provisioner): a local PersistentVolume on the node, bound to that claim.
func (k *kindBed) ensureDataVolume(ctx context.Context) error {
	cfg, err := k.f.restConfig(k.clusters[0].Context)
	if err != nil {
		return err
	}
	host, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	scs, err := host.StorageV1().StorageClasses().List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	for _, sc := range scs.Items {
		if sc.Annotations["storageclass.kubernetes.io/is-default-class"] == "true" {
			return nil
		}
	}
	node, err := k.controlPlane(k.clusters[0])
	if err != nil {
		return err
	}
	const path = "/var/local/secretfed-data"
	if err := node.CommandContext(ctx, "sh", "-c", "mkdir -p "+path+" && chown 65532:65532 "+path+" && chmod 700 "+path).Run(); err != nil {
		return fmt.Errorf("making %s on %s: %w", path, node.String(), err)
	}
	k.log("      no default StorageClass in the host: a local PersistentVolume at %s:%s", node.String(), path)
	pv := &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: "secretfed-e2e-data"},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:                      corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")},
			AccessModes:                   []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimRetain,
			ClaimRef:                      &corev1.ObjectReference{Namespace: "secretfed-system", Name: "data-secretfed-apiserver-0"},
			PersistentVolumeSource:        corev1.PersistentVolumeSource{Local: &corev1.LocalVolumeSource{Path: path}},
			NodeAffinity: &corev1.VolumeNodeAffinity{Required: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
				MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "kubernetes.io/hostname", Operator: corev1.NodeSelectorOpIn, Values: []string{node.String()}}},
			}}}},
		},
	}
	if _, err := host.CoreV1().PersistentVolumes().Create(ctx, pv, metav1.CreateOptions{}); err != nil && !strings.Contains(err.Error(), "already exists") {
		return err
	}
	return nil
}

func (k *kindBed) diagnose(ctx context.Context) string {
	host := k.clusters[0].Context
	var b strings.Builder
	for _, args := range [][]string{
		{"-n", "secretfed-system", "get", "pods,pvc,events", "-o", "wide"},
		{"-n", "secretfed-system", "describe", "pod", "secretfed-apiserver-0"},
		{"-n", "secretfed-system", "logs", "secretfed-apiserver-0", "--tail=40"},
		{"get", "apiservice", "v1alpha1.secretfed.io", "-o", "jsonpath={.status.conditions}"},
	} {
		r := k.f.Kubectl(ctx, "", append([]string{"--context", host}, args...)...)
		fmt.Fprintf(&b, "---- kubectl %s ----\n%s\n", strings.Join(args, " "), r.Output())
	}
	return b.String()
}

// join joins every member with the real plugin at its in-network endpoint
// (the kubeconfig's 127.0.0.1:<port> is unreachable from the secretfed pod),
// with the labels JoinMembers uses, which then finds them joined.
func (k *kindBed) join(ctx context.Context) error {
	for i, c := range k.clusters[1:] {
		l := MemberLabels(i)
		r := k.f.Plugin(ctx, "join", c.Context, "--host-context", k.clusters[0].Context, "--cluster-context", c.Context,
			"--labels", fmt.Sprintf("env=%s,region=%s", l["env"], l["region"]), "--api-endpoint", k.internal[c.Context])
		if r.Err != nil && !strings.Contains(r.Output(), "already") {
			return fmt.Errorf("kubectl secretfed join %s --api-endpoint %s: %v\n%s", c.Context, k.internal[c.Context], r.Err, r.Output())
		}
	}
	return nil
}

// failed collects the node logs of the clusters this run created and deletes
// them, unless E2E_KEEP=1 or KEEP_ON_FAILURE=1 asks to leave them for debugging.
func (k *kindBed) failed() {
	for _, name := range k.created {
		_ = k.provider.CollectLogs(name, filepath.Join(k.dir, "logs", name))
	}
	if os.Getenv("E2E_KEEP") == "1" || os.Getenv("KEEP_ON_FAILURE") == "1" {
		k.log("leaving the clusters up for debugging: KUBECONFIG=%s; delete them with: kind delete clusters %s",
			filepath.Join(k.dir, "kubeconfig"), strings.Join(k.created, " "))
		return
	}
	for _, name := range k.created {
		if err := k.provider.Delete(name, ""); err != nil {
			k.log("kind delete cluster %s: %v", name, err)
		}
	}
}

func (k *kindBed) teardown() error {
	// The server's log, for the run's record.
	if len(k.clusters) > 0 && k.f.Kubeconfig != "" {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		r := k.f.Kubectl(ctx, "", "--context", k.clusters[0].Context, "-n", "secretfed-system", "logs", "secretfed-apiserver-0")
		cancel()
		_ = os.WriteFile(filepath.Join(k.dir, "logs", "secretfed.log"), []byte(r.Output()), 0o600)
	}
	if os.Getenv("E2E_KEEP") == "1" {
		fmt.Fprintf(os.Stderr, "E2E_KEEP=1: the kind clusters stay up; KUBECONFIG=%s; delete them with: kind delete clusters %s\n",
			k.f.Kubeconfig, strings.Join(k.created, " "))
		return nil
	}
	var errs []error
	for _, name := range k.created {
		if err := k.provider.Delete(name, ""); err != nil {
			errs = append(errs, fmt.Errorf("kind delete cluster %s: %w", name, err))
		}
	}
	return errors.Join(errs...)
}

// commandOutputTail is the last lines a failed command in a node printed
// (e.g. kubeadm init's error), which kind keeps in the error but does not
// show.
func commandOutputTail(err error) string {
	var re *kindexec.RunError
	if !errors.As(err, &re) || len(re.Output) == 0 {
		return ""
	}
	lines := strings.Split(strings.TrimSpace(string(re.Output)), "\n")
	// kubeadm prints a Go stack after its error line; the error is what matters.
	for i, l := range lines {
		if strings.HasPrefix(l, "error: ") || strings.HasPrefix(l, "error execution phase") {
			lines = lines[:i+1]
			break
		}
	}
	return "\n---- its output, last lines ----\n" + strings.Join(lines[max(0, len(lines)-15):], "\n")
}

// runLogged runs cmd with its output in logs/<name>; on failure the error
// carries the log's tail.
func (k *kindBed) runLogged(cmd *exec.Cmd, name string) error {
	path := filepath.Join(k.dir, "logs", name)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	_ = os.WriteFile(path, out.Bytes(), 0o600)
	if err != nil {
		lines := strings.Split(strings.TrimSpace(out.String()), "\n")
		return fmt.Errorf("%s: %w\n%s\n(full log: %s)", strings.Join(cmd.Args, " "), err, strings.Join(lines[max(0, len(lines)-20):], "\n"), path)
	}
	return nil
}

// writeEnvFile writes the env map as the local bed does (`export K=V`), so
// E2E_KUBECONFIG=<dir>/kubeconfig can attach to a kept kind bed.
func writeEnvFile(path string, env map[string]string) error {
	keys := make([]string, 0, len(env))
	for k := range env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "export %s=%s\n", k, shellQuote(env[k]))
	}
	return os.WriteFile(path, []byte(b.String()), 0o600)
}

func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r == '/' || r == '.' || r == '-' || r == '_' || r == ':' || r == '=' || r == ',' ||
			(r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9'))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
