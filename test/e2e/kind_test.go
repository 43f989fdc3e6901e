package e2e

// Specs only the kind provider can show: secretfed as a user installs it
// (the image, artifacts/deploy, a real in-cluster Service behind the
// APIService) and members as machines that can hang. They skip on the local
// process bed.

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/secretfed/secretfed/pkg/apis/secretfed/v1alpha1"
	"github.com/secretfed/secretfed/test/e2e/framework"
)

func requireKind(t *testing.T) {
	t.Helper()
	if f.Provider != "kind" {
		t.Skipf("needs the kind provider's node containers and in-cluster deployment (E2E_PROVIDER=%s)", f.Provider)
	}
}

func secretfedPod(ctx context.Context) (*corev1.Pod, error) {
	return f.Host.CoreV1().Pods(framework.SecretfedNamespace).Get(ctx, framework.SecretfedPod, metav1.GetOptions{})
}

func podReady(p *corev1.Pod) error {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			if c.Status == corev1.ConditionTrue {
				return nil
			}
			return fmt.Errorf("pod %s Ready=%s (%s)", p.Name, c.Status, c.Message)
		}
	}
	return fmt.Errorf("pod %s has no Ready condition (phase %s)", p.Name, p.Status.Phase)
}

func TestKindServerPodRunsNonRootOnAReadOnlyRootFilesystemAndPassesItsProbes(t *testing.T) {
	requireKind(t)
	var pod *corev1.Pod
	framework.Eventually(t, 2*time.Minute, "the secretfed pod is Ready", func(ctx context.Context) error {
		p, err := secretfedPod(ctx)
		if err != nil {
			return err
		}
		pod = p
		return podReady(p)
	})
	if len(pod.Spec.Containers) != 1 {
		t.Fatalf("%d containers, want 1", len(pod.Spec.Containers))
	}
	c := pod.Spec.Containers[0]
	psc, csc := pod.Spec.SecurityContext, c.SecurityContext
	if csc == nil {
		t.Fatal("the container has no securityContext")
	}
	nonRoot := (csc.RunAsNonRoot != nil && *csc.RunAsNonRoot) || (psc != nil && psc.RunAsNonRoot != nil && *psc.RunAsNonRoot)
	if !nonRoot {
		t.Error("runAsNonRoot is not set: the kubelet would start the image as root if it said so")
	}
	if csc.ReadOnlyRootFilesystem == nil || !*csc.ReadOnlyRootFilesystem {
		t.Error("readOnlyRootFilesystem is not true")
	}
	if csc.AllowPrivilegeEscalation == nil || *csc.AllowPrivilegeEscalation {
		t.Error("allowPrivilegeEscalation is not false")
	}
	if c.ReadinessProbe == nil || c.LivenessProbe == nil {
		t.Errorf("probes: readiness %v, liveness %v; want both", c.ReadinessProbe != nil, c.LivenessProbe != nil)
	}
	for _, s := range pod.Status.ContainerStatuses {
		if !s.Ready || s.State.Running == nil {
			t.Errorf("container %s: ready=%v running=%v", s.Name, s.Ready, s.State.Running != nil)
		}
		if s.RestartCount != 0 {
			t.Errorf("container %s restarted %d times (a failing liveness probe?)", s.Name, s.RestartCount)
		}
	}

	// What the kernel says about the running process, seen from its node.
	node, err := f.KindNode(f.HostContext)
	if err != nil {
		t.Fatal(err)
	}
	ctx := framework.Context(t, time.Minute)
	out, err := f.Docker(ctx, "exec", node, "sh", "-c",
		`for p in $(pgrep -f '^/secretfed-apiserver'); do echo "uid $(awk '/^Uid:/{print $2}' /proc/$p/status) root $(awk '$5 == "/" {print $6}' /proc/$p/mountinfo)"; done`)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Fields(strings.TrimSpace(out))
	if len(lines) != 4 {
		t.Fatalf("want one secretfed-apiserver process on %s, got %q", node, out)
	}
	if lines[1] == "0" {
		t.Errorf("the server runs as uid 0")
	}
	if !strings.HasPrefix(lines[3], "ro") {
		t.Errorf("the server's root filesystem is mounted %s, want ro", lines[3])
	}
	t.Logf("secretfed-apiserver on %s: uid %s, root mounted %s", node, lines[1], lines[3])
}

// apiService is the part of an APIService this spec reads (through kubectl,
// so the suite needs no kube-aggregator client).
type apiService struct {
	Spec struct {
		Service *struct{ Namespace, Name string } `json:"service"`
	} `json:"spec"`
	Status struct {
		Conditions []metav1.Condition `json:"conditions"`
	} `json:"status"`
}

func TestKindAPIServiceIsAvailableThroughTheInClusterService(t *testing.T) {
	requireKind(t)
	ctx := framework.Context(t, 2*time.Minute)
	var svc apiService
	framework.Eventually(t, time.Minute, "APIService v1alpha1.secretfed.io Available", func(ctx context.Context) error {
		r := f.Kubectl(ctx, "", "--context", f.HostContext, "get", "apiservice", "v1alpha1.secretfed.io", "-o", "json")
		if r.Err != nil {
			return fmt.Errorf("%v: %s", r.Err, r.Stderr)
		}
		svc = apiService{}
		if err := json.Unmarshal([]byte(r.Stdout), &svc); err != nil {
			return err
		}
		if !meta.IsStatusConditionTrue(svc.Status.Conditions, "Available") {
			return fmt.Errorf("conditions %+v", svc.Status.Conditions)
		}
		return nil
	})
	if svc.Spec.Service == nil {
		t.Fatal("the APIService names no Service: it is served locally, not by secretfed")
	}
	s, err := f.Host.CoreV1().Services(svc.Spec.Service.Namespace).Get(ctx, svc.Spec.Service.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if s.Spec.Type != corev1.ServiceTypeClusterIP || s.Spec.ClusterIP == "" || s.Spec.ClusterIP == corev1.ClusterIPNone {
		t.Errorf("Service %s/%s: type %s clusterIP %q, want a ClusterIP Service", s.Namespace, s.Name, s.Spec.Type, s.Spec.ClusterIP)
	}
	pod, err := secretfedPod(ctx)
	if err != nil {
		t.Fatal(err)
	}
	eps, err := f.Host.DiscoveryV1().EndpointSlices(s.Namespace).List(ctx, metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=" + s.Name})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, sl := range eps.Items {
		for _, ep := range sl.Endpoints {
			ready := ep.Conditions.Ready != nil && *ep.Conditions.Ready
			for _, a := range ep.Addresses {
				found = found || (ready && a == pod.Status.PodIP)
			}
		}
	}
	if !found {
		t.Errorf("no ready endpoint of Service %s/%s is the secretfed pod's IP %s", s.Namespace, s.Name, pod.Status.PodIP)
	}
	// And the aggregator really reaches it: a request for the group's resources.
	if _, err := f.Secretfed.SecretfedV1alpha1().FederatedClusters().List(ctx, metav1.ListOptions{}); err != nil {
		t.Errorf("listing FederatedClusters through the host: %v", err)
	}
}

func TestKindDeletingTheServerPodLosesNoFederatedSecretAndWritesNothingTwice(t *testing.T) {
	requireKind(t)
	ns := createNamespace(t, "e2e-kind-podkill")
	const n = 5
	for i := 0; i < n; i++ {
		createFS(t, placedFS(ns, fmt.Sprintf("s%d", i), fmt.Sprintf("podkill-%d", i), all()))
	}
	for i := 0; i < n; i++ {
		for _, m := range f.MemberNames {
			waitForClusterStatus(t, ns, fmt.Sprintf("s%d", i), m, v1alpha1.StatusPropagated)
		}
	}
	versions := func() map[string]string {
		ctx := framework.Context(t, time.Minute)
		out := map[string]string{}
		for _, m := range f.MemberNames {
			for i := 0; i < n; i++ {
				s, err := memberSecret(ctx, m, ns, fmt.Sprintf("s%d", i))
				if err != nil {
					t.Fatalf("%s: %v", m, err)
				}
				out[m+"/"+s.Name] = s.ResourceVersion
			}
		}
		return out
	}
	rvBefore := versions()
	before := memberWrites(t)

	ctx := framework.Context(t, 5*time.Minute)
	old, err := secretfedPod(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Host.CoreV1().Pods(old.Namespace).Delete(ctx, old.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatalf("deleting %s: %v", old.Name, err)
	}
	t0 := time.Now()
	framework.Eventually(t, 3*time.Minute, "a new secretfed pod is Ready", func(ctx context.Context) error {
		p, err := secretfedPod(ctx)
		if err != nil {
			return err
		}
		if p.UID == old.UID {
			return fmt.Errorf("still the old pod")
		}
		return podReady(p)
	})
	t.Logf("new pod Ready %s after the delete", time.Since(t0).Round(100*time.Millisecond))

	// A sentinel created after the restart proves the new process's loop has
	// listed and planned; everything queued before it was planned first.
	waitForSentinel(t, ns, "the new server reconciles a new FederatedSecret")
	list, err := f.Secretfed.SecretfedV1alpha1().FederatedSecrets(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Items) != n+1 {
		t.Errorf("%d FederatedSecrets after the pod was deleted, want %d", len(list.Items), n+1)
	}
	assertAllPropagatedWithoutWrites(t, ns, n, before, "after the pod was replaced")
	for k, rv := range versions() {
		if rv != rvBefore[k] {
			t.Errorf("%s was rewritten: resourceVersion %s -> %s", k, rvBefore[k], rv)
		}
	}
}

func TestKindPausedMemberNodeTurnsNotReadyWhileTheOtherKeepsReceivingRotations(t *testing.T) {
	requireKind(t)
	healthy, hung := f.MemberNames[0], f.MemberNames[1]
	node, err := f.KindNode(hung)
	if err != nil {
		t.Fatal(err)
	}
	ns := createNamespace(t, "e2e-kind-pause")
	createFS(t, placedFS(ns, "db", "rot-0", all()))
	for _, m := range f.MemberNames {
		waitForValue(t, m, ns, "db", "rot-0")
	}

	ctx := framework.Context(t, 10*time.Minute)
	if _, err := f.Docker(ctx, "pause", node); err != nil {
		t.Fatal(err)
	}
	paused := true
	unpause := func() {
		if paused {
			paused = false
			if _, err := f.Docker(context.Background(), "unpause", node); err != nil {
				t.Errorf("%v", err)
			}
		}
	}
	t.Cleanup(func() {
		unpause()
		waitReady(t, hung, 2*time.Minute)
	})
	t0 := time.Now()
	framework.Eventually(t, 2*time.Minute, hung+" Ready=False/ClusterNotReachable while its node is paused", func(ctx context.Context) error {
		return readyIs(ctx, hung, metav1.ConditionFalse, v1alpha1.ReasonClusterNotReachable)
	})
	t.Logf("%s: Ready=False %s after docker pause %s", hung, time.Since(t0).Round(100*time.Millisecond), node)

	last := ""
	for i := 1; i <= 3; i++ {
		last = fmt.Sprintf("rot-%d", i)
		patchData(t, ns, "db", last)
		waitForValue(t, healthy, ns, "db", last)
		waitForClusterStatus(t, ns, "db", healthy, v1alpha1.StatusPropagated)
	}
	framework.Eventually(t, propagationDeadline, "the status names the hung member as not propagated", func(ctx context.Context) error {
		fs, err := f.Secretfed.SecretfedV1alpha1().FederatedSecrets(ns).Get(ctx, "db", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if fs.Status.ObservedGeneration != fs.Generation {
			return fmt.Errorf("observedGeneration %d, generation %d", fs.Status.ObservedGeneration, fs.Generation)
		}
		for _, c := range fs.Status.Clusters {
			if c.Name == hung {
				if c.Status == v1alpha1.StatusPropagated {
					return fmt.Errorf("%s reported Propagated while its node is paused", hung)
				}
				t.Logf("status for %s while paused: %s (%s)", hung, c.Status, c.Message)
				return nil
			}
		}
		return fmt.Errorf("no status entry for %s", hung)
	})

	unpause()
	t1 := time.Now()
	waitReady(t, hung, 2*time.Minute)
	waitForValue(t, hung, ns, "db", last)
	waitForClusterStatus(t, ns, "db", hung, v1alpha1.StatusPropagated)
	t.Logf("%s converged %s after docker unpause", hung, time.Since(t1).Round(100*time.Millisecond))
}
