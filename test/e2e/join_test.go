package e2e

// Specs for joining and unjoining member clusters with the real
// `kubectl secretfed` plugin (issue 5): readiness, least privilege, refusals
// that change nothing, health, token renewal and unjoin.
//
// TestMain joined member1 (env=prod,region=eu) and member2 (env=dev,region=us).
// Every spec here leaves both joined and Ready, whatever happens to it, since
// the specs after it rely on them.

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/secretfed/secretfed/pkg/apis/secretfed/v1alpha1"
	"github.com/secretfed/secretfed/test/e2e/framework"
)

const (
	// healthPeriod and healthThreshold are the server's defaults
	// (--cluster-health-period, --cluster-health-failure-threshold).
	healthPeriod    = 10 * time.Second
	healthThreshold = 3
	// onePeriod is how long a fresh cluster may take to turn Ready: the
	// next probe round comes at most one period (plus the previous round's
	// probe timeout of 3 s) after the server sees the FederatedCluster.
	onePeriod = healthPeriod + 5*time.Second

	// thirdCluster is the name the host cluster itself joins under when a
	// spec needs a fresh join of a third cluster (the bed has two members).
	thirdCluster = "e2e-host"

	tokenExpiryAnnotation = "secretfed.io/token-expiry"
)

func TestJoinedClustersAreReadyWithinOneHealthPeriod(t *testing.T) {
	ctx := framework.Context(t, 2*time.Minute)
	for _, m := range f.MemberNames {
		want, err := f.Members[m].Discovery().ServerVersion()
		if err != nil {
			t.Fatalf("%s /version: %v", m, err)
		}
		if want.GitVersion != "v1.37.2" {
			t.Errorf("%s reports %s: the bed should run kube-apiserver v1.37.2", m, want.GitVersion)
		}
		// TestMain waited until both were Ready; earlier specs may have
		// stopped a member or restarted the server since.
		waitReady(t, m, time.Minute)
		fc, err := f.Secretfed.SecretfedV1alpha1().FederatedClusters().Get(ctx, m, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if fc.Status.KubernetesVersion != want.GitVersion {
			t.Errorf("%s: status.kubernetesVersion %q, want %q", m, fc.Status.KubernetesVersion, want.GitVersion)
		}
	}

	// The time to Ready is measured on a fresh join: the host joins as a
	// third cluster (TestMain's join output and timing are not kept).
	r := joinThird(t)
	if r.Err != nil {
		t.Fatalf("join %s: %v\n%s", thirdCluster, r.Err, r.Output())
	}
	joined := time.Now()
	waitReady(t, thirdCluster, onePeriod)
	t.Logf("%s: Ready %s after join returned", thirdCluster, time.Since(joined).Round(100*time.Millisecond))
	fc, err := f.Secretfed.SecretfedV1alpha1().FederatedClusters().Get(ctx, thirdCluster, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if fc.Status.KubernetesVersion != "v1.37.2" {
		t.Errorf("%s: status.kubernetesVersion %q, want v1.37.2", thirdCluster, fc.Status.KubernetesVersion)
	}
}

func TestJoinAndUnjoinNeverPrintOrLogTheToken(t *testing.T) {
	r := joinThird(t)
	if r.Err != nil {
		t.Fatalf("join %s: %v\n%s", thirdCluster, r.Err, r.Output())
	}
	if !strings.Contains(r.Stdout, "requested a token") {
		t.Errorf("join output does not report the TokenRequest:\n%s", r.Output())
	}
	// Let the server use the token (probes, member informer) before the log is read.
	waitReady(t, thirdCluster, onePeriod)
	tokens := map[string]string{}
	for _, c := range append([]string{thirdCluster}, f.MemberNames...) {
		tokens[c], _ = credentials(t, c)
	}
	assertNoToken(t, "join "+thirdCluster+" output", r.Output(), tokens[thirdCluster])

	ctx := framework.Context(t, 2*time.Minute)
	u := f.Plugin(ctx, "unjoin", thirdCluster, "--host-context", f.HostContext, "--cluster-context", f.HostContext)
	if u.Err != nil {
		t.Fatalf("unjoin %s: %v\n%s", thirdCluster, u.Err, u.Output())
	}
	assertNoToken(t, "unjoin "+thirdCluster+" output", u.Output(), tokens[thirdCluster])

	logs, err := f.SecretfedLogs()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs, thirdCluster) {
		t.Fatalf("the secretfed log never mentions %s: is it the bed's log at -v=6? (%d bytes)", thirdCluster, len(logs))
	}
	for c, tok := range tokens {
		assertNoToken(t, "secretfed log (token of "+c+")", logs, tok)
	}
}

func TestMemberServiceAccountHasLeastPrivilege(t *testing.T) {
	ctx := framework.Context(t, 3*time.Minute)
	for i, m := range f.MemberNames {
		sa := "system:serviceaccount:" + v1alpha1.SystemNamespace + ":secretfed-" + m
		other := "secretfed-" + f.MemberNames[(i+1)%len(f.MemberNames)]
		for _, c := range []struct {
			want bool
			args []string
		}{
			{true, []string{"get", "secrets", "-A"}},
			{true, []string{"list", "secrets", "-A"}},
			{true, []string{"watch", "secrets", "-A"}},
			{true, []string{"create", "secrets", "-A"}},
			{true, []string{"update", "secrets", "-A"}},
			{true, []string{"patch", "secrets", "-A"}},
			{true, []string{"delete", "secrets", "-A"}},
			{true, []string{"delete", "secrets", "-n", "kube-system"}},
			{true, []string{"create", "namespaces"}},
			{true, []string{"get", "namespaces"}},
			{true, []string{"get", "/readyz"}},
			{true, []string{"get", "/version"}},
			{true, []string{"create", "serviceaccounts/secretfed-" + m, "--subresource=token", "-n", v1alpha1.SystemNamespace}},

			{false, []string{"delete", "namespaces"}},
			{false, []string{"create", "pods", "-A"}},
			{false, []string{"get", "configmaps", "-A"}},
			{false, []string{"create", "clusterroles"}},
			{false, []string{"create", "clusterrolebindings"}},
			{false, []string{"create", "rolebindings", "-n", v1alpha1.SystemNamespace}},
			{false, []string{"create", "serviceaccounts/default", "--subresource=token", "-n", v1alpha1.SystemNamespace}},
			{false, []string{"create", "serviceaccounts/" + other, "--subresource=token", "-n", v1alpha1.SystemNamespace}},
			{false, []string{"create", "serviceaccounts/default", "--subresource=token", "-n", "kube-system"}},
			{false, []string{"create", "serviceaccounts", "--subresource=token", "-n", v1alpha1.SystemNamespace}},
			{false, []string{"impersonate", "serviceaccounts", "-A"}},
			{false, []string{"*", "*", "-A"}},
		} {
			args := append([]string{"--context", m, "auth", "can-i"}, c.args...)
			r := f.Kubectl(ctx, "", append(args, "--as="+sa)...)
			answer := strings.TrimSpace(r.Stdout)
			if i := strings.IndexByte(answer, '\n'); i >= 0 {
				answer = answer[:i]
			}
			got := answer == "yes"
			if answer != "yes" && answer != "no" || got != (r.Err == nil) {
				t.Errorf("%s: kubectl auth can-i %s: exit %v, output %q", m, strings.Join(c.args, " "), r.Err, r.Output())
				continue
			}
			if got != c.want {
				t.Errorf("%s: %s can-i %s = %s, want %v", m, sa, strings.Join(c.args, " "), answer, c.want)
			}
		}
	}
}

func TestJoiningAJoinedNameFailsAndChangesNothing(t *testing.T) {
	m := f.MemberNames[0]
	ctx := framework.Context(t, 2*time.Minute)
	before := joinFootprint(t, m, m)
	for what, rv := range before {
		if rv == "absent" {
			t.Fatalf("%s of the joined %s is missing before the spec", what, m)
		}
	}
	r := f.Plugin(ctx, "join", m, "--host-context", f.HostContext, "--cluster-context", m,
		"--labels", "env=changed")
	assertFailed(t, r, fmt.Sprintf("cluster %q is already joined", m))
	if strings.Contains(r.Output(), "rolled back") || strings.Contains(r.Stdout, "created") {
		t.Errorf("the refused join reports changes:\n%s", r.Output())
	}
	after := joinFootprint(t, m, m)
	for what, rv := range before {
		if after[what] != rv {
			t.Errorf("%s changed: resourceVersion %s → %s", what, rv, after[what])
		}
	}
	fc, err := f.Secretfed.SecretfedV1alpha1().FederatedClusters().Get(ctx, m, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if fc.Labels["env"] != "prod" {
		t.Errorf("%s labels %v, want env=prod as joined", m, fc.Labels)
	}
	waitReady(t, m, time.Second)
}

func TestJoiningAJoinedMemberUnderASecondNameFailsAndLeavesNothing(t *testing.T) {
	m, second := f.MemberNames[0], "other"
	ctx := framework.Context(t, 2*time.Minute)
	before := joinFootprint(t, m, m)
	r := f.Plugin(ctx, "join", second, "--host-context", f.HostContext, "--cluster-context", m)
	assertFailed(t, r, fmt.Sprintf("already joined as %q", m))
	if !strings.Contains(r.Stderr, "kube-system") {
		t.Errorf("the message does not say how the member was recognised (kube-system namespace UID):\n%s", r.Stderr)
	}
	for what, rv := range joinFootprint(t, second, m) {
		if rv != "absent" {
			t.Errorf("the refused join left %s behind (resourceVersion %s)", what, rv)
		}
	}
	for what, rv := range joinFootprint(t, m, m) {
		if before[what] != rv {
			t.Errorf("%s changed: resourceVersion %s → %s", what, before[what], rv)
		}
	}
	waitReady(t, m, time.Second)
}

func TestMemberThatStopsAnsweringTurnsNotReadyAfterTheThresholdAndBack(t *testing.T) {
	m := f.MemberNames[1]
	waitReady(t, m, time.Minute)
	t.Cleanup(func() {
		if err := f.Signal(m, syscall.SIGCONT); err != nil {
			t.Errorf("SIGCONT %s: %v", m, err)
		}
		ensureJoinedAndReady(t, m)
	})
	if err := f.Signal(m, syscall.SIGSTOP); err != nil {
		t.Fatalf("SIGSTOP %s: %v", m, err)
	}
	stopped := time.Now()

	framework.Eventually(t, 60*time.Second, m+" Ready=False/ClusterNotReachable", func(ctx context.Context) error {
		return readyIs(ctx, m, metav1.ConditionFalse, v1alpha1.ReasonClusterNotReachable)
	})
	took := time.Since(stopped)
	t.Logf("%s: Ready=False/%s %s after SIGSTOP", m, v1alpha1.ReasonClusterNotReachable, took.Round(100*time.Millisecond))
	// Three consecutive failed probes lie at least two periods apart: an
	// earlier transition would mean a single failure was enough.
	if min := (healthThreshold - 1) * healthPeriod; took < min {
		t.Errorf("%s turned not ready %s after it stopped answering, before %d failed probes could have happened (%s)", m, took, healthThreshold, min)
	}

	if err := f.Signal(m, syscall.SIGCONT); err != nil {
		t.Fatalf("SIGCONT %s: %v", m, err)
	}
	resumed := time.Now()
	framework.Eventually(t, 60*time.Second, m+" Ready=True again", func(ctx context.Context) error {
		return readyIs(ctx, m, metav1.ConditionTrue, v1alpha1.ReasonClusterReady)
	})
	t.Logf("%s: Ready=True %s after SIGCONT", m, time.Since(resumed).Round(100*time.Millisecond))
}

func TestTokenIsRenewedBeforeItExpiresAndPropagationContinues(t *testing.T) {
	requireLocalBed(t, "restarts secretfed with --token-renew-fraction")
	m := f.MemberNames[1]
	t.Cleanup(func() {
		if err := f.RestartSecretfed(); err != nil {
			t.Errorf("restarting secretfed with the suite's flags: %v", err)
		}
		ensureJoinedAndReady(t, m)
	})
	if err := f.RestartSecretfed("--token-renew-fraction=0.02"); err != nil {
		t.Fatalf("restarting secretfed with --token-renew-fraction=0.02: %v", err)
	}
	unjoin(t, m)
	// 10m is the shortest token members issue; 2% of it is 12 s.
	r := rejoin(t, m, "--token-ttl=10m")
	waitReady(t, m, onePeriod)
	token0, expiry0 := credentials(t, m)
	assertNoToken(t, "join "+m+" output", r.Output(), token0)
	if left := time.Until(expiry0); left < 9*time.Minute || left > 11*time.Minute {
		t.Errorf("%s annotation says the token expires in %s, want about 10m (--token-ttl)", tokenExpiryAnnotation, left)
	}

	start := time.Now()
	var token1 string
	var expiry1 time.Time
	framework.Eventually(t, 60*time.Second, "the token of "+m+" renewed", func(ctx context.Context) error {
		var err error
		if token1, expiry1, err = readCredentials(ctx, m); err != nil {
			return err
		}
		if token1 == token0 {
			return fmt.Errorf("token unchanged; %s %s", tokenExpiryAnnotation, expiry1.Format(time.RFC3339))
		}
		if !expiry1.After(expiry0) {
			return fmt.Errorf("token changed but %s did not move: %s, was %s", tokenExpiryAnnotation, expiry1.Format(time.RFC3339), expiry0.Format(time.RFC3339))
		}
		return nil
	})
	t.Logf("%s: token renewed %s after the join; expiry %s → %s", m, time.Since(start).Round(100*time.Millisecond),
		expiry0.Format(time.RFC3339), expiry1.Format(time.RFC3339))

	ns := createNamespace(t, "e2e-renewed")
	createFS(t, placedFS(ns, "db", "after-renewal-pw", list(m)))
	waitForValue(t, m, ns, "db", "after-renewal-pw")
	waitReady(t, m, time.Second)

	logs, err := f.SecretfedLogs()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs, "Renewed member token") {
		t.Errorf("the secretfed log does not record the renewal")
	}
	assertNoToken(t, "secretfed log (first token)", logs, token0)
	assertNoToken(t, "secretfed log (renewed token)", logs, token1)
}

func TestUnjoinRemovesTheMemberServiceAccountRBACAndSecrets(t *testing.T) {
	m := f.MemberNames[1]
	t.Cleanup(func() { ensureJoinedAndReady(t, m) })
	ns := createNamespace(t, "e2e-unjoin")
	createFS(t, placedFS(ns, "db", "unjoin-pw", list(m)))
	waitForValue(t, m, ns, "db", "unjoin-pw")
	ctx := framework.Context(t, 2*time.Minute)
	// A Secret secretfed did not put there must survive.
	if _, err := f.Members[m].CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "theirs", Namespace: ns},
		Data:       map[string][]byte{"password": []byte("theirs-pw")},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	token, _ := credentials(t, m)

	r := unjoin(t, m)
	assertNoToken(t, "unjoin "+m+" output", r.Output(), token)
	// unjoin has returned: everything is gone already, nothing to wait for.
	for what, rv := range joinFootprint(t, m, m) {
		if rv != "absent" {
			t.Errorf("after unjoin, %s is still there (resourceVersion %s)", what, rv)
		}
	}
	if _, err := memberSecret(ctx, m, ns, "db"); !apierrors.IsNotFound(err) {
		t.Errorf("after unjoin, the Secret secretfed placed in %s is still there (err %v)", m, err)
	}
	if s, err := memberSecret(ctx, m, ns, "theirs"); err != nil || string(s.Data["password"]) != "theirs-pw" {
		t.Errorf("unjoin touched a Secret secretfed did not manage (err %v)", err)
	}
	if _, err := f.Members[m].CoreV1().Namespaces().Get(ctx, v1alpha1.SystemNamespace, metav1.GetOptions{}); err != nil {
		t.Errorf("the member's %s namespace should stay after unjoin: %v", v1alpha1.SystemNamespace, err)
	}

	rejoin(t, m)
	waitReady(t, m, onePeriod)
	// The FederatedSecret still places db on member2: it comes back.
	waitForValue(t, m, ns, "db", "unjoin-pw")
}

func TestUnjoinKeepSecretsLeavesThemInPlaceUnlabelled(t *testing.T) {
	m := f.MemberNames[1]
	t.Cleanup(func() { ensureJoinedAndReady(t, m) })
	ns := createNamespace(t, "e2e-keep")
	createFS(t, placedFS(ns, "db", "keep-pw", list(m)))
	before := waitForValue(t, m, ns, "db", "keep-pw")
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_ = f.Members[m].CoreV1().Secrets(ns).Delete(ctx, "db", metav1.DeleteOptions{})
	})

	unjoin(t, m, "--keep-secrets")
	ctx := framework.Context(t, 2*time.Minute)
	s, err := memberSecret(ctx, m, ns, "db")
	if err != nil {
		t.Fatalf("after unjoin --keep-secrets, the Secret is gone: %v", err)
	}
	if _, managed := s.Labels[v1alpha1.ManagedLabel]; managed {
		t.Errorf("the kept Secret still carries %s: %v", v1alpha1.ManagedLabel, s.Labels)
	}
	if string(s.Data["password"]) != "keep-pw" || s.Labels["app"] != "e2e" || s.UID != before.UID {
		t.Errorf("the kept Secret is not the one secretfed placed, intact (uid %s → %s, labels %v)", before.UID, s.UID, s.Labels)
	}
	for what, rv := range joinFootprint(t, m, m) {
		if rv != "absent" {
			t.Errorf("after unjoin --keep-secrets, %s is still there (resourceVersion %s)", what, rv)
		}
	}

	rejoin(t, m)
	waitReady(t, m, onePeriod)
	// Back in the federation, the unlabelled copy is no longer secretfed's.
	waitForClusterStatus(t, ns, "db", m, v1alpha1.StatusAlreadyExists)
}

// --- helpers ---

// joinThird joins the host cluster itself as thirdCluster and unjoins it
// when the spec ends, if the spec did not.
func joinThird(t *testing.T) framework.Result {
	t.Helper()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if _, err := f.Secretfed.SecretfedV1alpha1().FederatedClusters().Get(ctx, thirdCluster, metav1.GetOptions{}); apierrors.IsNotFound(err) {
			return
		}
		if r := f.Plugin(ctx, "unjoin", thirdCluster, "--host-context", f.HostContext, "--cluster-context", f.HostContext, "--force"); r.Err != nil {
			t.Errorf("unjoin %s: %v\n%s", thirdCluster, r.Err, r.Output())
		}
	})
	ctx := framework.Context(t, 2*time.Minute)
	return f.Plugin(ctx, "join", thirdCluster, "--host-context", f.HostContext, "--cluster-context", f.HostContext)
}

// rejoin joins member m again with the labels TestMain gave it.
func rejoin(t *testing.T, m string, extra ...string) framework.Result {
	t.Helper()
	ctx := framework.Context(t, 2*time.Minute)
	args := append([]string{"join", m, "--host-context", f.HostContext, "--cluster-context", m, "--labels", memberLabels(m)}, extra...)
	r := f.Plugin(ctx, args...)
	if r.Err != nil {
		t.Fatalf("kubectl secretfed %s: %v\n%s", strings.Join(args, " "), r.Err, r.Output())
	}
	return r
}

func unjoin(t *testing.T, m string, extra ...string) framework.Result {
	t.Helper()
	ctx := framework.Context(t, 2*time.Minute)
	args := append([]string{"unjoin", m, "--host-context", f.HostContext, "--cluster-context", m}, extra...)
	r := f.Plugin(ctx, args...)
	if r.Err != nil {
		t.Fatalf("kubectl secretfed %s: %v\n%s", strings.Join(args, " "), r.Err, r.Output())
	}
	return r
}

func memberLabels(m string) string {
	for i, name := range f.MemberNames {
		if name == m {
			l := framework.MemberLabels(i)
			return fmt.Sprintf("env=%s,region=%s", l["env"], l["region"])
		}
	}
	panic("unknown member " + m)
}

// ensureJoinedAndReady puts member m back the way TestMain left it, after a
// spec that unjoined it, however far that spec got.
func ensureJoinedAndReady(t *testing.T, m string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	fcs := f.Secretfed.SecretfedV1alpha1().FederatedClusters()
	fc, err := fcs.Get(ctx, m, metav1.GetOptions{})
	switch {
	case err != nil && !apierrors.IsNotFound(err):
		t.Errorf("get FederatedCluster %s: %v", m, err)
		return
	case err == nil && fc.DeletionTimestamp != nil:
		// An unjoin that stopped half-way: finish it.
		if r := f.Plugin(ctx, "unjoin", m, "--host-context", f.HostContext, "--cluster-context", m); r.Err != nil {
			t.Errorf("finishing the unjoin of %s: %v\n%s", m, r.Err, r.Output())
			return
		}
		fallthrough
	case err != nil: // not found
		if r := f.Plugin(ctx, "join", m, "--host-context", f.HostContext, "--cluster-context", m, "--labels", memberLabels(m)); r.Err != nil {
			t.Errorf("joining %s again: %v\n%s", m, r.Err, r.Output())
			return
		}
	}
	var last error
	if err := wait.PollUntilContextCancel(ctx, 500*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		last = readyIs(ctx, m, metav1.ConditionTrue, v1alpha1.ReasonClusterReady)
		return last == nil, nil
	}); err != nil {
		t.Errorf("%s is not Ready again after the spec: %v", m, last)
	}
}

func readyIs(ctx context.Context, cluster string, status metav1.ConditionStatus, reason string) error {
	fc, err := f.Secretfed.SecretfedV1alpha1().FederatedClusters().Get(ctx, cluster, metav1.GetOptions{})
	if err != nil {
		return err
	}
	c := meta.FindStatusCondition(fc.Status.Conditions, v1alpha1.ConditionReady)
	if c == nil {
		return fmt.Errorf("no Ready condition yet")
	}
	if c.Status != status || c.Reason != reason {
		return fmt.Errorf("Ready=%s/%s (%s)", c.Status, c.Reason, c.Message)
	}
	return nil
}

func waitReady(t *testing.T, cluster string, timeout time.Duration) {
	t.Helper()
	framework.Eventually(t, timeout, cluster+" Ready=True", func(ctx context.Context) error {
		return readyIs(ctx, cluster, metav1.ConditionTrue, v1alpha1.ReasonClusterReady)
	})
}

// credentials returns the token of a cluster's credentials FederatedSecret
// and its expiry annotation. Callers must never print the token.
func credentials(t *testing.T, cluster string) (string, time.Time) {
	t.Helper()
	token, expiry, err := readCredentials(framework.Context(t, time.Minute), cluster)
	if err != nil {
		t.Fatal(err)
	}
	return token, expiry
}

func readCredentials(ctx context.Context, cluster string) (string, time.Time, error) {
	fs, err := f.Secretfed.SecretfedV1alpha1().FederatedSecrets(v1alpha1.SystemNamespace).Get(ctx, cluster+"-credentials", metav1.GetOptions{})
	if err != nil {
		return "", time.Time{}, fmt.Errorf("credentials of %s: %w", cluster, err)
	}
	token := string(fs.Spec.Template.Data[v1alpha1.CredentialsTokenKey])
	if len(strings.Split(token, ".")) != 3 {
		return "", time.Time{}, fmt.Errorf("credentials of %s: data[%q] is not a JWT (%d bytes)", cluster, v1alpha1.CredentialsTokenKey, len(token))
	}
	expiry, err := time.Parse(time.RFC3339, fs.Annotations[tokenExpiryAnnotation])
	if err != nil {
		return "", time.Time{}, fmt.Errorf("credentials of %s: annotation %s: %w", cluster, tokenExpiryAnnotation, err)
	}
	return token, expiry, nil
}

// assertNoToken fails if text holds the token raw, base64-encoded, or its
// signature (which would catch a truncated or re-encoded copy). The message
// never includes the token.
func assertNoToken(t *testing.T, where, text, token string) {
	t.Helper()
	parts := strings.Split(token, ".")
	for form, s := range map[string]string{
		"raw":       token,
		"base64":    base64.StdEncoding.EncodeToString([]byte(token)),
		"signature": parts[len(parts)-1],
	} {
		if strings.Contains(text, s) {
			t.Errorf("%s contains the member token (%s form)", where, form)
		}
	}
}

// assertFailed checks that a plugin run failed with a non-zero exit code
// and a message containing want on stderr.
func assertFailed(t *testing.T, r framework.Result, want string) {
	t.Helper()
	var exit *exec.ExitError
	if !errors.As(r.Err, &exit) || exit.ExitCode() == 0 {
		t.Fatalf("want a non-zero exit, got %v\n%s", r.Err, r.Output())
	}
	if !strings.Contains(r.Stderr, want) {
		t.Errorf("stderr does not say %q:\n%s", want, r.Stderr)
	}
	t.Logf("exit %d: %s", exit.ExitCode(), strings.TrimSpace(r.Stderr))
}

// joinFootprint returns the resourceVersion ("absent" when missing) of
// everything join creates for name: the FederatedCluster and credentials on
// the host, the ServiceAccount and RBAC objects in member m.
func joinFootprint(t *testing.T, name, m string) map[string]string {
	t.Helper()
	ctx := framework.Context(t, time.Minute)
	fed := f.Secretfed.SecretfedV1alpha1()
	kube := f.Members[m]
	ns, rbac := v1alpha1.SystemNamespace, "secretfed:member:"+name
	out := map[string]string{}
	record := func(what string, obj metav1.Object, err error) {
		switch {
		case apierrors.IsNotFound(err):
			out[what] = "absent"
		case err != nil:
			t.Fatalf("get %s: %v", what, err)
		default:
			out[what] = obj.GetResourceVersion()
		}
	}
	fc, err := fed.FederatedClusters().Get(ctx, name, metav1.GetOptions{})
	record("host FederatedCluster "+name, fc, err)
	cred, err := fed.FederatedSecrets(ns).Get(ctx, name+"-credentials", metav1.GetOptions{})
	record("host FederatedSecret "+ns+"/"+name+"-credentials", cred, err)
	sa, err := kube.CoreV1().ServiceAccounts(ns).Get(ctx, "secretfed-"+name, metav1.GetOptions{})
	record(m+" ServiceAccount "+ns+"/secretfed-"+name, sa, err)
	cr, err := kube.RbacV1().ClusterRoles().Get(ctx, rbac, metav1.GetOptions{})
	record(m+" ClusterRole "+rbac, cr, err)
	crb, err := kube.RbacV1().ClusterRoleBindings().Get(ctx, rbac, metav1.GetOptions{})
	record(m+" ClusterRoleBinding "+rbac, crb, err)
	role, err := kube.RbacV1().Roles(ns).Get(ctx, rbac, metav1.GetOptions{})
	record(m+" Role "+ns+"/"+rbac, role, err)
	rb, err := kube.RbacV1().RoleBindings(ns).Get(ctx, rbac, metav1.GetOptions{})
	record(m+" RoleBinding "+ns+"/"+rbac, rb, err)
	return out
}
