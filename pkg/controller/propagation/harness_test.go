package propagation

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	kubefake "k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/rest"
	clienttesting "k8s.io/client-go/testing"

	"github.com/secretfed/secretfed/pkg/apis/secretfed/v1alpha1"
	sffake "github.com/secretfed/secretfed/pkg/generated/clientset/versioned/fake"
	"github.com/secretfed/secretfed/pkg/generated/informers/externalversions"
	"github.com/secretfed/secretfed/pkg/member"
)

// The secret value used throughout: no status, event or log may contain it.
const secretValue = "hunter2-very-secret"

// recorder captures events; it stands in for the host cluster's recorder.
type recorder struct {
	mu     sync.Mutex
	events []string
}

func (r *recorder) Event(obj runtime.Object, eventtype, reason, message string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	m, _ := meta.Accessor(obj)
	r.events = append(r.events, fmt.Sprintf("%s %s %s: %s", m.GetName(), eventtype, reason, message))
}

func (r *recorder) Eventf(obj runtime.Object, eventtype, reason, messageFmt string, args ...any) {
	r.Event(obj, eventtype, reason, fmt.Sprintf(messageFmt, args...))
}

func (r *recorder) AnnotatedEventf(obj runtime.Object, _ map[string]string, eventtype, reason, messageFmt string, args ...any) {
	r.Eventf(obj, eventtype, reason, messageFmt, args...)
}

func (r *recorder) all() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.events...)
}

// harness runs a Controller against a fake secretfed API and fake members.
type harness struct {
	t        *testing.T
	ctx      context.Context
	sf       *sffake.Clientset
	members  map[string]*kubefake.Clientset
	ctrl     *Controller
	recorder *recorder
}

type setup struct {
	objects []runtime.Object            // secretfed objects
	members map[string][]runtime.Object // member name -> initial member objects
	// configure runs before the controller starts, e.g. to add reactors.
	configure func(h *harness)
}

func start(t *testing.T, s setup) *harness {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	h := &harness{
		t:   t,
		ctx: ctx,
		// NewSimpleClientset: the field-managed tracker of NewClientset
		// needs type information the generated apply configurations lack.
		sf:       sffake.NewSimpleClientset(withResourceVersions(s.objects)...),
		members:  map[string]*kubefake.Clientset{},
		recorder: &recorder{},
	}
	apiServerSemantics(h.sf)
	for name, objs := range s.members {
		h.members[name] = kubefake.NewClientset(objs...)
	}
	if s.configure != nil {
		s.configure(h)
	}
	factory := externalversions.NewSharedInformerFactory(h.sf, 0)
	members := member.NewCache(ctx, factory.Secretfed().V1alpha1().FederatedSecrets().Lister(), member.Options{
		NewClient: func(cluster string, _ *rest.Config) (kubernetes.Interface, error) {
			c, ok := h.members[cluster]
			if !ok {
				return nil, fmt.Errorf("no fake for %s", cluster)
			}
			return c, nil
		},
	})
	h.ctrl = New(Config{
		Client:         h.sf,
		Informers:      factory,
		Members:        members,
		Recorder:       h.recorder,
		Workers:        2,
		MemberWorkers:  2,
		RequestTimeout: 2 * time.Second,
		RetryBaseDelay: 10 * time.Millisecond,
		RetryMaxDelay:  200 * time.Millisecond,
	})
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := h.ctrl.Run(ctx); err != nil {
			t.Errorf("Run() = %v", err)
		}
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Errorf("controller did not stop")
		}
		for _, e := range h.recorder.all() {
			if strings.Contains(e, secretValue) {
				t.Errorf("event leaks a secret value: %s", e)
			}
		}
	})
	return h
}

// Objects.

func readyCluster(name string, labels map[string]string) *v1alpha1.FederatedCluster {
	return &v1alpha1.FederatedCluster{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels, Finalizers: []string{v1alpha1.ClusterFinalizer}},
		Spec: v1alpha1.FederatedClusterSpec{
			APIEndpoint: "https://" + name + ".example:6443",
			SecretRef:   v1alpha1.LocalSecretReference{Name: name + "-credentials"},
		},
		Status: v1alpha1.FederatedClusterStatus{Conditions: []metav1.Condition{{
			Type: v1alpha1.ConditionReady, Status: metav1.ConditionTrue, Reason: v1alpha1.ReasonClusterReady,
		}}},
	}
}

func credentialsFor(cluster string) *v1alpha1.FederatedSecret {
	return &v1alpha1.FederatedSecret{
		ObjectMeta: metav1.ObjectMeta{Namespace: v1alpha1.SystemNamespace, Name: cluster + "-credentials", Generation: 1},
		Spec: v1alpha1.FederatedSecretSpec{Template: v1alpha1.SecretTemplate{
			Type: "Opaque",
			Data: map[string][]byte{v1alpha1.CredentialsTokenKey: []byte("token-" + cluster)},
		}},
	}
}

// clusters returns ready clusters with their credentials.
func clusters(names ...string) []runtime.Object {
	var out []runtime.Object
	for _, n := range names {
		out = append(out, readyCluster(n, map[string]string{"name": n}), credentialsFor(n))
	}
	return out
}

func federatedSecret(placement v1alpha1.Placement) *v1alpha1.FederatedSecret {
	return &v1alpha1.FederatedSecret{
		ObjectMeta: metav1.ObjectMeta{Namespace: "payments", Name: "db-creds", Generation: 1},
		Spec: v1alpha1.FederatedSecretSpec{
			Template: v1alpha1.SecretTemplate{
				Metadata: v1alpha1.TemplateMetadata{Labels: map[string]string{"app": "payments"}},
				Type:     "Opaque",
				Data:     map[string][]byte{"password": []byte(secretValue)},
			},
			Placement: placement,
		},
	}
}

func onClusters(names ...string) v1alpha1.Placement {
	p := v1alpha1.Placement{Clusters: []v1alpha1.ClusterReference{}}
	for _, n := range names {
		p.Clusters = append(p.Clusters, v1alpha1.ClusterReference{Name: n})
	}
	return p
}

func memberSecret(ns, name string, managed bool, data string) *corev1.Secret {
	s := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{"app": "payments"}},
		Type:       corev1.SecretTypeOpaque,
		Data:       map[string][]byte{"password": []byte(data)},
	}
	if managed {
		s.Labels[v1alpha1.ManagedLabel] = "true"
	}
	return s
}

func namespace(name string) *corev1.Namespace {
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
}

// Observation.

func (h *harness) eventually(what string, cond func() bool) {
	h.t.Helper()
	err := wait.PollUntilContextTimeout(h.ctx, 10*time.Millisecond, 15*time.Second, true, func(context.Context) (bool, error) {
		return cond(), nil
	})
	if err != nil {
		h.t.Fatalf("timed out waiting until %s\n%s", what, h.dump())
	}
}

// dump describes the controller's state for a failure message.
func (h *harness) dump() string {
	var b strings.Builder
	c := h.ctrl
	c.mu.Lock()
	for pk, in := range c.intents {
		out, ok := c.results[pk]
		fmt.Fprintf(&b, "intent %s@%s action=%d deleting=%v current=%v outcome=%+v\n", pk.fsKey, pk.cluster, in.action, in.deleting, ok && out.intent == in,
			struct {
				Removed bool
				Status  string
				Message string
			}{out.removed, string(out.status), out.message})
	}
	c.mu.Unlock()
	list, _ := h.sf.Tracker().List(v1alpha1.SchemeGroupVersion.WithResource("federatedsecrets"), v1alpha1.SchemeGroupVersion.WithKind("FederatedSecret"), "payments")
	items, _ := meta.ExtractList(list)
	for _, o := range items {
		fs := o.(*v1alpha1.FederatedSecret)
		fmt.Fprintf(&b, "fs %s gen=%d finalizers=%v status=%+v\n", fs.Name, fs.Generation, fs.Finalizers, fs.Status)
	}
	for cl, m := range h.members {
		fmt.Fprintf(&b, "member %s writes=%v\n", cl, h.writes(cl))
		_ = m
	}
	return b.String()
}

func (h *harness) fs(ns, name string) *v1alpha1.FederatedSecret {
	h.t.Helper()
	obj, err := h.sf.Tracker().Get(v1alpha1.SchemeGroupVersion.WithResource("federatedsecrets"), ns, name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		h.t.Fatal(err)
	}
	return obj.(*v1alpha1.FederatedSecret)
}

func (h *harness) fc(name string) *v1alpha1.FederatedCluster {
	h.t.Helper()
	obj, err := h.sf.Tracker().Get(v1alpha1.SchemeGroupVersion.WithResource("federatedclusters"), "", name)
	if err != nil {
		h.t.Fatal(err)
	}
	return obj.(*v1alpha1.FederatedCluster)
}

func (h *harness) secret(cluster, ns, name string) *corev1.Secret {
	h.t.Helper()
	obj, err := h.members[cluster].Tracker().Get(corev1.SchemeGroupVersion.WithResource("secrets"), ns, name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		h.t.Fatal(err)
	}
	return obj.(*corev1.Secret)
}

func (h *harness) clusterStatus(ns, name string) map[string]v1alpha1.ClusterPropagationStatus {
	out := map[string]v1alpha1.ClusterPropagationStatus{}
	if fs := h.fs(ns, name); fs != nil {
		for _, e := range fs.Status.Clusters {
			out[e.Name] = e
		}
	}
	return out
}

func (h *harness) condition(ns, name string) *metav1.Condition {
	fs := h.fs(ns, name)
	if fs == nil {
		return nil
	}
	return meta.FindStatusCondition(fs.Status.Conditions, v1alpha1.ConditionPropagated)
}

// propagatedTo waits for the Propagated condition to be True and every named
// cluster to report Propagated.
func (h *harness) propagatedTo(ns, name string, clusters ...string) {
	h.t.Helper()
	h.eventually(fmt.Sprintf("%s/%s is propagated to %v", ns, name, clusters), func() bool {
		st := h.clusterStatus(ns, name)
		if len(st) != len(clusters) {
			return false
		}
		for _, c := range clusters {
			if st[c].Status != v1alpha1.StatusPropagated {
				return false
			}
		}
		cond := h.condition(ns, name)
		return cond != nil && cond.Status == metav1.ConditionTrue && cond.Reason == v1alpha1.ReasonAllClustersPropagated
	})
}

// writes lists the non-read actions a member received.
func (h *harness) writes(cluster string) []string {
	var out []string
	for _, a := range h.members[cluster].Actions() {
		switch a.GetVerb() {
		case "get", "list", "watch":
			continue
		}
		out = append(out, describeAction(a))
	}
	return out
}

func describeAction(a clienttesting.Action) string {
	s := a.GetVerb() + " " + a.GetResource().Resource
	if a.GetSubresource() != "" {
		s += "/" + a.GetSubresource()
	}
	switch a := a.(type) {
	case clienttesting.CreateAction:
		if m, err := meta.Accessor(a.GetObject()); err == nil {
			s += " " + m.GetNamespace() + "/" + m.GetName()
		}
	case clienttesting.UpdateAction:
		if m, err := meta.Accessor(a.GetObject()); err == nil {
			s += " " + m.GetNamespace() + "/" + m.GetName()
		}
	case clienttesting.DeleteAction:
		s += " " + a.GetNamespace() + "/" + a.GetName()
	}
	return s
}

// statusWrites counts status updates sent to the secretfed API.
func (h *harness) statusWrites() int {
	n := 0
	for _, a := range h.sf.Actions() {
		if a.GetVerb() == "update" && a.GetSubresource() == "status" {
			n++
		}
	}
	return n
}

// quiesce waits until the controller has nothing left to do: queues empty
// and every pair's outcome current.
func (h *harness) quiesce() {
	h.t.Helper()
	stable := 0
	h.eventually("the controller is idle", func() bool {
		if h.idle() {
			stable++
		} else {
			stable = 0
		}
		// Idle for several consecutive polls: events in flight have landed.
		return stable >= 10
	})
}

func (h *harness) idle() bool {
	c := h.ctrl
	if c.queue.Len() != 0 || c.clusterQueue.Len() != 0 {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, w := range c.workers {
		if w.queue.Len() != 0 {
			return false
		}
	}
	for pk, in := range c.intents {
		if out, ok := c.results[pk]; !ok || out.intent != in {
			return false
		}
	}
	return true
}

// update applies mutate to the stored FederatedSecret, bumping its
// generation when the spec changes (the fake does not).
func (h *harness) updateFS(ns, name string, mutate func(fs *v1alpha1.FederatedSecret)) {
	h.t.Helper()
	fs := h.fs(ns, name).DeepCopy()
	before := fs.Spec.DeepCopy()
	mutate(fs)
	if !equalSpec(before, &fs.Spec) {
		fs.Generation++
	}
	if _, err := h.sf.SecretfedV1alpha1().FederatedSecrets(ns).Update(h.ctx, fs, metav1.UpdateOptions{}); err != nil {
		h.t.Fatal(err)
	}
}

func equalSpec(a, b *v1alpha1.FederatedSecretSpec) bool {
	return equality.Semantic.DeepEqual(a, b)
}

func (h *harness) updateFC(name string, mutate func(fc *v1alpha1.FederatedCluster)) {
	h.t.Helper()
	fc := h.fc(name).DeepCopy()
	mutate(fc)
	if _, err := h.sf.SecretfedV1alpha1().FederatedClusters().Update(h.ctx, fc, metav1.UpdateOptions{}); err != nil {
		h.t.Fatal(err)
	}
}

func (h *harness) updateFCStatus(name string, mutate func(fc *v1alpha1.FederatedCluster)) {
	h.t.Helper()
	fc := h.fc(name).DeepCopy()
	mutate(fc)
	if _, err := h.sf.SecretfedV1alpha1().FederatedClusters().UpdateStatus(h.ctx, fc, metav1.UpdateOptions{}); err != nil {
		h.t.Fatal(err)
	}
}

func kindFor(resource string) string {
	return map[string]string{"federatedsecrets": "FederatedSecret", "federatedclusters": "FederatedCluster"}[resource]
}

func extractList(list runtime.Object) ([]runtime.Object, error) {
	return meta.ExtractList(list)
}

// The fake tracker stores whatever it is given. The controller relies on
// two API server behaviours the tests must therefore provide: optimistic
// concurrency (a write with a stale resourceVersion is a Conflict) and the
// status subresource (status writes change only status, other writes never
// change status).

var rvCounter struct {
	sync.Mutex
	n int
}

func nextRV() string {
	rvCounter.Lock()
	defer rvCounter.Unlock()
	rvCounter.n++
	return fmt.Sprint(rvCounter.n)
}

func withResourceVersions(objs []runtime.Object) []runtime.Object {
	out := make([]runtime.Object, 0, len(objs))
	for _, o := range objs {
		o = o.DeepCopyObject()
		if m, err := meta.Accessor(o); err == nil && m.GetResourceVersion() == "" {
			m.SetResourceVersion(nextRV())
		}
		out = append(out, o)
	}
	return out
}

func apiServerSemantics(cs *sffake.Clientset) {
	var mu sync.Mutex
	tracker := cs.Tracker()
	for _, resource := range []string{"federatedsecrets", "federatedclusters"} {
		cs.PrependReactor("create", resource, func(a clienttesting.Action) (bool, runtime.Object, error) {
			obj := a.(clienttesting.CreateAction).GetObject()
			if m, err := meta.Accessor(obj); err == nil {
				m.SetResourceVersion(nextRV())
			}
			return false, nil, nil
		})
		cs.PrependReactor("update", resource, func(a clienttesting.Action) (bool, runtime.Object, error) {
			mu.Lock()
			defer mu.Unlock()
			ua := a.(clienttesting.UpdateAction)
			obj := ua.GetObject().DeepCopyObject()
			m, _ := meta.Accessor(obj)
			stored, err := tracker.Get(a.GetResource(), a.GetNamespace(), m.GetName())
			if err != nil {
				return true, nil, err
			}
			sm, _ := meta.Accessor(stored)
			if m.GetResourceVersion() != "" && m.GetResourceVersion() != sm.GetResourceVersion() {
				return true, nil, apierrors.NewConflict(a.GetResource().GroupResource(), m.GetName(), errors.New("stale resourceVersion"))
			}
			var result runtime.Object
			switch in := obj.(type) {
			case *v1alpha1.FederatedSecret:
				cur := stored.(*v1alpha1.FederatedSecret).DeepCopy()
				if a.GetSubresource() == "status" {
					cur.Status = in.Status
				} else {
					in.Status = cur.Status
					cur = in
				}
				result = cur
			case *v1alpha1.FederatedCluster:
				cur := stored.(*v1alpha1.FederatedCluster).DeepCopy()
				if a.GetSubresource() == "status" {
					cur.Status = in.Status
				} else {
					in.Status = cur.Status
					cur = in
				}
				result = cur
			}
			rm, _ := meta.Accessor(result)
			rm.SetResourceVersion(nextRV())
			if err := tracker.Update(a.GetResource(), result, a.GetNamespace()); err != nil {
				return true, nil, err
			}
			return true, result.DeepCopyObject(), nil
		})
	}
}
