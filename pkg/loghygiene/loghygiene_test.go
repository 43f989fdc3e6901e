package loghygiene

import (
	"bytes"
	"context"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/klog/v2"
	"k8s.io/klog/v2/ktesting"
	"k8s.io/klog/v2/textlogger"
)

const value = "loghygiene-S3cret-Value"

// memberAPI answers every request with a Secret holding value, as a member
// kube-apiserver would.
func memberAPI(t *testing.T) *kubernetes.Clientset {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"kind":"Secret","apiVersion":"v1","metadata":{"name":"db","namespace":"ns"},"data":{"password":"` +
			base64.StdEncoding.EncodeToString([]byte(value)) + `"}}`))
	}))
	t.Cleanup(srv.Close)
	c, err := kubernetes.NewForConfig(&rest.Config{Host: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// createSecret writes a Secret holding value with the logger in ctx and
// returns what that logger captured.
func createSecret(t *testing.T, wrap func(context.Context) context.Context) string {
	logger, ctx := ktesting.NewTestContext(t)
	ctx = wrap(ctx)
	c := memberAPI(t)
	s := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: "ns"},
		StringData: map[string]string{"password": value},
	}
	if _, err := c.CoreV1().Secrets("ns").Create(ctx, s, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	klog.FromContext(ctx).V(8).Info("After the create", "secret", klog.KObj(s))
	return logger.GetSink().(ktesting.Underlier).GetBuffer().String()
}

func contains(log string) []string {
	var found []string
	for _, form := range []string{value, base64.StdEncoding.EncodeToString([]byte(value))} {
		if strings.Contains(log, form) {
			found = append(found, form)
		}
	}
	return found
}

func init() {
	// ktesting loggers log at this verbosity: client-go logs bodies at 8.
	ktesting.DefaultConfig = ktesting.NewConfig(ktesting.Verbosity(10), ktesting.BufferLogs(true))
}

// The premise: a client-go call at -v=8 logs the Secret it sends and
// receives. If this stops failing, client-go changed and the filter below
// may be testing nothing.
func TestClientGoLogsSecretBodiesAtV8WithoutTheFilter(t *testing.T) {
	log := createSecret(t, func(ctx context.Context) context.Context { return ctx })
	if len(contains(log)) == 0 {
		t.Fatalf("client-go no longer logs bodies under the messages this package drops; check %v against k8s.io/client-go/rest logBody:\n%s", droppedMessages, log)
	}
}

func TestRequestAndResponseBodiesNeverReachTheLogAtAnyVerbosity(t *testing.T) {
	log := createSecret(t, NewContext)
	if found := contains(log); len(found) > 0 {
		t.Errorf("the secret value appears in the log through the filter (%d forms)", len(found))
	}
	if !strings.Contains(log, "After the create") {
		t.Errorf("the filter dropped an unrelated V(8) message:\n%s", log)
	}
	if strings.Contains(log, "Request Body") || strings.Contains(log, "Response Body") {
		t.Errorf("a body message got through:\n%s", log)
	}
}

func TestFilterKeepsTheCallersFileAndLine(t *testing.T) {
	var buf bytes.Buffer
	logger := textlogger.NewLogger(textlogger.NewConfig(textlogger.Output(&buf), textlogger.Verbosity(10)))
	WithoutBodies(logger).Info("marker")
	WithoutBodies(logger).WithValues("k", "v").V(8).Info("marker")
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		if !strings.Contains(line, "loghygiene_test.go:") {
			t.Errorf("the log line does not name the caller's file: %s", line)
		}
	}
}

func TestDerivedLoggersKeepFiltering(t *testing.T) {
	logger, _ := ktesting.NewTestContext(t)
	l := WithoutBodies(logger).WithName("member").WithValues("cluster", "member1").V(8).WithCallDepth(2)
	l.Info("Request Body", "body", value)
	l.Info("kept")
	log := logger.GetSink().(ktesting.Underlier).GetBuffer().String()
	if strings.Contains(log, value) {
		t.Errorf("a derived logger lets bodies through:\n%s", log)
	}
	if !strings.Contains(log, "kept") {
		t.Errorf("a derived logger drops other messages:\n%s", log)
	}
}

func TestWrappingTwiceAddsNoSecondLayer(t *testing.T) {
	logger, _ := ktesting.NewTestContext(t)
	twice := WithoutBodies(WithoutBodies(logger)).GetSink().(*sink)
	if _, nested := twice.inner.(*sink); nested {
		t.Error("WithoutBodies wrapped an already filtered logger again (one more frame, wrong file:line)")
	}
}
