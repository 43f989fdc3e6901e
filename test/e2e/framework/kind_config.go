package framework

// The pure half of the kind provider: what the three clusters look like,
// decided from the environment and from facts about the container engine,
// with no engine, file or network access. kind.go does the side effects.
// Unit tests: kind_config_test.go (no Docker needed).

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	kindv1alpha4 "sigs.k8s.io/kind/pkg/apis/config/v1alpha4"
	"sigs.k8s.io/yaml"
)

const (
	// DefaultKindNodeImage is the node image the kind provider uses unless
	// KIND_NODE_IMAGE names another. No image can be pulled on the project's
	// machines, so it is built locally (hack/kind/README.md).
	DefaultKindNodeImage = "secretfed/kind-node:v1.37.2"
	// KindNodeImageCNILabel on a node image says which CNI it ships: "bridge"
	// (a bridge + host-local + portmap + loopback config in /etc/cni/net.d,
	// no kindnetd) makes the provider disable kind's default CNI.
	KindNodeImageCNILabel = "io.secretfed.kind.cni"
	// KindNodeImageSkipPhasesLabel on a node image lists the kubeadm init
	// phases it cannot serve, comma-separated: "addon/coredns" on an image
	// without a CoreDNS image. The provider skips them unless
	// KIND_SKIP_PHASES says otherwise.
	KindNodeImageSkipPhasesLabel = "io.secretfed.kind.skip-phases"
	// DefaultKindSecretfedImage is the secretfed image built and loaded into the host.
	DefaultKindSecretfedImage = "secretfed-apiserver:e2e"
	// kindAPIServerPort is the port every kind control plane serves on inside
	// its node container, on kind's Docker network.
	kindAPIServerPort = 6443
)

// EngineInfo is what the provider learned about the container engine.
type EngineInfo struct {
	// CgroupVersion as `docker info --format {{.CgroupVersion}}` prints it: "1" or "2".
	CgroupVersion string
	// StorageDriver as `docker info --format {{.Driver}}` prints it, e.g. overlay2, fuse-overlayfs.
	StorageDriver string
	// NodeImageCNI is the node image's KindNodeImageCNILabel ("" when unlabelled).
	NodeImageCNI string
	// NodeImageSkipPhases is the node image's KindNodeImageSkipPhasesLabel ("" when unlabelled).
	NodeImageSkipPhases string
}

// ParseEngineInfo reads the output of
// `docker info --format '{{.CgroupVersion}} {{.Driver}}'`.
func ParseEngineInfo(out string) (EngineInfo, error) {
	f := strings.Fields(out)
	if len(f) != 2 {
		return EngineInfo{}, fmt.Errorf("docker info printed %q, want \"<cgroup version> <storage driver>\"", strings.TrimSpace(out))
	}
	if f[0] != "1" && f[0] != "2" {
		return EngineInfo{}, fmt.Errorf("docker info: cgroup version %q, want 1 or 2", f[0])
	}
	return EngineInfo{CgroupVersion: f[0], StorageDriver: f[1]}, nil
}

// KindOptions shape the kind bed.
type KindOptions struct {
	// Prefix of the kind cluster names: <prefix>-host, <prefix>-member1, ...
	Prefix string
	// Members is the number of member clusters.
	Members int
	// NodeImage runs every node.
	NodeImage string
	// SecretfedImage is built by hack/build-image.sh and loaded into the host.
	SecretfedImage string
	// CgroupV1: the engine runs cgroup v1, which kubelet v1.37 refuses unless
	// its KubeletConfiguration sets failCgroupV1: false.
	CgroupV1 bool
	// BridgeCNI: the node image ships a bridge CNI config instead of kind's
	// kindnetd (which the Go module proxy does not serve), so kind must not
	// install its default CNI. Enough for single-node clusters.
	BridgeCNI bool
	// SkipPhases are kubeadm init phases to leave out (e.g. addon/coredns).
	SkipPhases []string
	// MemberAddressByIP: join members at their node container's IP instead of
	// its name. Needed when the host has no working cluster DNS forwarding to
	// Docker's embedded DNS (e.g. CoreDNS skipped).
	MemberAddressByIP bool
}

// KindOptionsFromEnv decides the options from the environment (getenv) and
// the engine. Environment, all optional:
//
//	KIND_NODE_IMAGE              node image (DefaultKindNodeImage)
//	E2E_KIND_PREFIX              cluster name prefix ("secretfed")
//	E2E_KIND_MEMBERS             number of members (2)
//	E2E_KIND_IMAGE               secretfed image tag (DefaultKindSecretfedImage)
//	KIND_DISABLE_DEFAULT_CNI     true/false; default: true when the node image's
//	                             io.secretfed.kind.cni label is "bridge"
//	KIND_FAIL_CGROUP_V1          true/false; default: false (i.e. patch failCgroupV1: false)
//	                             exactly when the engine is on cgroup v1
//	KIND_SKIP_PHASES             comma-separated kubeadm init phases to skip, or "none";
//	                             default: the node image's io.secretfed.kind.skip-phases label
//	E2E_KIND_MEMBER_ADDRESS      "name" (default) or "ip"; "ip" is implied when
//	                             KIND_SKIP_PHASES skips addon/coredns
func KindOptionsFromEnv(getenv func(string) string, engine EngineInfo) (KindOptions, error) {
	o := KindOptions{
		Prefix:         orDefault(getenv("E2E_KIND_PREFIX"), "secretfed"),
		Members:        2,
		NodeImage:      orDefault(getenv("KIND_NODE_IMAGE"), DefaultKindNodeImage),
		SecretfedImage: orDefault(getenv("E2E_KIND_IMAGE"), DefaultKindSecretfedImage),
		CgroupV1:       engine.CgroupVersion == "1",
		BridgeCNI:      engine.NodeImageCNI == "bridge",
	}
	if v := getenv("E2E_KIND_MEMBERS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 9 {
			return o, fmt.Errorf("E2E_KIND_MEMBERS=%q: want a number from 1 to 9", v)
		}
		o.Members = n
	}
	if v := getenv("KIND_DISABLE_DEFAULT_CNI"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return o, fmt.Errorf("KIND_DISABLE_DEFAULT_CNI=%q: want true or false", v)
		}
		o.BridgeCNI = b
	}
	if v := getenv("KIND_FAIL_CGROUP_V1"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return o, fmt.Errorf("KIND_FAIL_CGROUP_V1=%q: want true or false", v)
		}
		o.CgroupV1 = !b
	}
	skip := orDefault(getenv("KIND_SKIP_PHASES"), engine.NodeImageSkipPhases)
	if skip == "none" {
		skip = ""
	}
	for _, p := range strings.Split(skip, ",") {
		if p = strings.TrimSpace(p); p != "" {
			o.SkipPhases = append(o.SkipPhases, p)
		}
	}
	switch a := getenv("E2E_KIND_MEMBER_ADDRESS"); a {
	case "", "name":
		o.MemberAddressByIP = slices.Contains(o.SkipPhases, "addon/coredns")
	case "ip":
		o.MemberAddressByIP = true
	default:
		return o, fmt.Errorf("E2E_KIND_MEMBER_ADDRESS=%q: want name or ip", a)
	}
	if err := validClusterName(o.Prefix + "-member" + strconv.Itoa(o.Members)); err != nil {
		return o, fmt.Errorf("E2E_KIND_PREFIX=%q: %w", o.Prefix, err)
	}
	return o, nil
}

// KindCluster is one cluster of the bed.
type KindCluster struct {
	// Context is the kubeconfig context the specs use: secretfed-host,
	// member1, member2, ... (members join under the same names).
	Context string
	// Name is the kind cluster name; its only node container is Name-control-plane.
	Name   string
	Host   bool
	Config *kindv1alpha4.Cluster
}

// NodeName is the cluster's node container, also its hostname on kind's network.
func (c KindCluster) NodeName() string { return c.Name + "-control-plane" }

// InternalAPIEndpoint is where the cluster's API server is reached from
// other containers on kind's Docker network, and so from pods of the host
// cluster: the node container's name (or IP) on port 6443. kubeadm puts the
// node name and its IP into the serving certificate, so both verify.
// (The 127.0.0.1:<random port> that kind publishes is for this machine only.)
func (c KindCluster) InternalAPIEndpoint(nodeIP string) string {
	host := c.NodeName()
	if nodeIP != "" {
		host = nodeIP
		if strings.Contains(nodeIP, ":") {
			host = "[" + nodeIP + "]"
		}
	}
	return fmt.Sprintf("https://%s:%d", host, kindAPIServerPort)
}

// Clusters returns the host and the members, in that order.
func (o KindOptions) Clusters() []KindCluster {
	out := []KindCluster{{Context: "secretfed-host", Name: o.Prefix + "-host", Host: true}}
	for i := 1; i <= o.Members; i++ {
		out = append(out, KindCluster{Context: "member" + strconv.Itoa(i), Name: o.Prefix + "-member" + strconv.Itoa(i)})
	}
	for i := range out {
		out[i].Config = o.clusterConfig(out[i])
	}
	return out
}

// clusterConfig is the kind configuration of one cluster: a single
// control-plane node (kind removes its taint, so pods schedule on it).
func (o KindOptions) clusterConfig(c KindCluster) *kindv1alpha4.Cluster {
	cfg := &kindv1alpha4.Cluster{
		TypeMeta: kindv1alpha4.TypeMeta{Kind: "Cluster", APIVersion: "kind.x-k8s.io/v1alpha4"},
		Name:     c.Name,
		Nodes:    []kindv1alpha4.Node{{Role: kindv1alpha4.ControlPlaneRole, Image: o.NodeImage}},
		Networking: kindv1alpha4.Networking{
			// Published for the test process only; members are reached from
			// the host's pods at InternalAPIEndpoint. Port 0: kind picks a
			// free one, so several beds and `make run` never collide.
			APIServerAddress:  "127.0.0.1",
			APIServerPort:     0,
			DisableDefaultCNI: o.BridgeCNI,
		},
	}
	if c.Host {
		// The aggregator dials the secretfed pod's endpoint IP directly
		// instead of the Service's ClusterIP: works with or without
		// kube-proxy, which a locally built node image may leave out.
		cfg.KubeadmConfigPatches = append(cfg.KubeadmConfigPatches, kubeadmPatch(map[string]any{
			"kind":      "ClusterConfiguration",
			"apiServer": map[string]any{"extraArgs": map[string]any{"enable-aggregator-routing": "true"}},
		}))
	}
	if o.CgroupV1 {
		// kubelet v1.37 refuses to start on cgroup v1 unless told otherwise.
		cfg.KubeadmConfigPatches = append(cfg.KubeadmConfigPatches, kubeadmPatch(map[string]any{
			"kind":         "KubeletConfiguration",
			"failCgroupV1": false,
		}))
	}
	if len(o.SkipPhases) > 0 {
		// A merge patch replaces kind's own skipPhases list, which is
		// [preflight] (its images are preloaded, and preflight's system
		// checks do not hold inside a node container): keep that one.
		phases := []string{"preflight"}
		for _, p := range o.SkipPhases {
			if !slices.Contains(phases, p) {
				phases = append(phases, p)
			}
		}
		cfg.KubeadmConfigPatches = append(cfg.KubeadmConfigPatches, kubeadmPatch(map[string]any{
			"kind":       "InitConfiguration",
			"skipPhases": phases,
		}))
	}
	return cfg
}

// kubeadmPatch renders a kind kubeadmConfigPatches entry. Without an
// apiVersion it matches the document of that kind whatever kubeadm API
// version kind generates (kind converts extraArgs maps for v1beta4).
func kubeadmPatch(p map[string]any) string {
	out, err := yaml.Marshal(p)
	if err != nil {
		panic(err) // plain maps of strings and bools always marshal
	}
	return string(out)
}

// PrivilegedRefused reports whether a `docker run --privileged` probe failed
// because the engine cannot grant the full capability set (seen on hosts whose
// bounding set lacks CAP_SYS_RESOURCE: "unable to apply caps: operation not
// permitted"). kind always passes --privileged; hack/kind/bin/docker rewrites it.
func PrivilegedRefused(probeOutput string) bool {
	return strings.Contains(probeOutput, "unable to apply caps") ||
		(strings.Contains(probeOutput, "privileged") && strings.Contains(probeOutput, "operation not permitted"))
}

// KindProcessEnv is the environment the kind library needs in this process
// (kind reads it in-process and passes it to the node containers): the
// containerd snapshotter when the engine's storage driver is fuse-overlayfs,
// where kind would otherwise pick fuse-overlayfs inside the node too.
func KindProcessEnv(getenv func(string) string, engine EngineInfo) map[string]string {
	env := map[string]string{}
	if getenv("KIND_EXPERIMENTAL_CONTAINERD_SNAPSHOTTER") == "" && engine.StorageDriver == "fuse-overlayfs" {
		env["KIND_EXPERIMENTAL_CONTAINERD_SNAPSHOTTER"] = "overlayfs"
	}
	return env
}

// MergeKindKubeconfigs combines kind's kubeconfigs (keyed by our context
// name) into one whose contexts, clusters and users all carry that name;
// the current context is hostContext.
func MergeKindKubeconfigs(byContext map[string][]byte, hostContext string) (*clientcmdapi.Config, error) {
	out := clientcmdapi.NewConfig()
	for ctxName, raw := range byContext {
		cfg, err := clientcmd.Load(raw)
		if err != nil {
			return nil, fmt.Errorf("kubeconfig for %s: %w", ctxName, err)
		}
		cur := cfg.CurrentContext
		kctx, ok := cfg.Contexts[cur]
		if !ok {
			return nil, fmt.Errorf("kubeconfig for %s: current context %q not found", ctxName, cur)
		}
		cluster, ok := cfg.Clusters[kctx.Cluster]
		if !ok {
			return nil, fmt.Errorf("kubeconfig for %s: cluster %q not found", ctxName, kctx.Cluster)
		}
		user, ok := cfg.AuthInfos[kctx.AuthInfo]
		if !ok {
			return nil, fmt.Errorf("kubeconfig for %s: user %q not found", ctxName, kctx.AuthInfo)
		}
		out.Clusters[ctxName] = cluster
		out.AuthInfos[ctxName] = user
		out.Contexts[ctxName] = &clientcmdapi.Context{Cluster: ctxName, AuthInfo: ctxName, Namespace: kctx.Namespace}
	}
	if _, ok := out.Contexts[hostContext]; !ok {
		return nil, fmt.Errorf("no kubeconfig for the host context %s", hostContext)
	}
	out.CurrentContext = hostContext
	return out, nil
}

// KindEnv is the bed's env map (the local provider's keys where they apply,
// see docs/testbed.md), from the merged kubeconfig and the clusters'
// in-network endpoints (keyed by context; the host's is where a spec that
// joins the host itself points the join).
func KindEnv(o KindOptions, dir, kubeconfigPath string, kc *clientcmdapi.Config, internal map[string]string) map[string]string {
	clusters := o.Clusters()
	env := map[string]string{
		"E2E_PROVIDER":     "kind",
		"KIND_DIR":         dir,
		"LOG_DIR":          dir + "/logs",
		"KUBECONFIG":       kubeconfigPath,
		"MEMBERS":          strconv.Itoa(o.Members),
		"HOST_CONTEXT":     clusters[0].Context,
		"KIND_NODE_IMAGE":  o.NodeImage,
		"SECRETFED_IMAGE":  o.SecretfedImage,
		"SECRETFED_DEPLOY": dir + "/deploy",
	}
	var names, contexts []string
	for i, c := range clusters {
		names = append(names, c.Name)
		server := ""
		if cl := kc.Clusters[c.Context]; cl != nil {
			server = cl.Server
		}
		if c.Host {
			env["HOST_URL"] = server
			env["HOST_KIND_CLUSTER"] = c.Name
			if ep := internal[c.Context]; ep != "" {
				env["HOST_API_ENDPOINT"] = ep
			}
			continue
		}
		contexts = append(contexts, c.Context)
		p := "MEMBER" + strconv.Itoa(i)
		env[p+"_CONTEXT"] = c.Context
		env[p+"_URL"] = server
		env[p+"_API_ENDPOINT"] = internal[c.Context]
		env[p+"_KIND_CLUSTER"] = c.Name
	}
	env["MEMBER_CONTEXTS"] = strings.Join(contexts, " ")
	env["KIND_CLUSTERS"] = strings.Join(names, " ")
	return env
}

// validClusterName applies kind's rule for cluster names (they become
// container and network names): lower-case alphanumerics and '-'.
func validClusterName(name string) error {
	if name == "" || len(name) > 50 {
		return fmt.Errorf("cluster name %q: want 1 to 50 characters", name)
	}
	for i, r := range name {
		ok := (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') || (r == '-' && i > 0)
		if !ok {
			return fmt.Errorf("cluster name %q: only lower-case letters, digits and inner '-'", name)
		}
	}
	return nil
}

func orDefault(v, def string) string {
	if v != "" {
		return v
	}
	return def
}
