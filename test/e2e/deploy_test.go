package e2e

import (
	"encoding/base64"
	"errors"
	"io"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	"github.com/secretfed/secretfed/test/e2e/framework"
)

// The install path of docs/deploy.md: hack/deploy-certs.sh writes an overlay
// of artifacts/deploy with a serving certificate, caBundle and encryption key;
// the user applies it. A server-side dry run makes the host's API server
// validate and admit every object (schemas, RBAC roleRefs, the Service and
// StatefulSet validation, Pod Security admission of the namespace) without
// changing the bed. On the local bed the objects of the same names that
// hack/local-secretfed.sh applied (ExternalName Service, APIService on port
// 18443, RBAC for a user) exist: the dry run is then an update of each, which
// the server validates just the same, and the bed is left untouched.
func TestDeployManifestsPassServerSideDryRunOnTheHost(t *testing.T) {
	ctx := framework.Context(t, 2*time.Minute)
	rendered := renderDeployOverlay(t)

	r := f.Kubectl(ctx, rendered, "--context", f.HostContext, "apply", "--dry-run=server", "-f", "-")
	if r.Err != nil {
		t.Fatalf("kubectl apply --dry-run=server of the rendered overlay: %v\n%s", r.Err, r.Output())
	}
	for _, want := range []string{
		"namespace/secretfed-system",
		"serviceaccount/secretfed-apiserver",
		"clusterrole.rbac.authorization.k8s.io/secretfed-apiserver",
		"clusterrolebinding.rbac.authorization.k8s.io/secretfed-apiserver:system:auth-delegator",
		"rolebinding.rbac.authorization.k8s.io/secretfed-apiserver:extension-apiserver-authentication-reader",
		"role.rbac.authorization.k8s.io/secretfed-apiserver",
		"secret/secretfed-apiserver-tls",
		"secret/secretfed-encryption-config",
		"service/secretfed-apiserver",
		"statefulset.apps/secretfed-apiserver",
		"poddisruptionbudget.policy/secretfed-apiserver",
		"apiservice.apiregistration.k8s.io/v1alpha1.secretfed.io",
	} {
		if !strings.Contains(r.Stdout, want) {
			t.Errorf("dry run output names no %s:\n%s", want, r.Stdout)
		}
	}
	if strings.Contains(r.Stderr, "Warning") {
		t.Errorf("the host warned about the manifests:\n%s", r.Stderr)
	}
}

// The server holds every member credential and the encryption key: its pod
// runs as a fixed non-root user with nothing writable but its data volume and
// a small /tmp, no privilege escalation, no capabilities, the runtime's
// seccomp profile, bounded resources, and probes the kubelet can use.
func TestDeployManifestsRunTheServerNonRootOnAReadOnlyRootFilesystem(t *testing.T) {
	objs := decodeAll(t, renderDeployOverlay(t))
	sts := statefulSetOf(t, objs)

	if got := ptr.Deref(sts.Spec.Replicas, 0); got != 1 {
		t.Errorf("replicas = %d, want 1 (the embedded etcd cannot be shared)", got)
	}
	pod := sts.Spec.Template.Spec
	psc := pod.SecurityContext
	if psc == nil || !ptr.Deref(psc.RunAsNonRoot, false) || ptr.Deref(psc.RunAsUser, 0) != 65532 {
		t.Errorf("pod securityContext = %+v, want runAsNonRoot and runAsUser 65532", psc)
	}
	if psc == nil || psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("pod seccompProfile is not RuntimeDefault")
	}
	if len(pod.Containers) != 1 {
		t.Fatalf("%d containers, want 1", len(pod.Containers))
	}
	c := pod.Containers[0]
	sc := c.SecurityContext
	switch {
	case sc == nil:
		t.Fatal("container has no securityContext")
	case !ptr.Deref(sc.ReadOnlyRootFilesystem, false):
		t.Error("readOnlyRootFilesystem is not true")
	case sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation:
		t.Error("allowPrivilegeEscalation is not false")
	case sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) != 0:
		t.Errorf("capabilities = %+v, want drop [ALL] and nothing added", sc.Capabilities)
	case !ptr.Deref(sc.RunAsNonRoot, false):
		t.Error("container runAsNonRoot is not true")
	}
	for _, res := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		if _, ok := c.Resources.Requests[res]; !ok {
			t.Errorf("no %s request", res)
		}
		if _, ok := c.Resources.Limits[res]; !ok {
			t.Errorf("no %s limit", res)
		}
	}
	for name, p := range map[string]*corev1.Probe{"startup": c.StartupProbe, "liveness": c.LivenessProbe, "readiness": c.ReadinessProbe} {
		if p == nil || p.HTTPGet == nil || p.HTTPGet.Scheme != corev1.URISchemeHTTPS ||
			(p.HTTPGet.Path != "/readyz" && p.HTTPGet.Path != "/livez") {
			t.Errorf("%s probe = %+v, want an HTTPS GET of /readyz or /livez", name, p)
		}
	}
	if c.ReadinessProbe != nil && c.ReadinessProbe.HTTPGet != nil && c.ReadinessProbe.HTTPGet.Path != "/readyz" {
		t.Errorf("readiness probe path %q, want /readyz", c.ReadinessProbe.HTTPGet.Path)
	}

	// Every writable path is a volume: the data directory on the claim, /tmp.
	mounts := map[string]corev1.VolumeMount{}
	for _, m := range c.VolumeMounts {
		mounts[m.Name] = m
	}
	args := strings.Join(c.Args, " ")
	for _, want := range []struct{ volume, flag string }{
		{"tls", "--tls-cert-file=" + mounts["tls"].MountPath + "/tls.crt"},
		{"tls", "--tls-private-key-file=" + mounts["tls"].MountPath + "/tls.key"},
		{"encryption-config", "--encryption-provider-config=" + mounts["encryption-config"].MountPath + "/encryption-config.yaml"},
	} {
		if m, ok := mounts[want.volume]; !ok || !m.ReadOnly {
			t.Errorf("volume %s is not mounted read-only: %+v", want.volume, m)
		}
		if !strings.Contains(args, want.flag) {
			t.Errorf("args %q lack %s", args, want.flag)
		}
	}
	if !strings.Contains(args, "--data-dir="+mounts["data"].MountPath) || len(sts.Spec.VolumeClaimTemplates) != 1 ||
		sts.Spec.VolumeClaimTemplates[0].Name != "data" {
		t.Errorf("--data-dir is not the volumeClaimTemplate \"data\": args %q, mounts %+v", args, mounts)
	}
	for _, v := range pod.Volumes {
		if v.HostPath != nil {
			t.Errorf("volume %s is a hostPath", v.Name)
		}
	}
	if pod.HostNetwork || pod.HostPID || pod.HostIPC {
		t.Error("the pod shares a host namespace")
	}

	// The host's Pod Security admission is the judge of the whole template:
	// a dry-run create of its pod in a namespace that enforces "restricted"
	// (the level artifacts/deploy gives secretfed-system) must be admitted.
	admitsRestricted(t, pod)
}

// admitsRestricted dry-runs a pod with the given spec in a fresh namespace
// enforcing the "restricted" Pod Security Standard. The namespace gets the
// pod's ServiceAccount, since the bed runs no controller that would make one.
func admitsRestricted(t *testing.T, spec corev1.PodSpec) {
	t.Helper()
	ctx := framework.Context(t, time.Minute)
	ns, err := f.Host.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
		GenerateName: "e2e-deploy-psa-",
		Labels: map[string]string{
			"pod-security.kubernetes.io/enforce":         "restricted",
			"pod-security.kubernetes.io/enforce-version": "latest",
		},
	}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("creating a restricted namespace: %v", err)
	}
	if _, err := f.Host.CoreV1().ServiceAccounts(ns.Name).Create(ctx, &corev1.ServiceAccount{
		ObjectMeta: metav1.ObjectMeta{Name: spec.ServiceAccountName},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	spec = *spec.DeepCopy()
	// The StatefulSet controller adds the claim of its volumeClaimTemplate.
	spec.Volumes = append(spec.Volumes, corev1.Volume{Name: "data", VolumeSource: corev1.VolumeSource{
		PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "data-secretfed-apiserver-0"},
	}})
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "secretfed-apiserver-0", Namespace: ns.Name}, Spec: spec}
	if _, err := f.Host.CoreV1().Pods(ns.Name).Create(ctx, pod, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}); err != nil {
		t.Errorf("Pod Security \"restricted\" does not admit the server's pod: %v", err)
	}
}

// Applying artifacts/deploy without the overlay must not store anything under
// a key printed in the repository: its placeholder key is not even base64, so
// the server refuses to start with it.
func TestDeployBaseEncryptionKeyPlaceholderIsRefused(t *testing.T) {
	ctx := framework.Context(t, time.Minute)
	r := f.Kubectl(ctx, "", "kustomize", filepath.Join(f.RepoRoot, "artifacts", "deploy"))
	if r.Err != nil {
		t.Fatalf("kubectl kustomize artifacts/deploy: %v\n%s", r.Err, r.Output())
	}
	var config string
	for _, o := range decodeAll(t, r.Stdout) {
		if o.GetKind() == "Secret" && o.GetName() == "secretfed-encryption-config" {
			config, _, _ = unstructured.NestedString(o.Object, "stringData", "encryption-config.yaml")
		}
	}
	if config == "" {
		t.Fatal("the base renders no secretfed-encryption-config with stringData encryption-config.yaml")
	}
	var ec struct {
		Resources []struct {
			Providers []map[string]struct {
				Keys []struct{ Secret string } `json:"keys"`
			} `json:"providers"`
		} `json:"resources"`
	}
	if err := yaml.Unmarshal([]byte(config), &ec); err != nil {
		t.Fatalf("placeholder EncryptionConfiguration: %v", err)
	}
	n := 0
	for _, res := range ec.Resources {
		for _, p := range res.Providers {
			for _, cfg := range p {
				for _, k := range cfg.Keys {
					n++
					if _, err := base64.StdEncoding.DecodeString(k.Secret); err == nil {
						t.Errorf("placeholder key %q decodes as base64: a server would accept it", k.Secret)
					}
				}
			}
		}
	}
	if n == 0 {
		t.Errorf("placeholder EncryptionConfiguration has no key:\n%s", config)
	}
}

// renderDeployOverlay runs hack/deploy-certs.sh into a temporary directory and
// renders the overlay with the real kubectl.
func renderDeployOverlay(t *testing.T) string {
	t.Helper()
	ctx := framework.Context(t, time.Minute)
	dir := filepath.Join(t.TempDir(), "deploy")
	cmd := exec.CommandContext(ctx, filepath.Join(f.RepoRoot, "hack", "deploy-certs.sh"), dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("hack/deploy-certs.sh: %v\n%s", err, out)
	}
	r := f.Kubectl(ctx, "", "kustomize", dir)
	if r.Err != nil {
		t.Fatalf("kubectl kustomize %s: %v\n%s", dir, r.Err, r.Output())
	}
	return r.Stdout
}

func decodeAll(t *testing.T, manifests string) []*unstructured.Unstructured {
	t.Helper()
	var objs []*unstructured.Unstructured
	d := utilyaml.NewYAMLOrJSONDecoder(strings.NewReader(manifests), 4096)
	for {
		var o unstructured.Unstructured
		if err := d.Decode(&o.Object); errors.Is(err, io.EOF) {
			return objs
		} else if err != nil {
			t.Fatalf("decoding the rendered manifests: %v", err)
		}
		if len(o.Object) > 0 {
			objs = append(objs, &o)
		}
	}
}

func statefulSetOf(t *testing.T, objs []*unstructured.Unstructured) *appsv1.StatefulSet {
	t.Helper()
	for _, o := range objs {
		if o.GetKind() != "StatefulSet" {
			continue
		}
		data, err := o.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		obj, _, err := scheme.Codecs.UniversalDeserializer().Decode(data, nil, nil)
		if err != nil {
			t.Fatalf("decoding the StatefulSet: %v", err)
		}
		return obj.(*appsv1.StatefulSet)
	}
	t.Fatal("the manifests render no StatefulSet")
	return nil
}
