package e2e

import (
	"bufio"
	"context"
	"fmt"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"

	"github.com/secretfed/secretfed/pkg/apis/secretfed/v1alpha1"
	"github.com/secretfed/secretfed/test/e2e/framework"
)

func TestAStoppedMemberDoesNotDelayTheOthers(t *testing.T) {
	ns := createNamespace(t, "e2e-stalled")
	healthy, stalled := f.MemberNames[0], f.MemberNames[1]
	if err := f.Signal(stalled, syscall.SIGSTOP); err != nil {
		t.Fatalf("SIGSTOP %s: %v", stalled, err)
	}
	resumed := false
	resume := func() {
		if !resumed {
			resumed = true
			if err := f.Signal(stalled, syscall.SIGCONT); err != nil {
				t.Errorf("SIGCONT %s: %v", stalled, err)
			}
		}
	}
	t.Cleanup(resume)

	createFS(t, placedFS(ns, "db", "stalled-pw", all()))
	// The same deadline as when every member is healthy.
	waitForValue(t, healthy, ns, "db", "stalled-pw")
	waitForClusterStatus(t, ns, "db", healthy, v1alpha1.StatusPropagated)

	resume()
	waitForValue(t, stalled, ns, "db", "stalled-pw")
	waitForClusterStatus(t, ns, "db", stalled, v1alpha1.StatusPropagated)
}

func TestRestartingTheServerWithEverythingInSyncWritesNothingToMembers(t *testing.T) {
	requireLocalBed(t, "restarts the secretfed process (on kind: TestKindDeletingTheServerPodLosesNoFederatedSecretAndWritesNothingTwice)")
	ns := createNamespace(t, "e2e-restart")
	for i := 0; i < 5; i++ {
		createFS(t, placedFS(ns, fmt.Sprintf("s%d", i), fmt.Sprintf("restart-%d", i), all()))
	}
	for i := 0; i < 5; i++ {
		for _, m := range f.MemberNames {
			waitForClusterStatus(t, ns, fmt.Sprintf("s%d", i), m, v1alpha1.StatusPropagated)
		}
	}
	before := memberWrites(t)
	for m, n := range before {
		if n == 0 {
			t.Fatalf("%s counted no secret writes at all: the metric scan is broken", m)
		}
	}
	oldPid, err := f.Pid("secretfed")
	if err != nil {
		t.Fatal(err)
	}
	if err := f.RestartSecretfed(); err != nil {
		t.Fatalf("restarting secretfed: %v", err)
	}
	if newPid, err := f.Pid("secretfed"); err != nil || newPid == oldPid {
		t.Fatalf("secretfed was not restarted (pid %d -> %d, %v)", oldPid, newPid, err)
	}
	// A sentinel created after the restart proves the new leader's loop has
	// listed and planned; everything queued before it was planned first.
	waitForSentinel(t, ns, "the restarted loop reconciles a new FederatedSecret")
	// Every pair of the old secrets must be confirmed in sync by the new
	// process, which reports it in status only after looking.
	assertAllPropagatedWithoutWrites(t, ns, 5, before, "after the restart")
}

func TestFailuresAreReportedAsWarningEventsAndMetrics(t *testing.T) {
	requireLocalBed(t, "reads secretfed's /metrics at SECRETFED_URL")
	ns := createNamespace(t, "e2e-events")
	m1 := f.MemberNames[0]
	fs := placedFS(ns, "bad-override", "ev-pw", list(m1))
	fs.Spec.Overrides = []v1alpha1.ClusterOverride{{ClusterName: m1, ClusterOverrides: []v1alpha1.OverridePatch{
		{Op: "remove", Path: "/data/missing"},
	}}}
	createFS(t, fs)
	waitForClusterStatus(t, ns, "bad-override", m1, v1alpha1.StatusOverrideFailed)
	framework.Eventually(t, propagationDeadline, "a Warning event on the FederatedSecret", func(ctx context.Context) error {
		evs, err := f.Host.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: fields.OneTermEqualSelector("involvedObject.name", "bad-override").String()})
		if err != nil {
			return err
		}
		for _, e := range evs.Items {
			if e.Type == corev1.EventTypeWarning && strings.Contains(e.Message, m1) {
				if strings.Contains(e.Message, "ev-pw") {
					return fmt.Errorf("the event carries the secret value")
				}
				return nil
			}
		}
		return fmt.Errorf("%d events, none a Warning naming %s", len(evs.Items), m1)
	})
	createFS(t, placedFS(ns, "good", "ev-good", list(m1)))
	waitForValue(t, m1, ns, "good", "ev-good")
	framework.Eventually(t, propagationDeadline, "secretfed metrics", func(ctx context.Context) error {
		body, err := secretfedMetrics(ctx, t)
		if err != nil {
			return err
		}
		for _, want := range []string{"secretfed_propagation_duration_seconds_bucket", "secretfed_member_writes_total{cluster=\"" + m1 + "\"", "secretfed_propagation_errors_total", `workqueue_depth{name="secretfed_propagation"}`} {
			if !strings.Contains(body, want) {
				return fmt.Errorf("/metrics lacks %s", want)
			}
		}
		return nil
	})
}

// memberWrites sums the write requests each member's kube-apiserver served
// on secrets and namespaces (apiserver_request_total).
func memberWrites(t *testing.T) map[string]int {
	t.Helper()
	ctx := framework.Context(t, time.Minute)
	out := map[string]int{}
	for _, m := range f.MemberNames {
		body, err := f.Members[m].CoreV1().RESTClient().Get().AbsPath("/metrics").DoRaw(ctx)
		if err != nil {
			t.Fatalf("reading %s /metrics: %v", m, err)
		}
		sc := bufio.NewScanner(strings.NewReader(string(body)))
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			if !strings.HasPrefix(line, "apiserver_request_total{") {
				continue
			}
			if !strings.Contains(line, `resource="secrets"`) && !strings.Contains(line, `resource="namespaces"`) {
				continue
			}
			write := false
			for _, v := range []string{`verb="POST"`, `verb="PUT"`, `verb="PATCH"`, `verb="DELETE"`, `verb="APPLY"`, `verb="DELETECOLLECTION"`} {
				write = write || strings.Contains(line, v)
			}
			if !write {
				continue
			}
			n, err := strconv.ParseFloat(line[strings.LastIndex(line, " ")+1:], 64)
			if err != nil {
				t.Fatalf("parsing %q: %v", line, err)
			}
			out[m] += int(n)
		}
	}
	return out
}

func secretfedMetrics(ctx context.Context, t *testing.T) (string, error) {
	cfg := f.RESTConfig(f.HostContext)
	cfg.Host = f.Env["SECRETFED_URL"]
	cfg.TLSClientConfig.CAData, cfg.TLSClientConfig.CAFile = nil, f.Env["SECRETFED_CA_FILE"]
	body, err := newRawClient(t, cfg).Get().AbsPath("/metrics").DoRaw(ctx)
	return string(body), err
}
