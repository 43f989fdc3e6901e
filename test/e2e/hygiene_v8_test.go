package e2e

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
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

// The server runs at -v=8, where client-go logs every request and response
// body, through a scenario that moves values in every direction: create
// (data and stringData), a per-cluster override, a failing override test,
// rotation, drift corrected in a member, a clash with an unmanaged Secret,
// deletion. No value — nor a member's credential token — may appear in the
// server's log, in the host's events, in any status, or in `kubectl
// secretfed status`.
func TestFullScenarioAtV8LeavesNoValueInLogsEventsOrStatus(t *testing.T) {
	if f.Provider != "local" {
		t.Skip("needs the local bed's server process and log (E2E_PROVIDER=local)")
	}
	logsBefore, err := f.SecretfedLogs()
	if err != nil {
		t.Fatal(err)
	}
	if err := f.RestartSecretfed("-v=8"); err != nil {
		t.Fatalf("restarting secretfed at -v=8: %v", err)
	}
	t.Cleanup(func() {
		if err := f.RestartSecretfed(); err != nil {
			t.Errorf("restarting secretfed at the suite's verbosity: %v", err)
		}
	})
	for _, m := range f.MemberNames {
		waitReady(t, m, 2*time.Minute)
	}

	ns := createNamespace(t, "e2e-hygiene-v8")
	m1, m2 := f.MemberNames[0], f.MemberNames[1]
	values := map[string]string{
		"create":     "hyg8-Create-V4lue",
		"stringData": "hyg8-StringData-V4lue",
		"override":   "hyg8-Override-V4lue",
		"testOp":     "hyg8-TestOp-V4lue",
		"rotate":     "hyg8-Rotate-V4lue",
		"drift":      "hyg8-Drift-V4lue",
		"theirs":     "hyg8-Theirs-V4lue",
		"clash":      "hyg8-Clash-V4lue",
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

	// An override whose test op fails: its reason is reported, its value never.
	bad := placedFS(ns, "bad-override", values["create"], list(m1))
	bad.Spec.Overrides = []v1alpha1.ClusterOverride{{ClusterName: m1, ClusterOverrides: []v1alpha1.OverridePatch{
		{Op: "test", Path: "/data/password", Value: &v1alpha1.OverrideValue{Raw: []byte(fmt.Sprintf("%q", b64(values["testOp"])))}},
	}}}
	createFS(t, bad)
	waitForClusterStatus(t, ns, "bad-override", m1, v1alpha1.StatusOverrideFailed)

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
	status := f.Plugin(ctx, "status", "--context", f.HostContext)
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
	// Proof that the log is the -v=8 one: response headers are logged from 8 on.
	if !strings.Contains(logs, "Audit-Id") {
		t.Fatalf("the server log holds no response headers: is it running at -v=8? (%d bytes)", len(logs))
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
	places := map[string]string{"server log at -v=8": logs, "statuses, events and plugin output": seen.String()}
	for place, text := range places {
		for what, form := range forms {
			if strings.Contains(text, form) {
				t.Errorf("the %s value appears in the %s", what, place)
			}
		}
	}
	t.Logf("scanned %d bytes of -v=8 log and %d bytes of user-visible output for %d forms", len(logs), seen.Len(), len(forms))
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
