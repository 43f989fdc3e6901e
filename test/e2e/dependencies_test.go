package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"syscall"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/secretfed/secretfed/pkg/apis/secretfed/v1alpha1"
	"github.com/secretfed/secretfed/test/e2e/framework"
)

// Restarting a kube-apiserver of the bed takes a few seconds, up to ~20 on a
// loaded machine; the deadlines below add the loops' own recovery to that.
const recoveryDeadline = 90 * time.Second

// While the host kube-apiserver is down, the secretfed API keeps serving
// (its store and the admin's authorization do not need the host), the loops
// lose their Lease, and once the host is back they take it again by
// themselves and propagate what was written meanwhile and afterwards.
func TestServerKeepsServingWhileTheHostRestartsAndConvergesAfterwards(t *testing.T) {
	requireLocalBed(t, "restarts the host kube-apiserver process")
	ns := createNamespace(t, "e2e-hostdown")
	createFS(t, placedFS(ns, "before", "host-1", all()))
	for _, m := range f.MemberNames {
		waitForValue(t, m, ns, "before", "host-1")
	}
	direct := directSecretfed(t, 1, 10*time.Second)
	notLeading := logCount(t, "secretfed", "Not leading")

	stopComponent(t, "host")
	// Through the host, a write fails at once: nothing listens.
	t0 := time.Now()
	_, err := f.Secretfed.SecretfedV1alpha1().FederatedSecrets(ns).Create(framework.Context(t, 30*time.Second), placedFS(ns, "via-host", "x", all()), metav1.CreateOptions{})
	if err == nil || time.Since(t0) > 5*time.Second {
		t.Errorf("a write through the stopped host: %v after %s, want an error at once", err, time.Since(t0))
	}
	// Straight to secretfed, reads and writes are served, and fast.
	t0 = time.Now()
	if _, err := direct.SecretfedV1alpha1().FederatedSecrets(ns).Get(framework.Context(t, 30*time.Second), "before", metav1.GetOptions{}); err != nil {
		t.Errorf("reading from secretfed while the host is down: %v", err)
	}
	if _, err := direct.SecretfedV1alpha1().FederatedSecrets(ns).Create(framework.Context(t, 30*time.Second), placedFS(ns, "during", "host-2", all()), metav1.CreateOptions{}); err != nil {
		t.Errorf("writing to secretfed while the host is down: %v", err)
	}
	if d := time.Since(t0); d > 5*time.Second {
		t.Errorf("a read and a write took %s while the host was down: they do not need the host", d)
	}
	// The leader cannot renew its Lease in the host: it must stop leading
	// (and not crash), then win the Lease again once the host is back.
	waitForLog(t, "secretfed", "Not leading", notLeading+1, 30*time.Second)

	restartComponent(t, "host")
	for _, m := range f.MemberNames {
		waitForValueWithin(t, recoveryDeadline, m, ns, "during", "host-2")
	}
	// A write through the host after recovery propagates.
	framework.Eventually(t, recoveryDeadline, "a write through the host after it is back", func(ctx context.Context) error {
		_, err := f.Secretfed.SecretfedV1alpha1().FederatedSecrets(ns).Create(ctx, placedFS(ns, "after", "host-3", all()), metav1.CreateOptions{})
		return err
	})
	patchData(t, ns, "before", "host-4")
	for _, m := range f.MemberNames {
		waitForValue(t, m, ns, "after", "host-3")
		waitForValue(t, m, ns, "before", "host-4")
	}
}

// While a member's kube-apiserver is down, its status says why for that
// member only, the other members get their Secrets as fast as ever, and once
// it is back it converges by itself.
func TestAMemberRestartFailsOnlyThatMemberAndConvergesAfterwards(t *testing.T) {
	requireLocalBed(t, "restarts a member kube-apiserver process, reads its log")
	ns := createNamespace(t, "e2e-memberdown")
	up, down := f.MemberNames[0], f.MemberNames[1]
	stopComponent(t, down)

	createFS(t, placedFS(ns, "during", "member-1", all()))
	waitForValue(t, up, ns, "during", "member-1")
	waitForClusterStatus(t, ns, "during", up, v1alpha1.StatusPropagated)
	framework.Eventually(t, propagationDeadline, "the stopped member's status names a failure", func(ctx context.Context) error {
		fs, err := f.Secretfed.SecretfedV1alpha1().FederatedSecrets(ns).Get(ctx, "during", metav1.GetOptions{})
		if err != nil {
			return err
		}
		for _, c := range fs.Status.Clusters {
			if c.Name != down {
				continue
			}
			switch c.Status {
			case v1alpha1.StatusClusterNotReady, v1alpha1.StatusCreationFailed, v1alpha1.StatusNamespaceCreationFailed, v1alpha1.StatusUpdateFailed:
				if c.Message == "" {
					return fmt.Errorf("status %s without a message", c.Status)
				}
				t.Logf("%s while stopped: %s: %s", down, c.Status, c.Message)
				return nil
			}
			return fmt.Errorf("status %s (%s)", c.Status, c.Message)
		}
		return fmt.Errorf("no status entry for %s", down)
	})

	restartComponent(t, down)
	waitForValueWithin(t, recoveryDeadline, down, ns, "during", "member-1")
	waitForClusterStatus(t, ns, "during", down, v1alpha1.StatusPropagated)
	createFS(t, placedFS(ns, "after", "member-2", all()))
	for _, m := range f.MemberNames {
		waitForValue(t, m, ns, "after", "member-2")
	}
}

// secretfed's etcd restarted: with the default embedded etcd that is a
// restart of secretfed itself (TestSIGKILLDuring…, TestRestarting…); here
// secretfed runs on an external etcd — the bed's, which the host and members
// share — and that etcd is stopped and started. Meanwhile a write fails
// with a clear timeout error instead of hanging, /readyz says why, and
// afterwards everything recovers by itself.
func TestServerOnAnExternalEtcdFailsWritesClearlyWhileItRestartsAndConverges(t *testing.T) {
	requireLocalBed(t, "restarts secretfed on an external etcd process")
	ext := onExternalEtcd(t, 1)
	ns := createNamespace(t, "e2e-etcddown")
	ext.deleteAllAtEnd(t, ns)
	createFS(t, placedFS(ns, "before", "etcd-1", all()))
	for _, m := range f.MemberNames {
		waitForValue(t, m, ns, "before", "etcd-1")
	}
	cfg := f.SecretfedInstanceConfig(1)
	cfg.Timeout = 0 // the server's own deadline is under test
	raw := newRawClient(t, cfg)

	stopComponent(t, "etcd")
	body, err := json.Marshal(withTypeMeta(placedFS(ns, "during", "etcd-2", all())))
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	err = raw.Post().AbsPath("/apis/secretfed.io/v1alpha1/namespaces", ns, "federatedsecrets").
		Param("timeout", "5s").Body(body).SetHeader("Content-Type", "application/json").
		Do(framework.Context(t, time.Minute)).Error()
	d := time.Since(t0)
	t.Logf("a write with etcd down: %s later: %v", d.Round(time.Millisecond), err)
	var st apierrors.APIStatus
	switch {
	case err == nil:
		t.Errorf("a write succeeded with etcd down")
	case !errors.As(err, &st):
		t.Errorf("a write with etcd down failed without an API status: %v", err)
	case d > 15*time.Second:
		t.Errorf("a write with etcd down took %s to fail, with timeout=5s", d)
	}
	framework.Eventually(t, 30*time.Second, "secretfed /readyz reports etcd", func(ctx context.Context) error {
		body, err := raw.Get().AbsPath("/readyz").Param("verbose", "1").DoRaw(ctx)
		if err == nil {
			return fmt.Errorf("/readyz ok with etcd down")
		}
		if !strings.Contains(string(body), "[-]etcd") {
			return fmt.Errorf("/readyz fails, but not naming etcd: %s", body)
		}
		return nil
	})

	restartComponent(t, "etcd")
	framework.Eventually(t, recoveryDeadline, "secretfed /readyz ok again", func(ctx context.Context) error {
		_, err := raw.Get().AbsPath("/readyz").DoRaw(ctx)
		return err
	})
	framework.Eventually(t, recoveryDeadline, "a write through the host after etcd is back", func(ctx context.Context) error {
		_, err := f.Secretfed.SecretfedV1alpha1().FederatedSecrets(ns).Create(ctx, placedFS(ns, "after", "etcd-3", all()), metav1.CreateOptions{})
		return err
	})
	patchData(t, ns, "before", "etcd-4")
	for _, m := range f.MemberNames {
		waitForValueWithin(t, recoveryDeadline, m, ns, "after", "etcd-3")
		waitForValueWithin(t, recoveryDeadline, m, ns, "before", "etcd-4")
	}
}

// stopComponent sends SIGTERM to a component of the bed and waits until it
// no longer listens. A cleanup starts it again if the spec did not.
func stopComponent(t *testing.T, component string) {
	t.Helper()
	pid, err := f.Pid(component)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if p, err := f.Pid(component); err == nil && p != pid {
			return // restarted by the spec
		}
		if err := f.RestartComponent(component); err != nil {
			t.Errorf("cleanup: restarting %s: %v", component, err)
		}
	})
	if err := f.Signal(component, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// kube-apiservers close their listener at once but may take a while to
	// exit; hack/local-restart.sh finishes that off.
	framework.Eventually(t, 30*time.Second, component+" stops answering", func(ctx context.Context) error {
		if componentListens(ctx, component) {
			return fmt.Errorf("still answers")
		}
		return nil
	})
	if component == "etcd" {
		// etcd closes its listener first and may still serve the connections
		// it has for a moment: down means gone.
		if err := f.WaitExited(component, pid, 30*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("%s (pid %d) stopped", component, pid)
}

func restartComponent(t *testing.T, component string) {
	t.Helper()
	t0 := time.Now()
	if err := f.RestartComponent(component); err != nil {
		t.Fatalf("restarting %s: %v", component, err)
	}
	t.Logf("%s restarted and ready in %s", component, time.Since(t0).Round(time.Millisecond))
}

// componentListens tells whether a component's endpoint accepts
// connections. (A kube-apiserver fails /readyz as soon as it gets SIGTERM,
// but keeps serving until it closes its listener.)
func componentListens(ctx context.Context, component string) bool {
	var endpoint string
	switch component {
	case "etcd":
		endpoint = f.Env["ETCD_URL"]
	case "host":
		endpoint = f.Env["HOST_URL"]
	default:
		endpoint = f.Env[strings.ToUpper(component)+"_URL"]
	}
	u, err := url.Parse(endpoint)
	if err != nil || u.Host == "" {
		return false
	}
	d := net.Dialer{Timeout: 2 * time.Second}
	conn, err := d.DialContext(ctx, "tcp", u.Host)
	if err != nil {
		return false
	}
	conn.Close()
	return true
}

// logCount counts the lines of a component's log since its latest start that hold text.
func logCount(t *testing.T, component, text string) int {
	t.Helper()
	log, err := f.ComponentLog(component)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Count(log, text)
}

// waitForLog waits until a component's log since its latest start holds
// text at least n times.
func waitForLog(t *testing.T, component, text string, n int, timeout time.Duration) {
	t.Helper()
	framework.Eventually(t, timeout, fmt.Sprintf("%s logs %q", component, text), func(context.Context) error {
		log, err := f.ComponentLog(component)
		if err != nil {
			return err
		}
		if got := strings.Count(log, text); got < n {
			return fmt.Errorf("%d times, want %d", got, n)
		}
		return nil
	})
}

// waitForValueWithin is waitForValue with another deadline.
func waitForValueWithin(t *testing.T, timeout time.Duration, member, ns, name, value string) {
	t.Helper()
	framework.Eventually(t, timeout, fmt.Sprintf("%s/%s in %s holds the desired value", ns, name, member), func(ctx context.Context) error {
		s, err := memberSecret(ctx, member, ns, name)
		if err != nil {
			return err
		}
		if string(s.Data["password"]) != value || s.Labels[v1alpha1.ManagedLabel] != "true" {
			return fmt.Errorf("not the desired value, or not managed")
		}
		return nil
	})
}

func withTypeMeta(fs *v1alpha1.FederatedSecret) *v1alpha1.FederatedSecret {
	fs.APIVersion, fs.Kind = v1alpha1.SchemeGroupVersion.String(), "FederatedSecret"
	return fs
}
