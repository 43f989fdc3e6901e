package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"

	"github.com/secretfed/secretfed/test/e2e/framework"
)

// With the shipped policy (artifacts/audit/policy.yaml), a change to a
// FederatedSecret is recorded — who, which verb, which object, the response
// code — and the audit log holds none of the values written: not from the
// template's data or stringData, not from an override, not from the stored
// object echoed in the error of a malformed patch.
func TestAuditLogRecordsFederatedSecretChangesAtMetadataLevelWithoutValues(t *testing.T) {
	requireLocalBed(t, "restarts secretfed with audit flags, reads the local audit file")
	auditLog := filepath.Join(t.TempDir(), "audit.log")
	policy := filepath.Join(f.RepoRoot, "artifacts", "audit", "policy.yaml")
	if err := f.RestartSecretfed("--audit-policy-file="+policy, "--audit-log-path="+auditLog); err != nil {
		t.Fatalf("restarting secretfed with the shipped audit policy: %v", err)
	}
	t.Cleanup(func() {
		if err := f.RestartSecretfed(); err != nil {
			t.Errorf("restoring secretfed's flags: %v", err)
		}
	})

	ctx := framework.Context(t, 3*time.Minute)
	ns := createNamespace(t, "e2e-audit")
	values := map[string]string{
		"data":         "audit-e2e-D4ta-V4lue",
		"stringData":   "audit-e2e-Str1ngData-V4lue",
		"override":     "audit-e2e-0verride-V4lue",
		"patched data": "audit-e2e-P4tched-V4lue",
	}
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	manifest := fmt.Sprintf(`apiVersion: secretfed.io/v1alpha1
kind: FederatedSecret
metadata: {name: audited, namespace: %s}
spec:
  template:
    type: Opaque
    data: {password: %s}
    stringData: {user: %s}
  overrides:
  - clusterName: %s
    clusterOverrides:
    - {op: replace, path: /data/password, value: %s}
`, ns, b64(values["data"]), values["stringData"], f.MemberNames[0], b64(values["override"]))
	kubectl := func(stdin string, args ...string) framework.Result {
		return f.Kubectl(ctx, stdin, append([]string{"--context", f.HostContext}, args...)...)
	}
	if r := kubectl(manifest, "create", "-f", "-"); r.Err != nil {
		t.Fatalf("kubectl create: %v\n%s", r.Err, r.Output())
	}
	if r := kubectl("", "patch", "fsec", "audited", "-n", ns, "--type=merge", "-p", fmt.Sprintf(`{"spec":{"template":{"data":{"password":%q}}}}`, b64(values["patched data"]))); r.Err != nil {
		t.Fatalf("kubectl patch: %v\n%s", r.Err, r.Output())
	}
	// A patch whose result does not decode: the generic apiserver's error
	// would show the whole stored object, and the audit event records the
	// error (responseStatus) even at Metadata level.
	if r := kubectl("", "patch", "fsec", "audited", "-n", ns, "--type=merge", "-p", `{"spec":{"placement":{"clusters":"x"}}}`); r.Err == nil {
		t.Fatalf("a malformed patch was accepted:\n%s", r.Output())
	}
	if r := kubectl("", "delete", "fsec", "audited", "-n", ns, "--timeout=60s"); r.Err != nil {
		t.Fatalf("kubectl delete: %v\n%s", r.Err, r.Output())
	}

	// Events are written when each response completes: wait for the last.
	var events []auditv1.Event
	var raw []byte
	framework.Eventually(t, 30*time.Second, "the audit log records the delete", func(ctx context.Context) error {
		var err error
		raw, err = os.ReadFile(auditLog)
		if err != nil {
			return err
		}
		if events, err = parseAuditLog(raw); err != nil {
			return err
		}
		if findAuditEvent(events, "delete", ns, "audited") == nil {
			return fmt.Errorf("no delete event yet among %d events", len(events))
		}
		return nil
	})

	create := findAuditEvent(events, "create", ns, "audited")
	if create == nil {
		t.Fatalf("no audit event for the create of %s/audited among %d events", ns, len(events))
	}
	if create.ResponseStatus == nil || create.ResponseStatus.Code != 201 || create.User.Username == "" || create.ObjectRef.APIGroup != "secretfed.io" {
		t.Errorf("create event = %+v, want code 201, a user and group secretfed.io", create)
	}
	if findAuditEvent(events, "patch", ns, "audited") == nil {
		t.Errorf("no audit event for the patches")
	}
	for _, ev := range events {
		if ev.ObjectRef != nil && ev.ObjectRef.APIGroup == "secretfed.io" {
			if ev.Level != auditv1.LevelMetadata || ev.RequestObject != nil || ev.ResponseObject != nil {
				t.Errorf("event %s %s at level %s with bodies (request %v, response %v); want Metadata only", ev.Verb, ev.RequestURI, ev.Level, ev.RequestObject != nil, ev.ResponseObject != nil)
			}
		}
		for _, p := range []string{"/healthz", "/livez", "/readyz"} {
			if strings.HasPrefix(ev.RequestURI, p) {
				t.Errorf("a health probe was audited: %s", ev.RequestURI)
			}
		}
	}
	for what, v := range values {
		for _, form := range []string{v, b64(v)} {
			if bytes.Contains(raw, []byte(form)) {
				t.Errorf("the audit log contains the %s value (as %q)", what, form)
			}
		}
	}
}

func parseAuditLog(raw []byte) ([]auditv1.Event, error) {
	var events []auditv1.Event
	sc := bufio.NewScanner(bytes.NewReader(raw))
	sc.Buffer(make([]byte, 0, 1<<20), 16<<20)
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var ev auditv1.Event
		if err := json.Unmarshal(line, &ev); err != nil {
			// The last line may be half written.
			continue
		}
		events = append(events, ev)
	}
	return events, sc.Err()
}

func findAuditEvent(events []auditv1.Event, verb, ns, name string) *auditv1.Event {
	for i, ev := range events {
		r := ev.ObjectRef
		if ev.Verb == verb && ev.Stage == auditv1.StageResponseComplete && r != nil &&
			r.Resource == "federatedsecrets" && r.Subresource == "" && r.Namespace == ns && r.Name == name {
			return &events[i]
		}
	}
	return nil
}
