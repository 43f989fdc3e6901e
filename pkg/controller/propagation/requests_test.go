package propagation

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clienttesting "k8s.io/client-go/testing"

	"github.com/secretfed/secretfed/pkg/apis/secretfed/v1alpha1"
	"github.com/secretfed/secretfed/pkg/render"
)

// These specs pin down how many requests propagation costs a member: every
// request on the way of a new Secret adds a round trip to its latency and
// counts against --member-qps (see bench/REPORT.md, figures 1 and 3).

// requests lists the requests a member received from the propagation loop
// after the first from of them, leaving out its informer's list and watch.
func (h *harness) requests(cluster string, from int) []string {
	var out []string
	for _, a := range h.members[cluster].Actions()[from:] {
		switch a.GetVerb() {
		case "list", "watch":
			continue
		case "get":
			out = append(out, "get "+a.GetResource().Resource+" "+a.GetNamespace()+"/"+a.(clienttesting.GetAction).GetName())
			continue
		}
		out = append(out, describeAction(a))
	}
	return out
}

func TestANewSecretInAKnownNamespaceCostsTheMemberOneRequest(t *testing.T) {
	h := start(t, setup{
		objects: append(clusters("member1"), federatedSecret(onClusters("member1"))),
		members: map[string][]runtime.Object{"member1": objs(namespace("payments"))},
	})
	h.propagatedTo("payments", "db-creds", "member1")
	h.quiesce()
	// The first Secret in a namespace checks that the namespace exists
	// (and reads the Secret, since the member cache had not synced yet).
	if got := h.requests("member1", 0); !slices.Contains(got, "get namespaces /payments") {
		t.Errorf("requests for the first Secret: %v, want a namespace check", got)
	}

	from := len(h.members["member1"].Actions())
	second := federatedSecret(onClusters("member1"))
	second.Name = "second"
	if _, err := h.sf.SecretfedV1alpha1().FederatedSecrets("payments").Create(h.ctx, second, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	h.propagatedTo("payments", "second", "member1")
	h.quiesce()
	// No read of the Secret before the create (the pair was never
	// attempted), no namespace check (seen already), no re-check after
	// the planner records the outcome.
	if diff := cmp.Diff([]string{"create secrets payments/second"}, h.requests("member1", from)); diff != "" {
		t.Errorf("requests for the second Secret (-want +got):\n%s", diff)
	}
}

func TestANamespaceDeletedSinceItWasSeenIsCreatedAgain(t *testing.T) {
	nsGVR := corev1.SchemeGroupVersion.WithResource("namespaces")
	h := start(t, setup{
		objects: append(clusters("member1"), federatedSecret(onClusters("member1"))),
		members: map[string][]runtime.Object{"member1": nil},
		configure: func(h *harness) {
			// Like a kube-apiserver: no Secret in a missing namespace.
			tracker := h.members["member1"].Tracker()
			h.members["member1"].PrependReactor("create", "secrets", func(a clienttesting.Action) (bool, runtime.Object, error) {
				if _, err := tracker.Get(nsGVR, "", a.GetNamespace()); err != nil {
					return true, nil, apierrors.NewNotFound(nsGVR.GroupResource(), a.GetNamespace())
				}
				return false, nil, nil
			})
		},
	})
	h.propagatedTo("payments", "db-creds", "member1")
	h.quiesce()
	if err := h.members["member1"].Tracker().Delete(nsGVR, "", "payments"); err != nil {
		t.Fatal(err)
	}

	second := federatedSecret(onClusters("member1"))
	second.Name = "second"
	if _, err := h.sf.SecretfedV1alpha1().FederatedSecrets("payments").Create(h.ctx, second, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	h.propagatedTo("payments", "second", "member1")
	ns, err := h.members["member1"].Tracker().Get(nsGVR, "", "payments")
	if err != nil {
		t.Fatalf("namespace not created again: %v", err)
	}
	if ns.(*corev1.Namespace).Labels[v1alpha1.ManagedNamespaceLabel] != "true" {
		t.Errorf("re-created namespace lacks %s", v1alpha1.ManagedNamespaceLabel)
	}
	if h.secret("member1", "payments", "second") == nil {
		t.Errorf("member1 has no Secret second")
	}
}

func TestAPreExistingUnmanagedSecretCostsARefusedCreateOnTheFirstAttemptOnly(t *testing.T) {
	unmanaged := memberSecret("payments", "db-creds", false, "theirs")
	h := start(t, setup{
		objects: append(clusters("member1"), federatedSecret(onClusters("member1"))),
		members: map[string][]runtime.Object{"member1": objs(namespace("payments"), unmanaged)},
	})
	h.eventually("AlreadyExists is reported", func() bool {
		return h.clusterStatus("payments", "db-creds")["member1"].Status == v1alpha1.StatusAlreadyExists
	})
	h.quiesce()
	// A resync re-checks it with a read, not another refused create.
	from := len(h.members["member1"].Actions())
	h.ctrl.enqueueAll()
	h.quiesce()
	if diff := cmp.Diff([]string{"get secrets payments/db-creds"}, h.requests("member1", from)); diff != "" {
		t.Errorf("requests on resync (-want +got):\n%s", diff)
	}
	if s := h.secret("member1", "payments", "db-creds"); s == nil || string(s.Data["password"]) != "theirs" {
		t.Errorf("the unmanaged Secret was changed")
	}
}

func TestNeedsCheck(t *testing.T) {
	mark := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	apply := &intent{action: actApply}
	remove := &intent{action: actRemove}
	tests := []struct {
		name  string
		in    *intent
		out   outcome
		fresh bool
		want  bool
	}{
		{"never attempted", apply, outcome{}, false, true},
		{"failed: retries on its own backoff", apply, outcome{status: v1alpha1.StatusUpdateFailed, started: mark.Add(time.Second)}, true, false},
		{"propagated after the last full re-plan", apply, outcome{status: v1alpha1.StatusPropagated, started: mark.Add(time.Second)}, true, false},
		{"propagated before the last full re-plan", apply, outcome{status: v1alpha1.StatusPropagated, started: mark.Add(-time.Second)}, true, true},
		{"AlreadyExists: re-checked, it may have gone", apply, outcome{status: v1alpha1.StatusAlreadyExists, started: mark.Add(time.Second)}, true, true},
		{"removed", remove, outcome{removed: true, started: mark.Add(time.Second)}, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &Controller{recheckSince: mark}
			if got := c.needsCheck(tt.in, tt.out, tt.fresh); got != tt.want {
				t.Errorf("needsCheck = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestAFastPropagationWritesNoPendingStatus(t *testing.T) {
	h := start(t, setup{
		objects: append(clusters("member1", "member2"), federatedSecret(onClusters("member1", "member2"))),
		members: map[string][]runtime.Object{"member1": nil, "member2": nil},
	})
	h.propagatedTo("payments", "db-creds", "member1", "member2")
	// The same for a rotation.
	h.updateFS("payments", "db-creds", func(fs *v1alpha1.FederatedSecret) {
		fs.Spec.Template.Data["password"] = []byte("rotated")
	})
	h.eventually("the rotation is propagated and reported", func() bool {
		fs := h.fs("payments", "db-creds")
		c := h.condition("payments", "db-creds")
		return fs.Status.ObservedGeneration == fs.Generation && c.Status == metav1.ConditionTrue &&
			string(h.secret("member1", "payments", "db-creds").Data["password"]) == "rotated"
	})
	h.quiesce()
	// The pairs finished within PendingStatusDelay, so the only status
	// written for each generation is the result. (Counting writes would
	// also count attempts that met a conflict and were retried.)
	for _, a := range h.sf.Actions() {
		u, ok := a.(clienttesting.UpdateAction)
		if !ok || a.GetSubresource() != "status" {
			continue
		}
		fs := u.GetObject().(*v1alpha1.FederatedSecret)
		if fs.Name != "db-creds" {
			continue
		}
		for _, c := range fs.Status.Conditions {
			if c.Reason == v1alpha1.ReasonPropagationPending {
				t.Errorf("status written with %s for generation %d: %s", c.Reason, c.ObservedGeneration, c.Message)
			}
		}
	}
}

func TestManyStatusConflictsAreRetriedPromptly(t *testing.T) {
	// Few enough objects for the fake's watch buffer, enough conflicts
	// (4 each) to exceed the failure rate limiter's burst of 100.
	const n, conflicts = 80, 4
	objects := clusters("member1")
	for i := 0; i < n; i++ {
		fs := federatedSecret(onClusters("member1"))
		fs.Name = fmt.Sprintf("s-%03d", i)
		objects = append(objects, fs)
	}
	h := start(t, setup{
		objects: objects,
		members: map[string][]runtime.Object{"member1": nil},
		configure: func(h *harness) {
			// Status writes meet conflicts, as when our cache lags our
			// own last write.
			var mu sync.Mutex
			seen := map[string]int{}
			h.sf.PrependReactor("update", "federatedsecrets", func(a clienttesting.Action) (bool, runtime.Object, error) {
				if a.GetSubresource() != "status" {
					return false, nil, nil
				}
				name := a.(clienttesting.UpdateAction).GetObject().(metav1.Object).GetName()
				mu.Lock()
				defer mu.Unlock()
				if seen[name] >= conflicts {
					return false, nil, nil
				}
				seen[name]++
				return true, nil, apierrors.NewConflict(v1alpha1.Resource("federatedsecrets"), name, errors.New("the object has been modified"))
			})
		},
	})
	begin := time.Now()
	for i := 0; i < n; i++ {
		h.propagatedTo("payments", fmt.Sprintf("s-%03d", i), "member1")
	}
	// Through the failure rate limiter's overall bucket (10 a second after
	// a burst of 100) the 320 conflicts took over 20 s.
	if d := time.Since(begin); d > 8*time.Second {
		t.Errorf("%d conflicting status writes took %s to go through", n*conflicts, d)
	}
}

func TestAPairRendersItsSecretOnlyIfTheFederatedSecretIsAsPlanned(t *testing.T) {
	h := start(t, setup{
		objects: append(clusters("member1"), federatedSecret(onClusters("member1"))),
		members: map[string][]runtime.Object{"member1": nil},
	})
	h.propagatedTo("payments", "db-creds", "member1")
	planned, err := render.Render(h.fs("payments", "db-creds"), "member1")
	if err != nil {
		t.Fatal(err)
	}
	d, err := digestOf(planned)
	if err != nil {
		t.Fatal(err)
	}
	in := &intent{action: actApply, desired: d}
	if got, ok := h.ctrl.desiredFor("payments/db-creds", "member1", in); !ok || string(got.Data["password"]) != secretValue {
		t.Fatalf("desiredFor(as planned) = %v, %v", got, ok)
	}
	h.updateFS("payments", "db-creds", func(fs *v1alpha1.FederatedSecret) { fs.Spec.Template.Data["password"] = []byte("rotated") })
	h.eventually("the cache has the rotation", func() bool {
		fs, err := h.ctrl.fsLister.FederatedSecrets("payments").Get("db-creds")
		return err == nil && string(fs.Spec.Template.Data["password"]) == "rotated"
	})
	if _, ok := h.ctrl.desiredFor("payments/db-creds", "member1", in); ok {
		t.Errorf("desiredFor rendered a Secret for an intent the FederatedSecret no longer matches")
	}
	// ... and the member ends up with the rotation all the same.
	h.eventually("the rotation reaches member1", func() bool {
		s := h.secret("member1", "payments", "db-creds")
		return s != nil && string(s.Data["password"]) == "rotated"
	})
}
