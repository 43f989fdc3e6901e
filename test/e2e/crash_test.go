package e2e

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/secretfed/secretfed/pkg/apis/secretfed/v1alpha1"
	"github.com/secretfed/secretfed/test/e2e/framework"
)

const (
	crashCount       = 500
	crashSurvivors   = 250 // crash-0000 … crash-0249 stay; the rest are deleted
	crashConcurrency = 16
	// Convergence of 500 FederatedSecrets on two members after a restart
	// (member QPS 50: ≥ 10 s of creates per member) with room for a loaded machine.
	crashDeadline = 3 * time.Minute
)

func crashName(i int) string { return fmt.Sprintf("crash-%04d", i) }

// A SIGKILL of the server in the middle of a burst of creates, and again in
// the middle of a burst of deletes, loses no write the API accepted, and
// after a restart the members hold exactly the surviving FederatedSecrets:
// nothing missing, nothing left behind, nothing duplicated, and the
// unmanaged Secrets whose names collide untouched.
func TestSIGKILLDuringMassCreateAndDeleteLosesNoAcceptedWriteAndLeavesMembersExact(t *testing.T) {
	requireLocalBed(t, "stops, kills or restarts the bed's processes")
	ns := createNamespace(t, "e2e-crash")
	t.Cleanup(func() { deleteAllAndWait(t, ns) })
	m1 := f.MemberNames[0]
	ctx := framework.Context(t, 10*time.Minute)

	// Unmanaged Secrets in member1 named like one survivor and one deleted
	// FederatedSecret: secretfed must never touch either.
	ensureMemberNamespace(t, m1, ns)
	unmanaged := map[string]string{} // name -> resourceVersion
	for _, name := range []string{crashName(7), crashName(300)} {
		s, err := f.Members[m1].CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
			Data:       map[string][]byte{"password": []byte("theirs")},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		unmanaged[name] = s.ResourceVersion
	}

	all500 := make([]string, crashCount)
	for i := range all500 {
		all500[i] = crashName(i)
	}
	fss := f.Secretfed.SecretfedV1alpha1().FederatedSecrets(ns)

	// --- create 500, SIGKILL after 150 were accepted ---
	create := func(ctx context.Context, name string) error {
		_, err := fss.Create(ctx, placedFS(ns, name, "v-"+name, all()), metav1.CreateOptions{})
		return err
	}
	accepted, failed, pid := crashBatch(t, "create", all500, 150, create)
	restartAfterKill(t, pid)
	// Every create the API acknowledged is there after the crash.
	existing := listFSNames(t, ns)
	for name := range accepted {
		if !existing[name] {
			t.Errorf("%s: the API accepted its create before the SIGKILL, it is gone after the restart", name)
		}
	}
	// Failed ones are created again; AlreadyExists means the server committed
	// it but died before answering.
	committed := retryAll(t, "create", failed, create, apierrors.IsAlreadyExists)
	t.Logf("create: %d accepted before the kill, %d failed, of which %d had been committed anyway", len(accepted), len(failed), committed)
	survivors := map[string]bool{}
	for _, n := range all500 {
		survivors[n] = true
	}
	waitCrashConverged(t, ns, survivors, unmanaged)

	// --- delete 250, SIGKILL after 80 were accepted ---
	del := func(ctx context.Context, name string) error { return fss.Delete(ctx, name, metav1.DeleteOptions{}) }
	accepted, failed, pid = crashBatch(t, "delete", all500[crashSurvivors:], 80, del)
	restartAfterKill(t, pid)
	for name := range accepted {
		fs, err := fss.Get(ctx, name, metav1.GetOptions{})
		if err == nil && fs.DeletionTimestamp == nil {
			t.Errorf("%s: the API accepted its delete before the SIGKILL, it is back without a deletionTimestamp after the restart", name)
		}
	}
	committed = retryAll(t, "delete", failed, del, apierrors.IsNotFound)
	t.Logf("delete: %d accepted before the kill, %d failed, of which %d had been committed anyway", len(accepted), len(failed), committed)
	for _, n := range all500[crashSurvivors:] {
		delete(survivors, n)
	}
	waitCrashConverged(t, ns, survivors, unmanaged)
	waitForClusterStatus(t, ns, crashName(7), m1, v1alpha1.StatusAlreadyExists)
}

// crashBatch runs op on every name with crashConcurrency workers and
// SIGKILLs secretfed once killAfter calls succeeded. It returns the names
// whose call the API accepted and those whose call failed.
func crashBatch(t *testing.T, what string, names []string, killAfter int, op func(context.Context, string) error) (accepted map[string]bool, failed []string, pid int) {
	t.Helper()
	pid, err := f.Pid("secretfed")
	if err != nil {
		t.Fatal(err)
	}
	accepted = map[string]bool{}
	var (
		mu          sync.Mutex
		kinds       = map[string]int{}
		slowestFail time.Duration
		okCount     atomic.Int64
		killOnce    sync.Once
		killErr     error
		killed      atomic.Bool
	)
	jobs := make(chan string)
	var wg sync.WaitGroup
	start := time.Now()
	for range crashConcurrency {
		wg.Go(func() {
			for name := range jobs {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				t0 := time.Now()
				err := op(ctx, name)
				d := time.Since(t0)
				cancel()
				mu.Lock()
				if err == nil {
					accepted[name] = true
				} else {
					failed = append(failed, name)
					kinds[errorKind(err)]++
					slowestFail = max(slowestFail, d)
				}
				mu.Unlock()
				if err == nil && okCount.Add(1) == int64(killAfter) {
					killOnce.Do(func() {
						killErr = syscall.Kill(pid, syscall.SIGKILL)
						killed.Store(true)
					})
				}
			}
		})
	}
	for _, n := range names {
		jobs <- n
	}
	close(jobs)
	wg.Wait()
	if !killed.Load() || killErr != nil {
		t.Fatalf("%s: secretfed (pid %d) was not killed after %d accepted calls (accepted %d, kill error %v)", what, pid, killAfter, len(accepted), killErr)
	}
	if err := f.WaitExited("secretfed", pid, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	t.Logf("%s: %d calls in %s; accepted %d, failed %d (slowest failure %s): %v", what, len(names), time.Since(start).Round(time.Millisecond), len(accepted), len(failed), slowestFail.Round(time.Millisecond), kinds)
	if len(failed) == 0 {
		t.Fatalf("%s: no call failed: the SIGKILL came after the burst, not in its middle", what)
	}
	// While the server is down, a call must fail, not hang.
	if slowestFail > 20*time.Second {
		t.Errorf("%s: a failing call took %s: calls to a dead server should fail fast", what, slowestFail)
	}
	return accepted, failed, pid
}

// errorKind groups errors for the log: HTTP status reason or a short text.
func errorKind(err error) string {
	var st apierrors.APIStatus
	if errors.As(err, &st) {
		return fmt.Sprintf("%d %s", st.Status().Code, st.Status().Reason)
	}
	msg := err.Error()
	for _, s := range []string{"connection refused", "EOF", "connection reset", "context deadline exceeded", "stream error"} {
		if strings.Contains(msg, s) {
			return s
		}
	}
	return msg
}

func restartAfterKill(t *testing.T, killedPid int) {
	t.Helper()
	t0 := time.Now()
	if err := f.StartSecretfed(); err != nil {
		t.Fatalf("starting secretfed after the SIGKILL: %v", err)
	}
	if pid, err := f.Pid("secretfed"); err != nil || pid == killedPid {
		t.Fatalf("secretfed was not started anew (pid %d, killed %d, %v)", pid, killedPid, err)
	}
	t.Logf("secretfed serving again %s after the start", time.Since(t0).Round(time.Millisecond))
}

// retryAll repeats op for every name until it succeeds or done(err) says an
// earlier attempt had taken effect, all within one deadline; it returns how
// many had.
func retryAll(t *testing.T, what string, names []string, op func(context.Context, string) error, done func(error) bool) int {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	var n atomic.Int64
	var wg sync.WaitGroup
	jobs := make(chan string)
	errs := make(chan error, len(names))
	for range crashConcurrency {
		wg.Go(func() {
			for name := range jobs {
				var last error
				err := framework.Poll(time.Until(deadline), func(ctx context.Context) error {
					last = op(ctx, name)
					if last != nil && done(last) {
						n.Add(1)
						return nil
					}
					return last
				})
				if err != nil {
					errs <- fmt.Errorf("%s %s again after the restart: %v", what, name, last)
				}
			}
		})
	}
	for _, name := range names {
		jobs <- name
	}
	close(jobs)
	wg.Wait()
	close(errs)
	failed := 0
	for err := range errs {
		if failed++; failed <= 5 {
			t.Error(err)
		}
	}
	if failed > 0 {
		t.Fatalf("%s: %d of %d retries still failing after the restart", what, failed, len(names))
	}
	return int(n.Load())
}

func listFSNames(t *testing.T, ns string) map[string]bool {
	t.Helper()
	l, err := f.Secretfed.SecretfedV1alpha1().FederatedSecrets(ns).List(framework.Context(t, time.Minute), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, fs := range l.Items {
		out[fs.Name] = true
	}
	return out
}

// waitCrashConverged waits until the namespace holds exactly the survivors,
// every member holds exactly one managed copy of each with its value (except
// where an unmanaged Secret of member1 has the name), and the unmanaged
// Secrets are unchanged.
func waitCrashConverged(t *testing.T, ns string, survivors map[string]bool, unmanaged map[string]string) {
	t.Helper()
	m1 := f.MemberNames[0]
	t0 := time.Now()
	framework.Eventually(t, crashDeadline, "members hold exactly the surviving FederatedSecrets", func(ctx context.Context) error {
		l, err := f.Secretfed.SecretfedV1alpha1().FederatedSecrets(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return err
		}
		fsNames := map[string]bool{}
		for _, fs := range l.Items {
			fsNames[fs.Name] = true
		}
		if d := diffSets(survivors, fsNames); d != "" {
			return fmt.Errorf("FederatedSecrets: %s", d)
		}
		for _, m := range f.MemberNames {
			secrets, err := f.Members[m].CoreV1().Secrets(ns).List(ctx, metav1.ListOptions{})
			if err != nil {
				return err
			}
			managed, foreign := map[string]bool{}, map[string]bool{}
			for _, s := range secrets.Items {
				if s.Labels[v1alpha1.ManagedLabel] != "true" {
					foreign[s.Name] = true
					if rv, ok := unmanaged[s.Name]; !ok || m != m1 || rv != s.ResourceVersion || string(s.Data["password"]) != "theirs" {
						return fmt.Errorf("%s: unmanaged Secret %s changed or unexpected (resourceVersion %s)", m, s.Name, s.ResourceVersion)
					}
					continue
				}
				if string(s.Data["password"]) != "v-"+s.Name {
					return fmt.Errorf("%s: %s holds another value than its FederatedSecret's", m, s.Name)
				}
				managed[s.Name] = true
			}
			want := map[string]bool{}
			for n := range survivors {
				if _, blocked := unmanaged[n]; !(blocked && m == m1) {
					want[n] = true
				}
			}
			if d := diffSets(want, managed); d != "" {
				return fmt.Errorf("%s managed Secrets: %s", m, d)
			}
			// Nothing duplicated or left over: every Secret in the namespace
			// is one of the survivors' copies or one of the unmanaged ones.
			wantTotal := len(want)
			if m == m1 {
				wantTotal += len(unmanaged)
			}
			if len(secrets.Items) != wantTotal {
				return fmt.Errorf("%s: %d Secrets in %s, want %d (%d FederatedSecrets)", m, len(secrets.Items), ns, wantTotal, len(fsNames))
			}
		}
		return nil
	})
	t.Logf("converged on %d FederatedSecrets %s after the restart", len(survivors), time.Since(t0).Round(time.Millisecond))
}

// diffSets describes how got differs from want ("" when equal), naming at most five of each.
func diffSets(want, got map[string]bool) string {
	var missing, extra []string
	for n := range want {
		if !got[n] {
			missing = append(missing, n)
		}
	}
	for n := range got {
		if !want[n] {
			extra = append(extra, n)
		}
	}
	if len(missing) == 0 && len(extra) == 0 {
		return ""
	}
	sort.Strings(missing)
	sort.Strings(extra)
	return fmt.Sprintf("%d missing %v, %d unexpected %v", len(missing), missing[:min(5, len(missing))], len(extra), extra[:min(5, len(extra))])
}

// deleteAllAndWait deletes every FederatedSecret of a namespace and waits
// until their finalizers are done, so that the next spec starts with quiet
// loops and members.
func deleteAllAndWait(t *testing.T, ns string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	fss := f.Secretfed.SecretfedV1alpha1().FederatedSecrets(ns)
	if err := fss.DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{}); err != nil {
		t.Logf("cleanup: deleting the FederatedSecrets of %s: %v", ns, err)
		return
	}
	if err := framework.Poll(3*time.Minute, func(ctx context.Context) error {
		l, err := fss.List(ctx, metav1.ListOptions{})
		if err != nil {
			return err
		}
		if len(l.Items) > 0 {
			return fmt.Errorf("%d left", len(l.Items))
		}
		return nil
	}); err != nil {
		t.Logf("cleanup: FederatedSecrets of %s not gone: %v", ns, err)
	}
}
