package framework

import (
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	kindv1alpha4 "sigs.k8s.io/kind/pkg/apis/config/v1alpha4"
	"sigs.k8s.io/yaml"
)

// These run without a container engine: `go test ./test/e2e/framework/...`.

func env(kv map[string]string) func(string) string {
	return func(k string) string { return kv[k] }
}

func TestParseEngineInfo(t *testing.T) {
	for _, tc := range []struct {
		out     string
		want    EngineInfo
		wantErr string
	}{
		{out: "1 fuse-overlayfs\n", want: EngineInfo{CgroupVersion: "1", StorageDriver: "fuse-overlayfs"}},
		{out: "2 overlay2", want: EngineInfo{CgroupVersion: "2", StorageDriver: "overlay2"}},
		{out: "", wantErr: "want \"<cgroup version> <storage driver>\""},
		{out: " overlay2", wantErr: "want \"<cgroup version> <storage driver>\""},
		{out: "v1 overlay2", wantErr: "cgroup version \"v1\""},
	} {
		got, err := ParseEngineInfo(tc.out)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("ParseEngineInfo(%q) error = %v, want one containing %q", tc.out, err, tc.wantErr)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ParseEngineInfo(%q) = %+v, %v; want %+v", tc.out, got, err, tc.want)
		}
	}
}

func TestKindOptionsFollowTheEngineUnlessTheEnvironmentSaysOtherwise(t *testing.T) {
	cgroupV1Bridge := EngineInfo{CgroupVersion: "1", StorageDriver: "fuse-overlayfs", NodeImageCNI: "bridge"}
	cgroupV2Kindnet := EngineInfo{CgroupVersion: "2", StorageDriver: "overlay2"}
	for _, tc := range []struct {
		name    string
		env     map[string]string
		engine  EngineInfo
		want    KindOptions
		wantErr string
	}{{
		name:   "defaults on this project's machines (cgroup v1, bridge-CNI node image)",
		engine: cgroupV1Bridge,
		want: KindOptions{Prefix: "secretfed", Members: 2, NodeImage: DefaultKindNodeImage,
			SecretfedImage: DefaultKindSecretfedImage, CgroupV1: true, BridgeCNI: true},
	}, {
		name:   "defaults on a cgroup v2 engine with kind's own node image",
		env:    map[string]string{"KIND_NODE_IMAGE": "kindest/node:v1.37.2"},
		engine: cgroupV2Kindnet,
		want: KindOptions{Prefix: "secretfed", Members: 2, NodeImage: "kindest/node:v1.37.2",
			SecretfedImage: DefaultKindSecretfedImage},
	}, {
		name: "environment overrides",
		env: map[string]string{"E2E_KIND_PREFIX": "sf2", "E2E_KIND_MEMBERS": "3", "E2E_KIND_IMAGE": "sf:x",
			"KIND_DISABLE_DEFAULT_CNI": "false", "KIND_FAIL_CGROUP_V1": "true", "E2E_KIND_MEMBER_ADDRESS": "ip"},
		engine: cgroupV1Bridge,
		want: KindOptions{Prefix: "sf2", Members: 3, NodeImage: DefaultKindNodeImage, SecretfedImage: "sf:x",
			MemberAddressByIP: true},
	}, {
		name:   "skipping CoreDNS joins members by IP: the host's pods cannot resolve node names",
		env:    map[string]string{"KIND_SKIP_PHASES": "addon/coredns, addon/kube-proxy"},
		engine: cgroupV2Kindnet,
		want: KindOptions{Prefix: "secretfed", Members: 2, NodeImage: DefaultKindNodeImage,
			SecretfedImage: DefaultKindSecretfedImage, SkipPhases: []string{"addon/coredns", "addon/kube-proxy"},
			MemberAddressByIP: true},
	}, {
		name:   "a node image without CoreDNS says so in a label: skipped, members joined by IP",
		engine: EngineInfo{CgroupVersion: "1", StorageDriver: "fuse-overlayfs", NodeImageCNI: "bridge", NodeImageSkipPhases: "addon/coredns"},
		want: KindOptions{Prefix: "secretfed", Members: 2, NodeImage: DefaultKindNodeImage,
			SecretfedImage: DefaultKindSecretfedImage, CgroupV1: true, BridgeCNI: true,
			SkipPhases: []string{"addon/coredns"}, MemberAddressByIP: true},
	}, {
		name:   "KIND_SKIP_PHASES=none overrides the node image's label",
		env:    map[string]string{"KIND_SKIP_PHASES": "none"},
		engine: EngineInfo{CgroupVersion: "2", StorageDriver: "overlay2", NodeImageSkipPhases: "addon/coredns"},
		want: KindOptions{Prefix: "secretfed", Members: 2, NodeImage: DefaultKindNodeImage,
			SecretfedImage: DefaultKindSecretfedImage},
	}, {
		name:    "bad member count",
		env:     map[string]string{"E2E_KIND_MEMBERS": "0"},
		wantErr: "E2E_KIND_MEMBERS",
	}, {
		name:    "bad boolean",
		env:     map[string]string{"KIND_DISABLE_DEFAULT_CNI": "yes please"},
		wantErr: "KIND_DISABLE_DEFAULT_CNI",
	}, {
		name:    "bad member address",
		env:     map[string]string{"E2E_KIND_MEMBER_ADDRESS": "dns"},
		wantErr: "want name or ip",
	}, {
		name:    "prefix that is no valid container name",
		env:     map[string]string{"E2E_KIND_PREFIX": "Secret_Fed"},
		wantErr: "E2E_KIND_PREFIX",
	}} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := KindOptionsFromEnv(env(tc.env), tc.engine)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("options (-want +got):\n%s", d)
			}
		})
	}
}

func TestKindClustersAreAHostAndMembersWithOneControlPlaneNodeEach(t *testing.T) {
	o := KindOptions{Prefix: "secretfed", Members: 2, NodeImage: "img:1"}
	got := o.Clusters()
	var names, contexts []string
	for _, c := range got {
		names = append(names, c.Name)
		contexts = append(contexts, c.Context)
		if c.Config.Name != c.Name || c.Config.Kind != "Cluster" || c.Config.APIVersion != "kind.x-k8s.io/v1alpha4" {
			t.Errorf("%s: config header %+v name %q", c.Name, c.Config.TypeMeta, c.Config.Name)
		}
		if d := cmp.Diff([]kindv1alpha4.Node{{Role: kindv1alpha4.ControlPlaneRole, Image: "img:1"}}, c.Config.Nodes); d != "" {
			t.Errorf("%s nodes (-want +got):\n%s", c.Name, d)
		}
		if n := c.Config.Networking; n.APIServerAddress != "127.0.0.1" || n.APIServerPort != 0 {
			t.Errorf("%s: API server published at %s:%d, want 127.0.0.1 on a port kind picks", c.Name, n.APIServerAddress, n.APIServerPort)
		}
	}
	if d := cmp.Diff([]string{"secretfed-host", "secretfed-member1", "secretfed-member2"}, names); d != "" {
		t.Errorf("cluster names (-want +got):\n%s", d)
	}
	if d := cmp.Diff([]string{"secretfed-host", "member1", "member2"}, contexts); d != "" {
		t.Errorf("contexts (-want +got):\n%s", d)
	}
	if !got[0].Host || got[1].Host || got[2].Host {
		t.Errorf("only the first cluster is the host: %v %v %v", got[0].Host, got[1].Host, got[2].Host)
	}
}

// patchesOf decodes each kubeadmConfigPatches entry, keyed by its kind.
func patchesOf(t *testing.T, c *kindv1alpha4.Cluster) map[string]map[string]any {
	t.Helper()
	out := map[string]map[string]any{}
	for _, p := range c.KubeadmConfigPatches {
		var m map[string]any
		if err := yaml.Unmarshal([]byte(p), &m); err != nil {
			t.Fatalf("patch %q: %v", p, err)
		}
		if _, ok := m["apiVersion"]; ok {
			t.Errorf("patch %q names an apiVersion: kind would apply it to that kubeadm API version only", p)
		}
		kind, _ := m["kind"].(string)
		if _, dup := out[kind]; dup {
			t.Errorf("two patches of kind %s", kind)
		}
		out[kind] = m
	}
	return out
}

func TestKindKubeadmPatches(t *testing.T) {
	aggregatorRouting := map[string]any{"kind": "ClusterConfiguration",
		"apiServer": map[string]any{"extraArgs": map[string]any{"enable-aggregator-routing": "true"}}}
	noFailCgroupV1 := map[string]any{"kind": "KubeletConfiguration", "failCgroupV1": false}
	for _, tc := range []struct {
		name              string
		opts              KindOptions
		wantHost, wantMem map[string]map[string]any
	}{{
		name:     "cgroup v2: only the host's aggregator routing",
		opts:     KindOptions{Prefix: "p", Members: 1},
		wantHost: map[string]map[string]any{"ClusterConfiguration": aggregatorRouting},
		wantMem:  map[string]map[string]any{},
	}, {
		name: "cgroup v1: kubelet told to accept it, on every cluster",
		opts: KindOptions{Prefix: "p", Members: 1, CgroupV1: true},
		wantHost: map[string]map[string]any{"ClusterConfiguration": aggregatorRouting,
			"KubeletConfiguration": noFailCgroupV1},
		wantMem: map[string]map[string]any{"KubeletConfiguration": noFailCgroupV1},
	}, {
		// kind's InitConfiguration already skips preflight, and a merge
		// patch replaces that list: the patch must keep it.
		name: "skipped phases keep kind's preflight",
		opts: KindOptions{Prefix: "p", Members: 1, SkipPhases: []string{"addon/coredns"}},
		wantHost: map[string]map[string]any{"ClusterConfiguration": aggregatorRouting,
			"InitConfiguration": {"kind": "InitConfiguration", "skipPhases": []any{"preflight", "addon/coredns"}}},
		wantMem: map[string]map[string]any{"InitConfiguration": {"kind": "InitConfiguration", "skipPhases": []any{"preflight", "addon/coredns"}}},
	}, {
		name:     "preflight named too is not doubled",
		opts:     KindOptions{Prefix: "p", Members: 1, SkipPhases: []string{"addon/kube-proxy", "preflight"}},
		wantHost: map[string]map[string]any{"ClusterConfiguration": aggregatorRouting, "InitConfiguration": {"kind": "InitConfiguration", "skipPhases": []any{"preflight", "addon/kube-proxy"}}},
		wantMem:  map[string]map[string]any{"InitConfiguration": {"kind": "InitConfiguration", "skipPhases": []any{"preflight", "addon/kube-proxy"}}},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			cs := tc.opts.Clusters()
			if d := cmp.Diff(tc.wantHost, patchesOf(t, cs[0].Config)); d != "" {
				t.Errorf("host patches (-want +got):\n%s", d)
			}
			if d := cmp.Diff(tc.wantMem, patchesOf(t, cs[1].Config)); d != "" {
				t.Errorf("member patches (-want +got):\n%s", d)
			}
		})
	}
}

func TestKindDisablesTheDefaultCNIOnlyForBridgeNodeImages(t *testing.T) {
	for _, bridge := range []bool{false, true} {
		for _, c := range (KindOptions{Prefix: "p", Members: 1, BridgeCNI: bridge}).Clusters() {
			if c.Config.Networking.DisableDefaultCNI != bridge {
				t.Errorf("BridgeCNI=%v: %s disableDefaultCNI=%v", bridge, c.Name, c.Config.Networking.DisableDefaultCNI)
			}
		}
	}
}

// The rendered file is what `kind create cluster --config` would read.
func TestKindConfigRendersAsKindYAML(t *testing.T) {
	c := (KindOptions{Prefix: "secretfed", Members: 1, NodeImage: "img:1", CgroupV1: true, BridgeCNI: true}).Clusters()[0]
	out, err := yaml.Marshal(c.Config)
	if err != nil {
		t.Fatal(err)
	}
	want := `apiVersion: kind.x-k8s.io/v1alpha4
kind: Cluster
kubeadmConfigPatches:
- |
  apiServer:
    extraArgs:
      enable-aggregator-routing: "true"
  kind: ClusterConfiguration
- |
  failCgroupV1: false
  kind: KubeletConfiguration
name: secretfed-host
networking:
  apiServerAddress: 127.0.0.1
  disableDefaultCNI: true
nodes:
- image: img:1
  role: control-plane
`
	if d := cmp.Diff(want, string(out)); d != "" {
		t.Errorf("rendered config (-want +got):\n%s", d)
	}
}

func TestMembersAreReachedAtTheirNodeOnKindsNetwork(t *testing.T) {
	m := (KindOptions{Prefix: "secretfed", Members: 1}).Clusters()[1]
	for _, tc := range []struct{ ip, want string }{
		{"", "https://secretfed-member1-control-plane:6443"},
		{"172.18.0.3", "https://172.18.0.3:6443"},
		{"fc00:f853:ccd:e793::3", "https://[fc00:f853:ccd:e793::3]:6443"},
	} {
		if got := m.InternalAPIEndpoint(tc.ip); got != tc.want {
			t.Errorf("InternalAPIEndpoint(%q) = %q, want %q", tc.ip, got, tc.want)
		}
	}
}

func TestPrivilegedRefused(t *testing.T) {
	for out, want := range map[string]bool{
		// seen on this project's Docker 20.10 host (bounding set without CAP_SYS_RESOURCE)
		"docker: Error response from daemon: failed to create shim task: OCI runtime create failed: runc create failed: unable to start container process: unable to apply caps: operation not permitted: unknown": true,
		"OCI runtime exec failed: exec failed: unable to start container process: unable to apply caps: operation not permitted: unknown":                                                                          true,
		"Unable to find image 'x:1' locally": false,
		"":                                   false,
	} {
		if got := PrivilegedRefused(out); got != want {
			t.Errorf("PrivilegedRefused(%q) = %v, want %v", out, got, want)
		}
	}
}

func TestKindProcessEnvPicksOverlayfsUnderFuseOverlayfs(t *testing.T) {
	fuse := EngineInfo{CgroupVersion: "1", StorageDriver: "fuse-overlayfs"}
	if d := cmp.Diff(map[string]string{"KIND_EXPERIMENTAL_CONTAINERD_SNAPSHOTTER": "overlayfs"}, KindProcessEnv(env(nil), fuse)); d != "" {
		t.Errorf("fuse-overlayfs (-want +got):\n%s", d)
	}
	if got := KindProcessEnv(env(map[string]string{"KIND_EXPERIMENTAL_CONTAINERD_SNAPSHOTTER": "native"}), fuse); len(got) != 0 {
		t.Errorf("a snapshotter the user chose is kept, got %v", got)
	}
	if got := KindProcessEnv(env(nil), EngineInfo{CgroupVersion: "2", StorageDriver: "overlay2"}); len(got) != 0 {
		t.Errorf("overlay2: got %v, want nothing", got)
	}
}

const kindKubeconfig = `apiVersion: v1
kind: Config
clusters:
- cluster:
    certificate-authority-data: Q0E=
    server: https://127.0.0.1:%s
  name: kind-%s
contexts:
- context:
    cluster: kind-%s
    user: kind-%s
  name: kind-%s
current-context: kind-%s
users:
- name: kind-%s
  user:
    client-certificate-data: Q0VSVA==
    client-key-data: S0VZ
`

func kindKubeconfigFor(name, port string) []byte {
	return []byte(strings.NewReplacer("%s", "").Replace(
		strings.ReplaceAll(strings.ReplaceAll(kindKubeconfig, "127.0.0.1:%s", "127.0.0.1:"+port), "kind-%s", "kind-"+name)))
}

func TestMergeKindKubeconfigsNamesContextsLikeTheLocalBed(t *testing.T) {
	o := KindOptions{Prefix: "secretfed", Members: 2, NodeImage: "img:1", SecretfedImage: "sf:e2e"}
	raw := map[string][]byte{
		"secretfed-host": kindKubeconfigFor("secretfed-host", "40001"),
		"member1":        kindKubeconfigFor("secretfed-member1", "40002"),
		"member2":        kindKubeconfigFor("secretfed-member2", "40003"),
	}
	kc, err := MergeKindKubeconfigs(raw, "secretfed-host")
	if err != nil {
		t.Fatal(err)
	}
	if kc.CurrentContext != "secretfed-host" {
		t.Errorf("current context %q", kc.CurrentContext)
	}
	for ctx, port := range map[string]string{"secretfed-host": "40001", "member1": "40002", "member2": "40003"} {
		c := kc.Contexts[ctx]
		if c == nil || c.Cluster != ctx || c.AuthInfo != ctx {
			t.Errorf("context %s = %+v, want cluster and user %s", ctx, c, ctx)
			continue
		}
		if got := kc.Clusters[ctx].Server; got != "https://127.0.0.1:"+port {
			t.Errorf("%s server %q", ctx, got)
		}
		if string(kc.Clusters[ctx].CertificateAuthorityData) != "CA" || string(kc.AuthInfos[ctx].ClientKeyData) != "KEY" {
			t.Errorf("%s lost its credentials", ctx)
		}
	}

	internal := map[string]string{"secretfed-host": "https://secretfed-host-control-plane:6443",
		"member1": "https://secretfed-member1-control-plane:6443", "member2": "https://secretfed-member2-control-plane:6443"}
	got := KindEnv(o, "/bed", "/bed/kubeconfig", kc, internal)
	want := map[string]string{
		"E2E_PROVIDER": "kind", "KIND_DIR": "/bed", "LOG_DIR": "/bed/logs", "KUBECONFIG": "/bed/kubeconfig",
		"MEMBERS": "2", "HOST_CONTEXT": "secretfed-host", "HOST_URL": "https://127.0.0.1:40001",
		"HOST_KIND_CLUSTER": "secretfed-host", "HOST_API_ENDPOINT": "https://secretfed-host-control-plane:6443",
		"KIND_NODE_IMAGE": "img:1", "SECRETFED_IMAGE": "sf:e2e",
		"SECRETFED_DEPLOY": "/bed/deploy",
		"MEMBER1_CONTEXT":  "member1", "MEMBER1_URL": "https://127.0.0.1:40002",
		"MEMBER1_API_ENDPOINT": "https://secretfed-member1-control-plane:6443", "MEMBER1_KIND_CLUSTER": "secretfed-member1",
		"MEMBER2_CONTEXT": "member2", "MEMBER2_URL": "https://127.0.0.1:40003",
		"MEMBER2_API_ENDPOINT": "https://secretfed-member2-control-plane:6443", "MEMBER2_KIND_CLUSTER": "secretfed-member2",
		"MEMBER_CONTEXTS": "member1 member2", "KIND_CLUSTERS": "secretfed-host secretfed-member1 secretfed-member2",
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("env (-want +got):\n%s", d)
	}

	if _, err := MergeKindKubeconfigs(map[string][]byte{"member1": raw["member1"]}, "secretfed-host"); err == nil {
		t.Error("merging without the host's kubeconfig succeeded")
	}
	if _, err := MergeKindKubeconfigs(map[string][]byte{"secretfed-host": []byte("current-context: nope\n")}, "secretfed-host"); err == nil {
		t.Error("a kubeconfig without its current context was accepted")
	}
}

func TestShellQuote(t *testing.T) {
	for in, want := range map[string]string{
		"/a/b-c_d.e":       "/a/b-c_d.e",
		"member1 member2":  "'member1 member2'",
		"":                 "''",
		"it's":             `'it'\''s'`,
		"https://h:6443/x": "https://h:6443/x",
	} {
		if got := shellQuote(in); got != want {
			t.Errorf("shellQuote(%q) = %s, want %s", in, got, want)
		}
	}
}

func TestKindJoinsGetTheClustersInNetworkEndpoint(t *testing.T) {
	eps := map[string]string{"member1": "https://172.18.0.3:6443", "secretfed-host": "https://172.18.0.2:6443"}
	for _, tc := range []struct {
		name       string
		args, want []string
	}{{
		name: "join of a member",
		args: []string{"join", "member1", "--host-context", "secretfed-host", "--cluster-context", "member1"},
		want: []string{"join", "member1", "--host-context", "secretfed-host", "--cluster-context", "member1", "--api-endpoint", "https://172.18.0.3:6443"},
	}, {
		name: "join of the host itself, flag with =",
		args: []string{"join", "third", "--cluster-context=secretfed-host"},
		want: []string{"join", "third", "--cluster-context=secretfed-host", "--api-endpoint", "https://172.18.0.2:6443"},
	}, {
		name: "an endpoint the spec chose is kept",
		args: []string{"join", "member1", "--cluster-context", "member1", "--api-endpoint=https://x:6443"},
		want: []string{"join", "member1", "--cluster-context", "member1", "--api-endpoint=https://x:6443"},
	}, {
		name: "unknown context",
		args: []string{"join", "m", "--cluster-context", "elsewhere"},
		want: []string{"join", "m", "--cluster-context", "elsewhere"},
	}, {
		name: "other commands",
		args: []string{"unjoin", "member1", "--cluster-context", "member1"},
		want: []string{"unjoin", "member1", "--cluster-context", "member1"},
	}, {
		name: "no arguments",
		args: nil,
		want: nil,
	}} {
		t.Run(tc.name, func(t *testing.T) {
			orig := slices.Clone(tc.args)
			if d := cmp.Diff(tc.want, KindJoinArgs(tc.args, eps)); d != "" {
				t.Errorf("args (-want +got):\n%s", d)
			}
			if d := cmp.Diff(orig, tc.args); d != "" {
				t.Errorf("the caller's slice changed (-before +after):\n%s", d)
			}
		})
	}
}
