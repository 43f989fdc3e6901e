package e2e

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	certutil "k8s.io/client-go/util/cert"

	"github.com/secretfed/secretfed/pkg/apis/secretfed/v1alpha1"
	"github.com/secretfed/secretfed/test/e2e/framework"
)

// b64 is how a value sits in a Secret's data in JSON.
func b64(v string) string { return base64.StdEncoding.EncodeToString([]byte(v)) }

// hexDumpLine is a line of Go's hex.Dump, which client-go uses for
// protobuf bodies: its ASCII column spells the bytes, 16 at a time.
var hexDumpLine = regexp.MustCompile(`(?m)^[\t ]*[0-9a-f]{8}  [0-9a-f ]+\|(.{1,16})\|$`)

// hexDumpText joins the ASCII columns of every hex dump in a log, so that
// a value split over two dump lines is found too.
func hexDumpText(log string) string {
	var b strings.Builder
	for _, m := range hexDumpLine.FindAllStringSubmatch(log, -1) {
		b.WriteString(m[1])
	}
	return b.String()
}

// The server runs at -v=8 (the level from which client-go logs request and
// response bodies, truncated to 1 KiB) and at -v=10 (whole bodies) through a
// scenario that moves values in every direction: create (data and
// stringData), a per-cluster override, two failing overrides, rotation,
// drift corrected in a member, a clash with an unmanaged Secret, deletion.
// No value, nor a member's credential token, may appear in the server's
// log (as text, base64, or across a hex dump), in the host's events, in any
// status, or in `kubectl secretfed status`.
func TestFullScenarioAtV8AndV10LeavesNoValueInLogsEventsOrStatus(t *testing.T) {
	requireLocalBed(t, "restarts the secretfed process with -v=8 and -v=10")
	t.Cleanup(func() {
		if err := f.RestartSecretfed(); err != nil {
			t.Errorf("restarting secretfed at the suite's verbosity: %v", err)
		}
	})
	for _, v := range []int{8, 10} {
		t.Run(fmt.Sprintf("v=%d", v), func(t *testing.T) { scenarioLeavesNoValue(t, v) })
	}
}

func scenarioLeavesNoValue(t *testing.T, v int) {
	logsBefore, err := f.SecretfedLogs()
	if err != nil {
		t.Fatal(err)
	}
	if err := f.RestartSecretfed(fmt.Sprintf("-v=%d", v)); err != nil {
		t.Fatalf("restarting secretfed at -v=%d: %v", v, err)
	}
	for _, m := range f.MemberNames {
		waitReady(t, m, 2*time.Minute)
	}

	ns := createNamespace(t, fmt.Sprintf("e2e-hygiene-v%d", v))
	m1, m2 := f.MemberNames[0], f.MemberNames[1]
	values := map[string]string{
		"create":     fmt.Sprintf("hyg%d-Create-V4lue", v),
		"stringData": fmt.Sprintf("hyg%d-StringData-V4lue", v),
		"override":   fmt.Sprintf("hyg%d-Override-V4lue", v),
		"failing":    fmt.Sprintf("hyg%d-Failing-V4lue", v),
		"rotate":     fmt.Sprintf("hyg%d-Rotate-V4lue", v),
		"drift":      fmt.Sprintf("hyg%d-Drift-V4lue", v),
		"theirs":     fmt.Sprintf("hyg%d-Theirs-V4lue", v),
		"clash":      fmt.Sprintf("hyg%d-Clash-V4lue", v),
	}
	ctx := framework.Context(t, 5*time.Minute)
	fss := f.Secretfed.SecretfedV1alpha1().FederatedSecrets(ns)

	// Create with data, stringData and an override for member2.
	fs := placedFS(ns, "db", values["create"], all())
	fs.Spec.Template.StringData = map[string]string{"api-key": values["stringData"]}
	fs.Spec.Overrides = []v1alpha1.ClusterOverride{{ClusterName: m2, ClusterOverrides: []v1alpha1.OverridePatch{
		{Op: "replace", Path: "/data/password", Value: &v1alpha1.OverrideValue{Raw: []byte(fmt.Sprintf("%q", b64(values["override"])))}},
	}}}
	createFS(t, fs)
	waitForValue(t, m1, ns, "db", values["create"])
	waitForValue(t, m2, ns, "db", values["override"])

	// Overrides that cannot apply (replace of a missing key) or yield an
	// invalid Secret (a TLS type without its keys): the reason is reported, the value never.
	bad := placedFS(ns, "bad-override", values["create"], list(m1, m2))
	bad.Spec.Overrides = []v1alpha1.ClusterOverride{
		{ClusterName: m1, ClusterOverrides: []v1alpha1.OverridePatch{
			{Op: "replace", Path: "/data/no-such-key", Value: &v1alpha1.OverrideValue{Raw: []byte(fmt.Sprintf("%q", b64(values["failing"])))}},
		}},
		{ClusterName: m2, ClusterOverrides: []v1alpha1.OverridePatch{
			// A TLS Secret without tls.crt and tls.key is invalid.
			{Op: "add", Path: "/type", Value: &v1alpha1.OverrideValue{Raw: []byte(`"kubernetes.io/tls"`)}},
		}},
	}
	createFS(t, bad)
	waitForClusterStatus(t, ns, "bad-override", m1, v1alpha1.StatusOverrideFailed)
	waitForClusterStatus(t, ns, "bad-override", m2, v1alpha1.StatusOverrideFailed)

	// Rotate.
	patchData(t, ns, "db", values["rotate"])
	waitForValue(t, m1, ns, "db", values["rotate"])

	// Drift in member1 is read back by the server and corrected.
	s, err := memberSecret(ctx, m1, ns, "db")
	if err != nil {
		t.Fatal(err)
	}
	s = s.DeepCopy()
	s.Data["password"] = []byte(values["drift"])
	if _, err := f.Members[m1].CoreV1().Secrets(ns).Update(ctx, s, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitForValue(t, m1, ns, "db", values["rotate"])

	// A clash with an unmanaged Secret in member1.
	if _, err := f.Members[m1].CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "clash", Namespace: ns},
		Data:       map[string][]byte{"password": []byte(values["theirs"])},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	createFS(t, placedFS(ns, "clash", values["clash"], list(m1)))
	waitForClusterStatus(t, ns, "clash", m1, v1alpha1.StatusAlreadyExists)

	// What the user sees: statuses, events, the plugin's status.
	var seen strings.Builder
	for _, name := range []string{"db", "bad-override", "clash"} {
		got, err := fss.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&seen, "%+v\n", got.Status)
	}
	// Events are recorded asynchronously: wait for both failures' events.
	var events framework.Result
	framework.Eventually(t, time.Minute, "OverrideFailed and AlreadyExists events in the host", func(ctx context.Context) error {
		events = f.Kubectl(ctx, "", "--context", f.HostContext, "get", "events", "-n", ns, "-o", "yaml")
		if events.Err != nil {
			return fmt.Errorf("kubectl get events: %v: %s", events.Err, events.Stderr)
		}
		for _, reason := range []string{"OverrideFailed", "AlreadyExists"} {
			if !strings.Contains(events.Stdout, "reason: "+reason) {
				return fmt.Errorf("no %s event yet", reason)
			}
		}
		return nil
	})
	seen.WriteString(events.Output())
	clusters := f.Kubectl(ctx, "", "--context", f.HostContext, "get", "federatedclusters", "-o", "yaml")
	seen.WriteString(clusters.Output())
	status := f.Plugin(ctx, "status", "--host-context", f.HostContext)
	if status.Err != nil {
		t.Fatalf("kubectl secretfed status: %v\n%s", status.Err, status.Output())
	}
	seen.WriteString(status.Output())

	// Delete everything; it leaves the members.
	if err := fss.DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, m := range f.MemberNames {
		waitForAbsence(t, m, ns, "db")
	}

	all, err := f.SecretfedLogs()
	if err != nil {
		t.Fatal(err)
	}
	logs := strings.TrimPrefix(all, logsBefore)
	// Proof that the log is a -v=8 one: response headers are logged from 8 on.
	if !strings.Contains(logs, "Audit-Id") {
		t.Fatalf("the server log holds no response headers: is it running at -v=%d? (%d bytes)", v, len(logs))
	}
	if !strings.Contains(logs, ns) {
		t.Fatalf("the server log never mentions namespace %s (%d bytes)", ns, len(logs))
	}

	forms := map[string]string{}
	for what, v := range values {
		forms[what] = v
		forms[what+" (base64)"] = b64(v)
	}
	for _, m := range f.MemberNames {
		token, _, err := readCredentials(ctx, m)
		if err != nil {
			t.Fatal(err)
		}
		// A JWT's signature alone is enough to replay nothing, but any
		// 24-character run of it in a log means the token was printed.
		forms[m+" credential token"] = token[len(token)-24:]
	}
	places := map[string]string{
		fmt.Sprintf("server log at -v=%d", v):                  logs,
		fmt.Sprintf("hex dumps in the server log at -v=%d", v): hexDumpText(logs),
		"statuses, events and plugin output":                   seen.String(),
	}
	for place, text := range places {
		for what, form := range forms {
			if strings.Contains(text, form) {
				t.Errorf("the %s value appears in the %s", what, place)
			}
		}
	}
	t.Logf("scanned %d bytes of -v=%d log (%d in hex dumps) and %d bytes of user-visible output for %d forms", len(logs), v, len(places[fmt.Sprintf("hex dumps in the server log at -v=%d", v)]), seen.Len(), len(forms))
}

// Member TLS is verified: with a caBundle that does not sign the member's
// serving certificate, the cluster turns not Ready with a certificate
// error and receives nothing; opting out with insecureSkipTLSVerify (and
// no caBundle) makes it Ready and the Secret arrives. member1's own
// registration is changed and restored: a second FederatedCluster for the
// same member would, on deletion, remove every managed Secret in it.
func TestMemberTLSIsVerifiedUnlessTheClusterOptsOut(t *testing.T) {
	m1 := f.MemberNames[0]
	ctx := framework.Context(t, 5*time.Minute)
	fcs := f.Secretfed.SecretfedV1alpha1().FederatedClusters()
	joined, err := fcs.Get(ctx, m1, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	setTLS := func(ctx context.Context, ca []byte, insecure bool) error {
		patch, err := json.Marshal(map[string]any{"spec": map[string]any{"caBundle": ca, "insecureSkipTLSVerify": insecure}})
		if err != nil {
			return err
		}
		_, err = fcs.Patch(ctx, m1, types.MergePatchType, patch, metav1.PatchOptions{})
		return err
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if err := setTLS(ctx, joined.Spec.CABundle, joined.Spec.InsecureSkipTLSVerify); err != nil {
			t.Errorf("restoring %s's TLS settings: %v", m1, err)
		}
		waitReady(t, m1, 2*time.Minute)
	})

	// A fresh self-signed CA: it signed nothing member1 serves.
	otherCA, _, err := certutil.GenerateSelfSignedCertKey("not-"+m1, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := setTLS(ctx, otherCA, false); err != nil {
		t.Fatal(err)
	}
	framework.Eventually(t, 2*time.Minute, m1+" Ready=False/ClusterNotReachable naming the certificate", func(ctx context.Context) error {
		if err := readyIs(ctx, m1, metav1.ConditionFalse, v1alpha1.ReasonClusterNotReachable); err != nil {
			return err
		}
		got, err := fcs.Get(ctx, m1, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if c := meta.FindStatusCondition(got.Status.Conditions, v1alpha1.ConditionReady); !strings.Contains(c.Message, "certificate") {
			return fmt.Errorf("the Ready message does not name the certificate problem: %q", c.Message)
		}
		return nil
	})

	ns := createNamespace(t, "e2e-tls")
	createFS(t, placedFS(ns, "db", "tls-pw", list(m1)))
	waitForClusterStatus(t, ns, "db", m1, v1alpha1.StatusClusterNotReady)
	if _, err := memberSecret(ctx, m1, ns, "db"); !apierrors.IsNotFound(err) {
		t.Fatalf("get the Secret in %s: want NotFound while its certificate does not verify, got %v", m1, err)
	}

	if err := setTLS(ctx, nil, true); err != nil {
		t.Fatal(err)
	}
	waitReady(t, m1, 2*time.Minute)
	waitForValue(t, m1, ns, "db", "tls-pw")
}
