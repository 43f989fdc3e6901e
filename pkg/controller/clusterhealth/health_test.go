package clusterhealth

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	authenticationv1 "k8s.io/api/authentication/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes/scheme"

	"github.com/secretfed/secretfed/pkg/apis/secretfed/v1alpha1"
	sffake "github.com/secretfed/secretfed/pkg/generated/clientset/versioned/fake"
	"github.com/secretfed/secretfed/pkg/generated/informers/externalversions"
	"github.com/secretfed/secretfed/pkg/member"
)

// fakeMember is a member API server: /readyz, /version and TokenRequest for
// the ServiceAccount secretfed-m1, behind TLS and bearer-token auth.
type fakeMember struct {
	mu       sync.Mutex
	readyz   int // status code to answer; 0 hangs until the client gives up
	valid    map[string]bool
	requests []int64 // expirationSeconds of each TokenRequest
	authUsed []string
	srv      *httptest.Server
	stop     chan struct{}
}

func newFakeMember(t *testing.T, token string) *fakeMember {
	f := &fakeMember{readyz: http.StatusOK, valid: map[string]bool{token: true}}
	f.stop = make(chan struct{})
	f.srv = httptest.NewTLSServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	t.Cleanup(func() { close(f.stop) }) // runs first: releases hung requests
	return f
}

func (f *fakeMember) caBundle() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: f.srv.Certificate().Raw})
}

func (f *fakeMember) set(fn func(f *fakeMember)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

func (f *fakeMember) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	token := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	ok := f.valid[token]
	readyz := f.readyz
	f.mu.Unlock()
	if !ok {
		http.Error(w, `{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"Unauthorized","code":401}`, http.StatusUnauthorized)
		return
	}
	switch {
	case r.URL.Path == "/readyz":
		if readyz == 0 {
			// Hang like a dead member: never answer while the test runs.
			<-f.stop
			return
		}
		w.WriteHeader(readyz)
		_, _ = w.Write([]byte("ok"))
	case r.URL.Path == "/version":
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"major":"1","minor":"37","gitVersion":"v1.37.2"}`))
	case r.Method == http.MethodPost && r.URL.Path == "/api/v1/namespaces/secretfed-system/serviceaccounts/secretfed-m1/token":
		// client-go may send protobuf: decode as the API server would.
		body, _ := io.ReadAll(r.Body)
		obj, _, err := scheme.Codecs.UniversalDeserializer().Decode(body, nil, nil)
		tr, ok := obj.(*authenticationv1.TokenRequest)
		if err != nil || !ok || tr.Spec.ExpirationSeconds == nil {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		now := time.Now()
		exp := now.Add(time.Duration(*tr.Spec.ExpirationSeconds) * time.Second)
		newToken := jwt(now, exp)
		f.mu.Lock()
		f.requests = append(f.requests, *tr.Spec.ExpirationSeconds)
		f.authUsed = append(f.authUsed, token)
		f.valid[newToken] = true
		f.mu.Unlock()
		tr.APIVersion, tr.Kind = "authentication.k8s.io/v1", "TokenRequest"
		tr.Status = authenticationv1.TokenRequestStatus{Token: newToken, ExpirationTimestamp: metav1.NewTime(exp)}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		_ = json.NewEncoder(w).Encode(tr)
	default:
		http.NotFound(w, r)
	}
}

// jwt returns an unsigned JWT with iat and exp: enough for the age check.
func jwt(iat, exp time.Time) string {
	enc := func(v any) string {
		b, _ := json.Marshal(v)
		return base64.RawURLEncoding.EncodeToString(b)
	}
	return enc(map[string]string{"alg": "RS256"}) + "." + enc(map[string]int64{"iat": iat.Unix(), "exp": exp.Unix()}) + ".c2ln"
}

type recorder struct {
	mu     sync.Mutex
	events []string
}

func (r *recorder) Event(obj runtime.Object, eventtype, reason, message string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, eventtype+" "+reason+": "+message)
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

type harness struct {
	t        *testing.T
	ctx      context.Context
	sf       *sffake.Clientset
	ctrl     *Controller
	recorder *recorder
}

func cluster(endpoint string, ca []byte) *v1alpha1.FederatedCluster {
	return &v1alpha1.FederatedCluster{
		ObjectMeta: metav1.ObjectMeta{Name: "m1", Generation: 1},
		Spec: v1alpha1.FederatedClusterSpec{
			APIEndpoint: endpoint,
			CABundle:    ca,
			SecretRef:   v1alpha1.LocalSecretReference{Name: "m1-credentials"},
		},
	}
}

func credentials(token string, annotations map[string]string) *v1alpha1.FederatedSecret {
	return &v1alpha1.FederatedSecret{
		ObjectMeta: metav1.ObjectMeta{Namespace: v1alpha1.SystemNamespace, Name: "m1-credentials", Annotations: annotations},
		Spec: v1alpha1.FederatedSecretSpec{Template: v1alpha1.SecretTemplate{
			Type: "Opaque",
			Data: map[string][]byte{v1alpha1.CredentialsTokenKey: []byte(token)},
		}},
	}
}

func start(t *testing.T, cfg Config, objects ...runtime.Object) *harness {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	h := &harness{t: t, ctx: ctx, sf: sffake.NewSimpleClientset(objects...), recorder: &recorder{}}
	factory := externalversions.NewSharedInformerFactory(h.sf, 0)
	cfg.Client = h.sf
	cfg.Informers = factory
	cfg.Recorder = h.recorder
	cfg.Members = member.NewCache(ctx, factory.Secretfed().V1alpha1().FederatedSecrets().Lister(), member.Options{
		QPS: 100, Burst: 100, RequestTimeout: 5 * time.Second,
	})
	if cfg.Timeout == 0 {
		cfg.Timeout = 500 * time.Millisecond
	}
	h.ctrl = New(cfg)
	factory.Start(ctx.Done())
	factory.WaitForCacheSync(ctx.Done())
	return h
}

func (h *harness) stored() *v1alpha1.FederatedCluster {
	h.t.Helper()
	obj, err := h.sf.Tracker().Get(v1alpha1.SchemeGroupVersion.WithResource("federatedclusters"), "", "m1")
	if err != nil {
		h.t.Fatal(err)
	}
	return obj.(*v1alpha1.FederatedCluster)
}

// probe runs one round and waits until the lister has seen its write, as
// the next period would.
func (h *harness) probe() {
	h.t.Helper()
	h.ctrl.probeAll(h.ctx)
	h.waitForLister()
}

func (h *harness) waitForLister() {
	h.t.Helper()
	err := wait.PollUntilContextTimeout(h.ctx, 5*time.Millisecond, 10*time.Second, true, func(context.Context) (bool, error) {
		cached, err := h.ctrl.fcLister.Get("m1")
		return err == nil && equality.Semantic.DeepEqual(cached.Status, h.stored().Status), nil
	})
	if err != nil {
		h.t.Fatalf("lister never caught up")
	}
}

func (h *harness) ready() *metav1.Condition {
	return meta.FindStatusCondition(h.stored().Status.Conditions, v1alpha1.ConditionReady)
}

func (h *harness) statusWrites() int {
	n := 0
	for _, a := range h.sf.Actions() {
		if a.GetVerb() == "update" && a.GetSubresource() == "status" {
			n++
		}
	}
	return n
}

func (h *harness) expectReady(status metav1.ConditionStatus, reason string) {
	h.t.Helper()
	c := h.ready()
	if c == nil || c.Status != status || c.Reason != reason {
		h.t.Fatalf("Ready = %+v, want %s/%s", c, status, reason)
	}
}

func TestReadyAfterOneSuccessAndStatusWrittenOnce(t *testing.T) {
	m := newFakeMember(t, "tok")
	h := start(t, Config{}, cluster(m.srv.URL, m.caBundle()), credentials("tok", nil))
	h.probe()
	h.expectReady(metav1.ConditionTrue, v1alpha1.ReasonClusterReady)
	if v := h.stored().Status.KubernetesVersion; v != "v1.37.2" {
		t.Errorf("kubernetesVersion = %q", v)
	}
	for i := 0; i < 3; i++ {
		h.probe()
	}
	if n := h.statusWrites(); n != 1 {
		t.Errorf("status written %d times, want 1", n)
	}
}

func TestNotReadyAfterThresholdAndReadyAfterOneSuccess(t *testing.T) {
	tests := []struct {
		name    string
		breakIt func(m *fakeMember)
		reason  string
		message string
	}{
		{
			name:    "readyz not ok",
			breakIt: func(m *fakeMember) { m.set(func(f *fakeMember) { f.readyz = http.StatusInternalServerError }) },
			reason:  v1alpha1.ReasonClusterNotReady,
			message: "/readyz answered 500",
		},
		{
			name:    "token rejected",
			breakIt: func(m *fakeMember) { m.set(func(f *fakeMember) { f.valid = map[string]bool{} }) },
			reason:  v1alpha1.ReasonUnauthorized,
			message: "/readyz answered 401: the token is not accepted",
		},
		{
			name:    "member hangs",
			breakIt: func(m *fakeMember) { m.set(func(f *fakeMember) { f.readyz = 0 }) },
			reason:  v1alpha1.ReasonClusterNotReachable,
			message: "/readyz did not answer in time",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := newFakeMember(t, "tok-3f9a")
			h := start(t, Config{Timeout: 300 * time.Millisecond}, cluster(m.srv.URL, m.caBundle()), credentials("tok-3f9a", nil))
			h.probe()
			h.expectReady(metav1.ConditionTrue, v1alpha1.ReasonClusterReady)

			tc.breakIt(m)
			h.probe()
			h.probe()
			h.expectReady(metav1.ConditionTrue, v1alpha1.ReasonClusterReady)
			h.probe()
			h.expectReady(metav1.ConditionFalse, tc.reason)
			if got := h.ready().Message; got != tc.message {
				t.Errorf("message = %q, want %q", got, tc.message)
			}
			writes, before := h.statusWrites(), h.stored().Status
			h.probe()
			h.probe()
			if h.statusWrites() != writes {
				t.Errorf("status rewritten while the failure persists: %s", cmp.Diff(before, h.stored().Status))
			}

			m.set(func(f *fakeMember) { f.readyz = http.StatusOK; f.valid = map[string]bool{"tok-3f9a": true} })
			h.probe()
			h.expectReady(metav1.ConditionTrue, v1alpha1.ReasonClusterReady)
			for _, e := range h.recorder.all() {
				if strings.Contains(e, "tok-3f9a") {
					t.Errorf("event mentions the token: %s", e)
				}
			}
		})
	}
}

func TestUnreachable(t *testing.T) {
	m := newFakeMember(t, "tok")
	ca := m.caBundle()
	url := m.srv.URL
	m.srv.Close()
	h := start(t, Config{FailureThreshold: 1}, cluster(url, ca), credentials("tok", nil))
	h.probe()
	h.expectReady(metav1.ConditionFalse, v1alpha1.ReasonClusterNotReachable)
}

func TestConfigMalformedIsImmediate(t *testing.T) {
	m := newFakeMember(t, "tok")
	h := start(t, Config{}, cluster(m.srv.URL, m.caBundle())) // no credentials
	h.probe()
	h.expectReady(metav1.ConditionFalse, v1alpha1.ReasonConfigMalformed)
	if got := h.ready().Message; got != "credentials FederatedSecret secretfed-system/m1-credentials not found" {
		t.Errorf("message = %q", got)
	}
}

func TestTokenRenewal(t *testing.T) {
	now := time.Now()
	tests := []struct {
		name      string
		issued    time.Time
		lifetime  time.Duration
		fraction  float64
		wantRenew bool
	}{
		{name: "fresh token is kept", issued: now.Add(-time.Minute), lifetime: time.Hour, fraction: 0.8},
		{name: "token at 90% is renewed", issued: now.Add(-54 * time.Minute), lifetime: time.Hour, fraction: 0.8, wantRenew: true},
		{name: "a small fraction forces early renewal", issued: now.Add(-time.Minute), lifetime: time.Hour, fraction: 0.01, wantRenew: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			old := jwt(tc.issued, tc.issued.Add(tc.lifetime))
			m := newFakeMember(t, old)
			expiry := tc.issued.Add(tc.lifetime).UTC().Format(time.RFC3339)
			h := start(t, Config{TokenRenewFraction: tc.fraction}, cluster(m.srv.URL, m.caBundle()), credentials(old, map[string]string{
				ServiceAccountAnnotation: "secretfed-system/secretfed-m1",
				TokenExpiryAnnotation:    expiry,
			}))
			h.ctrl.renewTokens(h.ctx)

			obj, err := h.sf.Tracker().Get(v1alpha1.SchemeGroupVersion.WithResource("federatedsecrets"), v1alpha1.SystemNamespace, "m1-credentials")
			if err != nil {
				t.Fatal(err)
			}
			creds := obj.(*v1alpha1.FederatedSecret)
			newToken := string(creds.Spec.Template.Data[v1alpha1.CredentialsTokenKey])
			m.mu.Lock()
			requests, authUsed := append([]int64(nil), m.requests...), append([]string(nil), m.authUsed...)
			m.mu.Unlock()
			if !tc.wantRenew {
				if len(requests) != 0 || newToken != old {
					t.Fatalf("token renewed although not due")
				}
				return
			}
			if len(requests) != 1 || requests[0] != int64(tc.lifetime/time.Second) {
				t.Fatalf("TokenRequests = %v, want one for %d seconds", requests, int64(tc.lifetime/time.Second))
			}
			if authUsed[0] != old {
				t.Errorf("TokenRequest not made with the current token")
			}
			if newToken == old || newToken == "" {
				t.Fatalf("credentials FederatedSecret not updated")
			}
			newExpiry, err := time.Parse(time.RFC3339, creds.Annotations[TokenExpiryAnnotation])
			if err != nil || newExpiry.Before(now.Add(tc.lifetime-time.Minute)) {
				t.Errorf("expiry annotation = %q", creds.Annotations[TokenExpiryAnnotation])
			}
			for _, e := range h.recorder.all() {
				if strings.Contains(e, old) || strings.Contains(e, newToken) {
					t.Errorf("event leaks a token: %s", e)
				}
			}
			if len(h.recorder.all()) == 0 || !strings.HasPrefix(h.recorder.all()[0], "Normal TokenRenewed") {
				t.Errorf("events = %v, want TokenRenewed", h.recorder.all())
			}
		})
	}
}

func TestTokenRenewalFailureIsReported(t *testing.T) {
	issued := time.Now().Add(-2 * time.Hour)
	old := jwt(issued, issued.Add(time.Hour)) // expired an hour ago
	m := newFakeMember(t, "something-else")
	h := start(t, Config{}, cluster(m.srv.URL, m.caBundle()), credentials(old, map[string]string{
		TokenExpiryAnnotation: issued.Add(time.Hour).UTC().Format(time.RFC3339),
	}))
	h.ctrl.renewTokens(h.ctx)
	ev := h.recorder.all()
	if len(ev) != 1 || !strings.HasPrefix(ev[0], "Warning TokenRenewalFailed: the member token expired at") {
		t.Errorf("events = %v", ev)
	}
	if strings.Contains(strings.Join(ev, " "), old) {
		t.Errorf("event leaks the token")
	}
}

func TestIssuedAt(t *testing.T) {
	at := time.Unix(1_800_000_000, 0)
	if got, ok := issuedAt(jwt(at, at.Add(time.Hour))); !ok || !got.Equal(at) {
		t.Errorf("issuedAt(jwt) = %v, %v", got, ok)
	}
	for _, bad := range []string{"", "opaque-token", "a.b.c", "a." + base64.RawURLEncoding.EncodeToString([]byte(`{"exp":1}`)) + ".c"} {
		if _, ok := issuedAt(bad); ok {
			t.Errorf("issuedAt(%q) succeeded", bad)
		}
	}
}
