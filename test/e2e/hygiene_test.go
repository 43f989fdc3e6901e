package e2e

import (
	"encoding/base64"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/secretfed/secretfed/test/e2e/framework"
)

// The bed runs secretfed at -v=6 (E2E_SECRETFED_V); its log must never
// hold a value it propagated, in any form.
func TestServerLogAtV6NeverContainsPropagatedValues(t *testing.T) {
	ns := createNamespace(t, "e2e-hygiene")
	values := []string{"hyg-e2e-Create-V4lue", "hyg-e2e-Rotate-V4lue"}
	createFS(t, placedFS(ns, "db", values[0], all()))
	for _, m := range f.MemberNames {
		waitForValue(t, m, ns, "db", values[0])
	}
	patchData(t, ns, "db", values[1])
	for _, m := range f.MemberNames {
		waitForValue(t, m, ns, "db", values[1])
	}
	ctx := framework.Context(t, time.Minute)
	if err := f.Secretfed.SecretfedV1alpha1().FederatedSecrets(ns).Delete(ctx, "db", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, m := range f.MemberNames {
		waitForAbsence(t, m, ns, "db")
	}
	logs, err := f.SecretfedLogs()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs, ns) {
		t.Fatalf("the server log never mentions namespace %s: is it logging at -v=6? (%d bytes)", ns, len(logs))
	}
	for _, v := range values {
		for _, form := range []string{v, base64.StdEncoding.EncodeToString([]byte(v))} {
			if strings.Contains(logs, form) {
				t.Errorf("a propagated secret value appears in the secretfed log")
			}
		}
	}
}
