package integration

import (
	"encoding/base64"
	"fmt"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/secretfed/secretfed/pkg/apis/secretfed/v1alpha1"
	applyv1alpha1 "github.com/secretfed/secretfed/pkg/generated/applyconfiguration/secretfed/v1alpha1"
)

// The server runs at -v=6 in this package (see TestMain); every log line of
// every test so far is in logs.
func TestServerLogsAtV6NeverContainSecretValues(t *testing.T) {
	s := startServer(t, newServerConfig(t))
	ctx := ctxT(t)
	c := s.Client.SecretfedV1alpha1().FederatedSecrets("payments")
	values := []string{"hyg-created-V4lue", "hyg-updated-V4lue", "hyg-patched-V4lue", "hyg-applied-V4lue", "hyg-string-V4lue", "hyg-override-V4lue", "hyg-invalid-V4lue"}

	fs := newFederatedSecret("payments", "hygiene", map[string]string{"password": values[0]})
	fs.Spec.Template.StringData = map[string]string{"user": values[4]}
	fs.Spec.Overrides = []v1alpha1.ClusterOverride{{ClusterName: "member1", ClusterOverrides: []v1alpha1.OverridePatch{{
		Op: "replace", Path: "/data/password", Value: &v1alpha1.OverrideValue{Raw: []byte(fmt.Sprintf("%q", base64.StdEncoding.EncodeToString([]byte(values[5]))))},
	}}}}
	created, err := c.Create(ctx, fs, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	created.Spec.Template.Data["password"] = []byte(values[1])
	if _, err := c.Update(ctx, created, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	patch := fmt.Sprintf(`{"spec":{"template":{"data":{"password":%q}}}}`, base64.StdEncoding.EncodeToString([]byte(values[2])))
	if _, err := c.Patch(ctx, "hygiene", types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	apply := applyv1alpha1.FederatedSecret("hygiene-apply", "payments").WithSpec(applyv1alpha1.FederatedSecretSpec().
		WithTemplate(applyv1alpha1.SecretTemplate().WithData(map[string][]byte{"k": []byte(values[3])})))
	if _, err := c.Apply(ctx, apply, metav1.ApplyOptions{FieldManager: "hygiene"}); err != nil {
		t.Fatal(err)
	}
	// A rejected write carrying a value: an invalid base64 override value.
	bad := newFederatedSecret("payments", "hygiene-bad", map[string]string{"k": "v"})
	bad.Spec.Overrides = []v1alpha1.ClusterOverride{{ClusterName: "member1", ClusterOverrides: []v1alpha1.OverridePatch{{
		Op: "add", Path: "/data/k", Value: &v1alpha1.OverrideValue{Raw: []byte(fmt.Sprintf("%q", values[6]))},
	}}}}
	_, err = c.Create(ctx, bad, metav1.CreateOptions{})
	if err == nil {
		t.Fatal("invalid override value accepted")
	}
	if strings.Contains(err.Error(), values[6]) {
		t.Errorf("the 422 error echoes the rejected secret value")
	}
	if _, err := c.List(ctx, metav1.ListOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete(ctx, "hygiene", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}

	out := logs.String()
	if !strings.Contains(out, "federatedsecrets") {
		t.Fatalf("the captured log has no request lines; the capture is broken (%d bytes)", len(out))
	}
	for _, v := range values {
		for _, form := range []string{v, base64.StdEncoding.EncodeToString([]byte(v))} {
			if strings.Contains(out, form) {
				t.Errorf("a secret value appears in the server log at -v=6")
			}
		}
	}
}
