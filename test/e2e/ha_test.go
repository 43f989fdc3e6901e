package e2e

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/secretfed/secretfed/pkg/apis/secretfed/v1alpha1"
	"github.com/secretfed/secretfed/pkg/controller/manager"
	"github.com/secretfed/secretfed/pkg/generated/clientset/versioned"
	"github.com/secretfed/secretfed/test/e2e/framework"
)

// externalEtcdPrefix is where the servers on the bed's etcd keep their data.
// The host and members use /host, /member1, …: no key of one is under another.
const externalEtcdPrefix = "/secretfed"

// Leader-election defaults (pkg/controller/manager): a follower takes over
// once the lease is LeaseDuration old, checking every RetryPeriod (each wait
// jittered to between 1 and 2.2 periods).
const (
	leaseDuration = 15 * time.Second
	retryPeriod   = 2 * time.Second
)

// Two servers on one external etcd behind the same APIService: killing the
// leader while it propagates a batch hands the loops to the other within the
// lease duration, the batch converges, and no member Secret is written twice.
func TestKillingTheLeaderDuringPropagationHandsOverWithinTheLeaseDurationWithoutDoubleWrites(t *testing.T) {
	requireLocalBed(t, "extra server instances on an external etcd")
	const batch = 100
	// Slower member writes (each new Secret costs a read, a namespace read and
	// a create) stretch the batch over several seconds, so the kill lands in
	// its middle.
	ext := onExternalEtcd(t, 2, "--member-qps=30", "--member-burst=30")
	leader, leaderID := ext.leader(t)
	follower := 3 - leader
	followerID := ext.identity(t, follower)
	t.Logf("leader: %s (%s), follower: %s (%s)", framework.SecretfedInstance(leader), leaderID, framework.SecretfedInstance(follower), followerID)

	ns := createNamespace(t, "e2e-ha")
	ext.deleteAllAtEnd(t, ns)
	before := memberWriteDetail(t)
	createConcurrently(t, ns, batch)

	m1 := f.MemberNames[0]
	var atKill int
	framework.Eventually(t, time.Minute, "the leader propagates the batch", func(ctx context.Context) error {
		n, err := managedCount(ctx, m1, ns)
		if err != nil {
			return err
		}
		if n < 10 {
			return fmt.Errorf("%d of %d in %s", n, batch, m1)
		}
		atKill = n
		return nil
	})
	killed := time.Now()
	if err := f.Signal(framework.SecretfedInstance(leader), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	lastRenew := getLease(t).Spec.RenewTime.Time
	if atKill >= batch {
		t.Fatalf("%s already held all %d Secrets when the leader was killed: nothing was left to hand over", m1, batch)
	}

	var acquired time.Time
	framework.Eventually(t, leaseDuration+15*time.Second, "the follower holds the Lease", func(ctx context.Context) error {
		l, err := f.Host.CoordinationV1().Leases(v1alpha1.SystemNamespace).Get(ctx, manager.LeaseName, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if h := ptrString(l.Spec.HolderIdentity); h != followerID {
			return fmt.Errorf("held by %q", h)
		}
		acquired = l.Spec.AcquireTime.Time
		return nil
	})
	takeover := acquired.Sub(lastRenew)
	t.Logf("leader killed with %d/%d Secrets in %s; the follower acquired the Lease %s after the leader's last renewal, %s after the kill (lease duration %s)",
		atKill, batch, m1, takeover.Round(time.Millisecond), acquired.Sub(killed).Round(time.Millisecond), leaseDuration)
	// A follower counts the lease duration from when it saw the last renewal
	// (it looks every retry period) and tries to acquire every retry period.
	// client-go jitters each wait (wait.JitterUntil, JitterFactor 1.2) to
	// between 1 and 2.2 retry periods, so a takeover lands at most two such
	// waits after the lease expired; 2 s more for the requests themselves on
	// a loaded machine. (A first bound of 1.2 periods per wait was wrong and
	// failed a cold CI run at 21.3 s.) One machine's clock.
	maxWait := retryPeriod + retryPeriod*12/10
	if bound := leaseDuration + 2*maxWait + 2*time.Second; takeover > bound {
		t.Errorf("takeover %s after the last renewal, want at most the lease duration plus two jittered retry periods (%s)", takeover, bound)
	}
	if takeover < leaseDuration-time.Second {
		t.Errorf("the follower acquired the Lease %s after the leader's last renewal, before it expired (%s)", takeover, leaseDuration)
	}

	survivor := directSecretfed(t, follower, 30*time.Second)
	framework.Eventually(t, 2*time.Minute, "the batch converges under the new leader", func(ctx context.Context) error {
		for _, m := range f.MemberNames {
			if n, err := managedCount(ctx, m, ns); err != nil || n != batch {
				return fmt.Errorf("%s holds %d of %d (%v)", m, n, batch, err)
			}
		}
		l, err := survivor.SecretfedV1alpha1().FederatedSecrets(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return err
		}
		for _, fs := range l.Items {
			if !propagatedTrue(&fs) {
				return fmt.Errorf("%s: %+v", fs.Name, fs.Status.Conditions)
			}
		}
		return nil
	})
	for _, m := range f.MemberNames {
		for i := range batch {
			name := fmt.Sprintf("ha-%03d", i)
			if s, err := memberSecret(framework.Context(t, time.Minute), m, ns, name); err != nil || string(s.Data["password"]) != "v-"+name {
				t.Fatalf("%s: %s is not the desired Secret (%v)", m, name, err)
			}
		}
	}
	// Exactly one successful create per member Secret and one for the
	// namespace, and nothing else written: a Secret the killed leader created
	// is never created (409), updated or deleted by the new one, and the
	// follower wrote nothing while it followed. Refused namespace creates
	// (409) come from one leader's workers racing for the batch's new
	// namespace; a 5xx create is a request the SIGKILL cut off.
	after := memberWriteDetail(t)
	for _, m := range f.MemberNames {
		delta := map[string]int{}
		for k, v := range after[m] {
			if d := v - before[m][k]; d != 0 {
				delta[k] = d
			}
		}
		t.Logf("%s write requests during the spec: %v", m, delta)
		for k, n := range delta {
			verb, rest, _ := strings.Cut(k, " ")
			resource, code, _ := strings.Cut(rest, " ")
			switch {
			case verb == "POST" && resource == "secrets" && strings.HasPrefix(code, "2"):
				if n != batch {
					t.Errorf("%s: %d Secret creates succeeded, want %d", m, n, batch)
				}
			case verb == "POST" && resource == "namespaces" && strings.HasPrefix(code, "2"):
				if n != 1 {
					t.Errorf("%s: %d namespace creates succeeded, want 1", m, n)
				}
			case verb == "POST" && resource == "namespaces" && code == "409":
			case verb == "POST" && resource == "secrets" && strings.HasPrefix(code, "5"):
				if n > 4 { // --member-workers requests in flight at most
					t.Errorf("%s: %d Secret creates failed with %s, more than the requests in flight at the kill", m, n, code)
				}
			default:
				t.Errorf("%s: %d unexpected write requests %s", m, n, k)
			}
		}
		if delta["POST secrets 201"] == 0 {
			t.Errorf("%s: no Secret create counted: is the metric scan broken?", m)
		}
	}
}

// externalStore is secretfed running on the bed's etcd instead of its
// embedded one, with as many servers as a spec asked for.
type externalStore struct {
	instances int
}

// onExternalEtcd moves the federation to the bed's etcd for the rest of the
// spec: it stops the bed's server, starts `instances` servers on
// $ETCD_URL under externalEtcdPrefix with one encryption configuration (the
// first registered as the APIService), and copies the FederatedClusters and
// their credentials over through the API. The cleanup stops them, wipes the
// prefix and starts the bed's server again on its embedded etcd, where
// nothing changed meanwhile.
func onExternalEtcd(t *testing.T, instances int, extraArgs ...string) *externalStore {
	t.Helper()
	ctx := framework.Context(t, 5*time.Minute)
	etcdURL := f.Env["ETCD_URL"]
	for k, v := range f.Env {
		if strings.HasSuffix(k, "_ETCD_PREFIX") && (strings.HasPrefix(v+"/", externalEtcdPrefix+"/") || strings.HasPrefix(externalEtcdPrefix+"/", v+"/")) {
			t.Fatalf("--etcd-prefix=%s overlaps %s=%s", externalEtcdPrefix, k, v)
		}
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{etcdURL}, DialTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	// Left by a run that was killed before its cleanup.
	if _, err := cli.Delete(ctx, externalEtcdPrefix+"/", clientv3.WithPrefix()); err != nil {
		t.Fatal(err)
	}

	// What the loops need to reach the members.
	fcs, err := f.Secretfed.SecretfedV1alpha1().FederatedClusters().List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var creds []v1alpha1.FederatedSecret
	for _, fc := range fcs.Items {
		c, err := f.Secretfed.SecretfedV1alpha1().FederatedSecrets(v1alpha1.SystemNamespace).Get(ctx, fc.Spec.SecretRef.Name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		creds = append(creds, *c)
	}

	// Every server of one store needs the same keys.
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		t.Fatal(err)
	}
	encryption := filepath.Join(t.TempDir(), "encryption.yaml")
	if err := os.WriteFile(encryption, []byte(encryptionConfig("secretbox", secretboxKey{"ha", base64.StdEncoding.EncodeToString(key)})), 0o600); err != nil {
		t.Fatal(err)
	}
	args := append([]string{"--etcd-servers=" + etcdURL, "--etcd-prefix=" + externalEtcdPrefix, "--encryption-provider-config=" + encryption}, extraArgs...)

	if err := f.StopSecretfed(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for n := instances; n >= 1; n-- {
			if err := f.StopSecretfedInstance(n); err != nil {
				t.Errorf("cleanup: stopping %s: %v", framework.SecretfedInstance(n), err)
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if _, err := cli.Delete(ctx, externalEtcdPrefix+"/", clientv3.WithPrefix()); err != nil {
			t.Errorf("cleanup: wiping %s from the bed's etcd: %v", externalEtcdPrefix, err)
		}
		cli.Close()
		if err := f.StartSecretfed(); err != nil {
			t.Errorf("cleanup: starting the bed's secretfed again: %v", err)
		}
	})
	if err := f.StartSecretfed(args...); err != nil {
		t.Fatal(err)
	}
	for n := 2; n <= instances; n++ {
		if err := f.StartSecretfedInstance(n, args...); err != nil {
			t.Fatal(err)
		}
	}

	for _, c := range creds {
		fs := &v1alpha1.FederatedSecret{
			ObjectMeta: metav1.ObjectMeta{Namespace: c.Namespace, Name: c.Name, Labels: c.Labels, Annotations: c.Annotations},
			Spec:       c.Spec,
		}
		if _, err := f.Secretfed.SecretfedV1alpha1().FederatedSecrets(fs.Namespace).Create(ctx, fs, metav1.CreateOptions{}); err != nil {
			t.Fatalf("copying %s/%s: %v", fs.Namespace, fs.Name, err)
		}
	}
	for _, c := range fcs.Items {
		fc := &v1alpha1.FederatedCluster{
			ObjectMeta: metav1.ObjectMeta{Name: c.Name, Labels: c.Labels, Annotations: c.Annotations},
			Spec:       c.Spec,
		}
		if _, err := f.Secretfed.SecretfedV1alpha1().FederatedClusters().Create(ctx, fc, metav1.CreateOptions{}); err != nil {
			t.Fatalf("copying FederatedCluster %s: %v", fc.Name, err)
		}
	}
	for _, c := range fcs.Items {
		waitClusterReady(t, c.Name, time.Minute)
	}
	return &externalStore{instances: instances}
}

// deleteAllAtEnd deletes the namespace's FederatedSecrets through a server
// still running, and waits until their member copies are gone, before the
// servers are stopped.
func (s *externalStore) deleteAllAtEnd(t *testing.T, ns string) {
	t.Helper()
	t.Cleanup(func() {
		for n := 1; n <= s.instances; n++ {
			if !running(framework.SecretfedInstance(n)) {
				continue
			}
			fss := directSecretfed(t, n, 30*time.Second).SecretfedV1alpha1().FederatedSecrets(ns)
			err := framework.Poll(3*time.Minute, func(ctx context.Context) error {
				if err := fss.DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{}); err != nil {
					return err
				}
				l, err := fss.List(ctx, metav1.ListOptions{})
				if err != nil {
					return err
				}
				if len(l.Items) > 0 {
					return fmt.Errorf("%d left", len(l.Items))
				}
				return nil
			})
			if err != nil {
				t.Errorf("cleanup: FederatedSecrets of %s: %v", ns, err)
			}
			return
		}
	})
}

// leader waits until one of the servers holds the Lease and returns it.
func (s *externalStore) leader(t *testing.T) (int, string) {
	t.Helper()
	var n int
	var id string
	framework.Eventually(t, leaseDuration+15*time.Second, "one of the servers holds the Lease", func(ctx context.Context) error {
		l, err := f.Host.CoordinationV1().Leases(v1alpha1.SystemNamespace).Get(ctx, manager.LeaseName, metav1.GetOptions{})
		if err != nil {
			return err
		}
		id = ptrString(l.Spec.HolderIdentity)
		for i := 1; i <= s.instances; i++ {
			if log, err := f.ComponentLog(framework.SecretfedInstance(i)); err == nil && strings.Contains(log, identityField(id)) {
				n = i
				return nil
			}
		}
		return fmt.Errorf("held by %q, which no server logged as its identity", id)
	})
	return n, id
}

// identity is the Lease identity server n logs (as "identity=…" on every
// leader-election message, which it logs once it knows who leads).
func (s *externalStore) identity(t *testing.T, n int) string {
	t.Helper()
	var id string
	framework.Eventually(t, 30*time.Second, framework.SecretfedInstance(n)+" logs its Lease identity", func(context.Context) error {
		log, err := f.ComponentLog(framework.SecretfedInstance(n))
		if err != nil {
			return err
		}
		i := strings.Index(log, ` identity="`)
		if i < 0 {
			return fmt.Errorf("not yet")
		}
		rest := log[i+len(` identity="`):]
		id = rest[:strings.IndexByte(rest, '"')]
		return nil
	})
	return id
}

func identityField(id string) string { return fmt.Sprintf(` identity=%q`, id) }

// memberWriteDetail is memberWrites per verb, resource and code, to say
// which writes a count does not expect.
func memberWriteDetail(t *testing.T) map[string]map[string]int {
	t.Helper()
	ctx := framework.Context(t, time.Minute)
	out := map[string]map[string]int{}
	label := func(line, name string) string {
		i := strings.Index(line, name+`="`)
		if i < 0 {
			return ""
		}
		rest := line[i+len(name)+2:]
		return rest[:strings.IndexByte(rest, '"')]
	}
	for _, m := range f.MemberNames {
		body, err := f.Members[m].CoreV1().RESTClient().Get().AbsPath("/metrics").DoRaw(ctx)
		if err != nil {
			t.Fatalf("reading %s /metrics: %v", m, err)
		}
		out[m] = map[string]int{}
		for _, line := range strings.Split(string(body), "\n") {
			if !strings.HasPrefix(line, "apiserver_request_total{") {
				continue
			}
			res, verb := label(line, "resource"), label(line, "verb")
			if (res != "secrets" && res != "namespaces") || verb == "GET" || verb == "LIST" || verb == "WATCH" {
				continue
			}
			n, err := strconv.ParseFloat(line[strings.LastIndex(line, " ")+1:], 64)
			if err != nil {
				t.Fatalf("parsing %q: %v", line, err)
			}
			out[m][verb+" "+res+" "+label(line, "code")] += int(n)
		}
	}
	return out
}

// waitClusterReady waits for a FederatedCluster's Ready=True.
func waitClusterReady(t *testing.T, name string, timeout time.Duration) {
	t.Helper()
	framework.Eventually(t, timeout, name+" Ready=True", func(ctx context.Context) error {
		fc, err := f.Secretfed.SecretfedV1alpha1().FederatedClusters().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		for _, c := range fc.Status.Conditions {
			if c.Type == v1alpha1.ConditionReady && c.Status == metav1.ConditionTrue {
				return nil
			}
		}
		return fmt.Errorf("conditions %+v", fc.Status.Conditions)
	})
}

func getLease(t *testing.T) *coordinationv1.Lease {
	t.Helper()
	l, err := f.Host.CoordinationV1().Leases(v1alpha1.SystemNamespace).Get(framework.Context(t, time.Minute), manager.LeaseName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func ptrString(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// directSecretfed is a client for server instance n, bypassing the host.
func directSecretfed(t *testing.T, n int, timeout time.Duration) versioned.Interface {
	t.Helper()
	cfg := f.SecretfedInstanceConfig(n)
	cfg.Timeout = timeout
	c, err := versioned.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// running tells whether a component of the bed has a live process.
func running(component string) bool {
	return f.Signal(component, syscall.Signal(0)) == nil
}

// createConcurrently creates ha-000 … placed on every member, value v-<name>.
func createConcurrently(t *testing.T, ns string, count int) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, count)
	sem := make(chan struct{}, 8)
	for i := range count {
		name := fmt.Sprintf("ha-%03d", i)
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if _, err := f.Secretfed.SecretfedV1alpha1().FederatedSecrets(ns).Create(ctx, placedFS(ns, name, "v-"+name, all()), metav1.CreateOptions{}); err != nil {
				errs <- fmt.Errorf("creating %s: %w", name, err)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// managedCount counts the Secrets labelled managed in a member namespace.
func managedCount(ctx context.Context, member, ns string) (int, error) {
	l, err := f.Members[member].CoreV1().Secrets(ns).List(ctx, metav1.ListOptions{LabelSelector: v1alpha1.ManagedLabel + "=true"})
	if err != nil {
		return 0, err
	}
	return len(l.Items), nil
}

func propagatedTrue(fs *v1alpha1.FederatedSecret) bool {
	if fs.Status.ObservedGeneration != fs.Generation {
		return false
	}
	for _, c := range fs.Status.Conditions {
		if c.Type == v1alpha1.ConditionPropagated {
			return c.Status == metav1.ConditionTrue
		}
	}
	return false
}

type secretboxKey struct{ name, secret string }

// encryptionConfig renders an EncryptionConfiguration for both secretfed
// resources with one provider and its keys in order (the first encrypts).
func encryptionConfig(provider string, keys ...secretboxKey) string {
	var b strings.Builder
	fmt.Fprintf(&b, `apiVersion: apiserver.config.k8s.io/v1
kind: EncryptionConfiguration
resources:
- resources: [federatedsecrets.secretfed.io, federatedclusters.secretfed.io]
  providers:
  - %s:
      keys:
`, provider)
	for _, k := range keys {
		fmt.Fprintf(&b, "      - name: %s\n        secret: %s\n", k.name, k.secret)
	}
	return b.String()
}
