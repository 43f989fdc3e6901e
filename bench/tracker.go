package main

import (
	"context"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"

	"github.com/secretfed/secretfed/pkg/apis/secretfed/v1alpha1"
	"github.com/secretfed/secretfed/pkg/generated/informers/externalversions"
)

// benchLabel marks every object the bench makes, federated or direct, so one
// watch per member sees both. A FederatedSecret's template carries it, so
// its member copies have it next to secretfed.io/managed=true.
const benchLabel = "bench.secretfed.io/run"

// valueKey is the data key whose value identifies a sample's write.
const valueKey = "v"

// Tracker watches the bench's Secrets in every member and tells waiters
// when a wanted value has appeared: latencies are measured from the watch,
// the same way for federated and direct writes.
type Tracker struct {
	mu      sync.Mutex
	waits   map[string]*Wait           // ns/name
	present map[string]map[string]int  // member -> namespace -> Secrets present
	changes map[string]int             // member -> adds, updates (new resourceVersion) and deletes seen
	counts  []*CountWait               // open count waits
	fsSync  map[string]map[string]bool // namespace -> FederatedSecret name -> in sync
	fcReady map[string]bool            // FederatedCluster -> Ready is not False
	fsWaits []*CountWait               // open in-sync waits (member "" only)
	synced  []cache.InformerSynced
	secrets map[string]cache.SharedIndexInformer
}

// Wait is one sample: a value wanted in a set of members.
type Wait struct {
	Key       string
	Want      string
	remaining map[string]bool
	At        map[string]time.Time
	done      chan struct{}
}

// CountWait is satisfied when every member holds at least Target Secrets in
// Namespace (or, for FederatedSecrets, when Target of them are in sync).
type CountWait struct {
	Namespace string
	Target    int
	Members   []string
	At        time.Time
	done      chan struct{}
}

// NewTracker starts the watches: member Secrets with the bench label, and
// on the secretfed API the bench's FederatedSecrets and every
// FederatedCluster.
func NewTracker(ctx context.Context, b *Bed) (*Tracker, error) {
	t := &Tracker{
		waits:   map[string]*Wait{},
		present: map[string]map[string]int{},
		changes: map[string]int{},
		fsSync:  map[string]map[string]bool{},
		fcReady: map[string]bool{},
		secrets: map[string]cache.SharedIndexInformer{},
	}
	sel := func(o *metav1.ListOptions) { o.LabelSelector = benchLabel }
	for _, m := range b.Members {
		t.present[m] = map[string]int{}
		f := informers.NewSharedInformerFactoryWithOptions(b.Member[m], 0, informers.WithTweakListOptions(sel))
		inf := f.Core().V1().Secrets().Informer()
		if _, err := inf.AddEventHandler(t.memberHandler(m)); err != nil {
			return nil, err
		}
		t.secrets[m] = inf
		t.synced = append(t.synced, inf.HasSynced)
		f.Start(ctx.Done())
	}
	fsf := externalversions.NewSharedInformerFactoryWithOptions(b.SecretfedDirect, 0, externalversions.WithTweakListOptions(sel))
	fsInf := fsf.Secretfed().V1alpha1().FederatedSecrets().Informer()
	if _, err := fsInf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(o any) { t.onFS(o, false) },
		UpdateFunc: func(_, o any) { t.onFS(o, false) },
		DeleteFunc: func(o any) { t.onFS(o, true) },
	}); err != nil {
		return nil, err
	}
	fcf := externalversions.NewSharedInformerFactory(b.SecretfedDirect, 0)
	fcInf := fcf.Secretfed().V1alpha1().FederatedClusters().Informer()
	if _, err := fcInf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    t.onFC,
		UpdateFunc: func(_, o any) { t.onFC(o) },
	}); err != nil {
		return nil, err
	}
	t.synced = append(t.synced, fsInf.HasSynced, fcInf.HasSynced)
	fsf.Start(ctx.Done())
	fcf.Start(ctx.Done())
	sctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if !cache.WaitForCacheSync(sctx.Done(), t.synced...) {
		return nil, fmt.Errorf("the bench's watches did not sync")
	}
	return t, nil
}

func (t *Tracker) memberHandler(member string) cache.ResourceEventHandler {
	return cache.ResourceEventHandlerFuncs{
		AddFunc: func(o any) {
			s, ok := o.(*corev1.Secret)
			if !ok {
				return
			}
			now := time.Now()
			t.mu.Lock()
			defer t.mu.Unlock()
			t.changes[member]++
			t.present[member][s.Namespace]++
			t.seen(member, s, now)
			t.checkCounts(now)
		},
		UpdateFunc: func(old, o any) {
			s, ok := o.(*corev1.Secret)
			prev, ok2 := old.(*corev1.Secret)
			if !ok || !ok2 || s.ResourceVersion == prev.ResourceVersion {
				return // a relist, not a change
			}
			now := time.Now()
			t.mu.Lock()
			defer t.mu.Unlock()
			t.changes[member]++
			t.seen(member, s, now)
		},
		DeleteFunc: func(o any) {
			if d, ok := o.(cache.DeletedFinalStateUnknown); ok {
				o = d.Obj
			}
			s, ok := o.(*corev1.Secret)
			if !ok {
				return
			}
			t.mu.Lock()
			defer t.mu.Unlock()
			t.changes[member]++
			t.present[member][s.Namespace]--
		},
	}
}

// seen is called with t.mu held.
func (t *Tracker) seen(member string, s *corev1.Secret, now time.Time) {
	key := s.Namespace + "/" + s.Name
	w := t.waits[key]
	if w == nil || !w.remaining[member] || string(s.Data[valueKey]) != w.Want {
		return
	}
	delete(w.remaining, member)
	w.At[member] = now
	if len(w.remaining) == 0 {
		delete(t.waits, key)
		close(w.done)
	}
}

func (t *Tracker) checkCounts(now time.Time) {
	open := t.counts[:0]
	for _, cw := range t.counts {
		ok := true
		for _, m := range cw.Members {
			ok = ok && t.present[m][cw.Namespace] >= cw.Target
		}
		if ok {
			cw.At = now
			close(cw.done)
			continue
		}
		open = append(open, cw)
	}
	t.counts = open
}

func (t *Tracker) onFS(o any, deleted bool) {
	if d, ok := o.(cache.DeletedFinalStateUnknown); ok {
		o = d.Obj
	}
	fs, ok := o.(*v1alpha1.FederatedSecret)
	if !ok {
		return
	}
	now := time.Now()
	inSync := false
	if !deleted && fs.DeletionTimestamp == nil && fs.Status.ObservedGeneration == fs.Generation {
		c := meta.FindStatusCondition(fs.Status.Conditions, v1alpha1.ConditionPropagated)
		inSync = c != nil && c.Status == metav1.ConditionTrue && c.Reason == v1alpha1.ReasonAllClustersPropagated
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	set := t.fsSync[fs.Namespace]
	if set == nil {
		set = map[string]bool{}
		t.fsSync[fs.Namespace] = set
	}
	if inSync {
		set[fs.Name] = true
	} else {
		delete(set, fs.Name)
	}
	open := t.fsWaits[:0]
	for _, cw := range t.fsWaits {
		if len(t.fsSync[cw.Namespace]) >= cw.Target {
			cw.At = now
			close(cw.done)
			continue
		}
		open = append(open, cw)
	}
	t.fsWaits = open
}

func (t *Tracker) onFC(o any) {
	fc, ok := o.(*v1alpha1.FederatedCluster)
	if !ok {
		return
	}
	c := meta.FindStatusCondition(fc.Status.Conditions, v1alpha1.ConditionReady)
	t.mu.Lock()
	t.fcReady[fc.Name] = c == nil || c.Status != metav1.ConditionFalse
	t.mu.Unlock()
}

// Expect registers a wait for key (ns/name) holding want in members. Call it
// before the write.
func (t *Tracker) Expect(key, want string, members []string) *Wait {
	w := &Wait{Key: key, Want: want, remaining: map[string]bool{}, At: map[string]time.Time{}, done: make(chan struct{})}
	for _, m := range members {
		w.remaining[m] = true
	}
	t.mu.Lock()
	t.waits[key] = w
	t.mu.Unlock()
	return w
}

// Await waits for w until timeout; on timeout it says which members lack it.
func (t *Tracker) Await(w *Wait, timeout time.Duration) error {
	select {
	case <-w.done:
		return nil
	case <-time.After(timeout):
		t.mu.Lock()
		defer t.mu.Unlock()
		delete(t.waits, w.Key)
		var missing []string
		for m := range w.remaining {
			missing = append(missing, m)
		}
		return fmt.Errorf("%s=%q not seen in %v within %s", w.Key, w.Want, missing, timeout)
	}
}

// ExpectCount registers a wait for every member holding target Secrets in ns.
func (t *Tracker) ExpectCount(ns string, target int, members []string) *CountWait {
	cw := &CountWait{Namespace: ns, Target: target, Members: members, done: make(chan struct{})}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.counts = append(t.counts, cw)
	t.checkCounts(time.Now())
	return cw
}

// ExpectInSync registers a wait for target FederatedSecrets of ns reporting
// Propagated=True/AllClustersPropagated for their current generation.
func (t *Tracker) ExpectInSync(ns string, target int) *CountWait {
	cw := &CountWait{Namespace: ns, Target: target, done: make(chan struct{})}
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.fsSync[ns]) >= target {
		cw.At = time.Now()
		close(cw.done)
		return cw
	}
	t.fsWaits = append(t.fsWaits, cw)
	return cw
}

// AwaitCount waits for cw until timeout, reporting progress on timeout.
func (t *Tracker) AwaitCount(ctx context.Context, cw *CountWait, timeout time.Duration) error {
	select {
	case <-cw.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(timeout):
		t.mu.Lock()
		defer t.mu.Unlock()
		if cw.Members == nil {
			return fmt.Errorf("%d/%d FederatedSecrets of %s in sync after %s", len(t.fsSync[cw.Namespace]), cw.Target, cw.Namespace, timeout)
		}
		have := map[string]int{}
		for _, m := range cw.Members {
			have[m] = t.present[m][cw.Namespace]
		}
		return fmt.Errorf("Secrets in %s after %s: %v, want %d each", cw.Namespace, timeout, have, cw.Target)
	}
}

// Present is how many bench Secrets member holds in ns.
func (t *Tracker) Present(member, ns string) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.present[member][ns]
}

// InSync is how many FederatedSecrets of ns are in sync.
func (t *Tracker) InSync(ns string) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.fsSync[ns])
}

// Changes is how many changes of bench Secrets each member's watch has seen.
func (t *Tracker) Changes() map[string]int {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := map[string]int{}
	for m, n := range t.changes {
		out[m] = n
	}
	return out
}

// Ready reports the FederatedCluster's Ready condition as last watched.
func (t *Tracker) Ready(cluster string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	r, ok := t.fcReady[cluster]
	return !ok || r
}
