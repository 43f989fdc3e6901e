package integration

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/secretfed/secretfed/pkg/apis/secretfed/v1alpha1"
	applyv1alpha1 "github.com/secretfed/secretfed/pkg/generated/applyconfiguration/secretfed/v1alpha1"
)

func newFederatedSecret(ns, name string, data map[string]string) *v1alpha1.FederatedSecret {
	fs := &v1alpha1.FederatedSecret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{"team": "core"}},
		Spec: v1alpha1.FederatedSecretSpec{
			Template: v1alpha1.SecretTemplate{
				Metadata: v1alpha1.TemplateMetadata{Labels: map[string]string{"app": "payments"}},
				Type:     "Opaque",
				Data:     map[string][]byte{},
			},
			Placement: v1alpha1.Placement{Clusters: []v1alpha1.ClusterReference{{Name: "member1"}}},
		},
	}
	for k, v := range data {
		fs.Spec.Template.Data[k] = []byte(v)
	}
	return fs
}

func newFederatedCluster(name string) *v1alpha1.FederatedCluster {
	return &v1alpha1.FederatedCluster{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"env": "prod"}},
		Spec: v1alpha1.FederatedClusterSpec{
			APIEndpoint: "https://10.1.2.3:6443",
			CABundle:    testCA,
			SecretRef:   v1alpha1.LocalSecretReference{Name: name + "-credentials"},
		},
	}
}

func TestFederatedSecretCreateGetListWatchUpdatePatchApplyDelete(t *testing.T) {
	s := startServer(t, newServerConfig(t))
	ctx := ctxT(t)
	c := s.Client.SecretfedV1alpha1().FederatedSecrets("payments")

	w, err := c.Watch(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatalf("watch: %v", err)
	}
	defer w.Stop()

	created, err := c.Create(ctx, newFederatedSecret("payments", "db-creds", map[string]string{"password": "crud-pw-1"}), metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	if created.Generation != 1 {
		t.Errorf("generation after create = %d, want 1", created.Generation)
	}
	got, err := c.Get(ctx, "db-creds", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get: %v", err)
	}
	if diff := cmp.Diff(created.Spec, got.Spec); diff != "" {
		t.Errorf("get returned a different spec (-created +got):\n%s", diff)
	}
	expectEvent(t, w, watch.Added, "db-creds")

	list, err := c.List(ctx, metav1.ListOptions{LabelSelector: "team=core"})
	if err != nil || len(list.Items) != 1 {
		t.Fatalf("list by label: %d items, err %v; want 1", len(list.Items), err)
	}

	got.Spec.Template.Data["password"] = []byte("crud-pw-2")
	updated, err := c.Update(ctx, got, metav1.UpdateOptions{})
	if err != nil {
		t.Fatalf("update: %v", err)
	}
	if string(updated.Spec.Template.Data["password"]) != "crud-pw-2" || updated.Generation != 2 {
		t.Errorf("update: password changed=%v generation=%d, want true and 2", string(updated.Spec.Template.Data["password"]) == "crud-pw-2", updated.Generation)
	}
	expectEvent(t, w, watch.Modified, "db-creds")

	patch := fmt.Sprintf(`{"spec":{"template":{"data":{"extra":%q}}}}`, base64.StdEncoding.EncodeToString([]byte("crud-extra")))
	patched, err := c.Patch(ctx, "db-creds", types.MergePatchType, []byte(patch), metav1.PatchOptions{})
	if err != nil {
		t.Fatalf("merge patch: %v", err)
	}
	if string(patched.Spec.Template.Data["extra"]) != "crud-extra" || string(patched.Spec.Template.Data["password"]) != "crud-pw-2" {
		t.Errorf("merge patch did not merge data: keys %v", keys(patched.Spec.Template.Data))
	}

	apply := applyv1alpha1.FederatedSecret("applied", "payments").
		WithSpec(applyv1alpha1.FederatedSecretSpec().
			WithTemplate(applyv1alpha1.SecretTemplate().WithType("Opaque").WithData(map[string][]byte{"token": []byte("crud-apply-1")})).
			WithPlacement(applyv1alpha1.Placement().WithClusters(applyv1alpha1.ClusterReference().WithName("member1"))).
			WithOverrides(applyv1alpha1.ClusterOverride().WithClusterName("member1").WithClusterOverrides(
				applyv1alpha1.OverridePatch().WithOp(v1alpha1.OverrideOpReplace).WithPath("/metadata/labels/env").
					WithValue(v1alpha1.OverrideValue{Raw: []byte(`"prod"`)}))))
	applied, err := c.Apply(ctx, apply, metav1.ApplyOptions{FieldManager: "integration", Force: true})
	if err != nil {
		t.Fatalf("server-side apply (create): %v", err)
	}
	if string(applied.Spec.Template.Data["token"]) != "crud-apply-1" || len(applied.Spec.Overrides) != 1 {
		t.Fatalf("server-side apply stored the wrong spec: %+v", applied.Spec.Overrides)
	}
	apply.Spec.Template.WithData(map[string][]byte{"token": []byte("crud-apply-2")})
	applied, err = c.Apply(ctx, apply, metav1.ApplyOptions{FieldManager: "integration", Force: true})
	if err != nil {
		t.Fatalf("server-side apply (update): %v", err)
	}
	if string(applied.Spec.Template.Data["token"]) != "crud-apply-2" || applied.Generation != 2 {
		t.Errorf("server-side apply update: generation %d, want 2", applied.Generation)
	}
	managers := map[string]bool{}
	for _, mf := range applied.ManagedFields {
		managers[mf.Manager] = true
	}
	if !managers["integration"] {
		t.Errorf("managedFields has no entry for the apply field manager: %v", managers)
	}

	if err := c.Delete(ctx, "db-creds", metav1.DeleteOptions{}); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if _, err := c.Get(ctx, "db-creds", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("get after delete: %v, want NotFound", err)
	}
}

func TestFederatedClusterCreateGetListWatchUpdatePatchApplyDelete(t *testing.T) {
	s := startServer(t, newServerConfig(t))
	ctx := ctxT(t)
	c := s.Client.SecretfedV1alpha1().FederatedClusters()

	w, err := c.Watch(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatalf("watch: %v", err)
	}
	defer w.Stop()
	if _, err := c.Create(ctx, newFederatedCluster("member1"), metav1.CreateOptions{}); err != nil {
		t.Fatalf("create: %v", err)
	}
	expectEvent(t, w, watch.Added, "member1")
	got, err := c.Get(ctx, "member1", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get: %v", err)
	}
	if list, err := c.List(ctx, metav1.ListOptions{LabelSelector: "env=prod"}); err != nil || len(list.Items) != 1 {
		t.Fatalf("list: %v items, err %v; want 1", len(list.Items), err)
	}
	got.Labels["region"] = "eu"
	if _, err := c.Update(ctx, got, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("update: %v", err)
	}
	expectEvent(t, w, watch.Modified, "member1")
	patched, err := c.Patch(ctx, "member1", types.MergePatchType, []byte(`{"spec":{"proxyURL":"socks5://127.0.0.1:1080"}}`), metav1.PatchOptions{})
	if err != nil || patched.Spec.ProxyURL != "socks5://127.0.0.1:1080" {
		t.Fatalf("merge patch: %v", err)
	}
	apply := applyv1alpha1.FederatedCluster("member2").WithLabels(map[string]string{"env": "dev"}).
		WithSpec(applyv1alpha1.FederatedClusterSpec().WithAPIEndpoint("https://10.1.2.4:6443").
			WithSecretRef(applyv1alpha1.LocalSecretReference().WithName("member2-credentials")))
	applied, err := c.Apply(ctx, apply, metav1.ApplyOptions{FieldManager: "integration"})
	if err != nil {
		t.Fatalf("server-side apply: %v", err)
	}
	if applied.Spec.APIEndpoint != "https://10.1.2.4:6443" {
		t.Errorf("apply stored endpoint %q", applied.Spec.APIEndpoint)
	}
	for _, name := range []string{"member1", "member2"} {
		if err := c.Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
			t.Fatalf("delete %s: %v", name, err)
		}
	}
	if list, _ := c.List(ctx, metav1.ListOptions{}); len(list.Items) != 0 {
		t.Errorf("list after delete: %d items, want 0", len(list.Items))
	}
}

func TestStatusCannotBeWrittenThroughTheMainResourceNorSpecThroughStatus(t *testing.T) {
	s := startServer(t, newServerConfig(t))
	ctx := ctxT(t)
	c := s.Client.SecretfedV1alpha1().FederatedSecrets("payments")

	fs := newFederatedSecret("payments", "status-split", map[string]string{"k": "status-value"})
	fs.Status.ObservedGeneration = 42
	created, err := c.Create(ctx, fs, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if created.Status.ObservedGeneration != 0 {
		t.Errorf("create kept status.observedGeneration=%d, want it reset to 0", created.Status.ObservedGeneration)
	}

	// Status through status: spec changes are dropped, generation unchanged.
	created.Status = v1alpha1.FederatedSecretStatus{
		ObservedGeneration: 1,
		Clusters:           []v1alpha1.ClusterPropagationStatus{{Name: "member1", Status: v1alpha1.StatusPropagated}},
	}
	created.Spec.Template.Type = "kubernetes.io/basic-auth"
	created.Spec.Template.Data = map[string][]byte{"username": []byte("u")}
	st, err := c.UpdateStatus(ctx, created, metav1.UpdateOptions{})
	if err != nil {
		t.Fatalf("update status: %v", err)
	}
	if st.Spec.Template.Type != "Opaque" || st.Generation != 1 || st.Status.ObservedGeneration != 1 {
		t.Errorf("after status update: type=%q generation=%d observedGeneration=%d; want Opaque, 1, 1", st.Spec.Template.Type, st.Generation, st.Status.ObservedGeneration)
	}

	// Spec through main resource: status changes are dropped.
	st.Status.ObservedGeneration = 99
	st.Labels["touched"] = "yes"
	upd, err := c.Update(ctx, st, metav1.UpdateOptions{})
	if err != nil {
		t.Fatalf("update: %v", err)
	}
	if upd.Status.ObservedGeneration != 1 {
		t.Errorf("main resource changed status.observedGeneration to %d", upd.Status.ObservedGeneration)
	}
	if upd.Generation != 1 {
		t.Errorf("a metadata-only update bumped generation to %d, want 1", upd.Generation)
	}

	// Server-side apply of status on the main resource is ignored as well.
	apply := applyv1alpha1.FederatedSecret("status-split", "payments").
		WithStatus(applyv1alpha1.FederatedSecretStatus().WithObservedGeneration(7))
	applied, err := c.Apply(ctx, apply, metav1.ApplyOptions{FieldManager: "sneaky", Force: true})
	if err != nil {
		t.Fatalf("apply: %v", err)
	}
	if applied.Status.ObservedGeneration != 1 {
		t.Errorf("apply on the main resource changed status.observedGeneration to %d", applied.Status.ObservedGeneration)
	}

	// FederatedCluster too.
	cc := s.Client.SecretfedV1alpha1().FederatedClusters()
	fc, err := cc.Create(ctx, newFederatedCluster("member1"), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	fc.Status.KubernetesVersion = "v1.37.2"
	fc.Spec.APIEndpoint = "https://evil.example:6443"
	fc, err = cc.UpdateStatus(ctx, fc, metav1.UpdateOptions{})
	if err != nil {
		t.Fatalf("cluster update status: %v", err)
	}
	if fc.Spec.APIEndpoint != "https://10.1.2.3:6443" || fc.Status.KubernetesVersion != "v1.37.2" {
		t.Errorf("cluster status update: endpoint %q version %q", fc.Spec.APIEndpoint, fc.Status.KubernetesVersion)
	}
	fc.Status.KubernetesVersion = "v0.0.0"
	fc, err = cc.Update(ctx, fc, metav1.UpdateOptions{})
	if err != nil || fc.Status.KubernetesVersion != "v1.37.2" {
		t.Errorf("cluster main update changed status: %q (err %v)", fc.Status.KubernetesVersion, err)
	}
}

func TestStringDataIsFoldedIntoDataAndNeverStored(t *testing.T) {
	s := startServer(t, newServerConfig(t))
	ctx := ctxT(t)
	c := s.Client.SecretfedV1alpha1().FederatedSecrets("payments")
	fs := newFederatedSecret("payments", "string-data", map[string]string{"password": "fold-old"})
	fs.Spec.Template.StringData = map[string]string{"password": "fold-new", "user": "admin"}
	created, err := c.Create(ctx, fs, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"password": "fold-new", "user": "admin"}
	if diff := cmp.Diff(want, stringMap(created.Spec.Template.Data)); diff != "" {
		t.Errorf("data after folding (-want +got):\n%s", diff)
	}
	got, err := c.Get(ctx, "string-data", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got.Spec.Template.StringData != nil {
		t.Errorf("stringData was stored: keys %v", keys2(got.Spec.Template.StringData))
	}
	if diff := cmp.Diff(want, stringMap(got.Spec.Template.Data)); diff != "" {
		t.Errorf("stored data (-want +got):\n%s", diff)
	}
}

func TestBadInputGets422NamingTheField(t *testing.T) {
	s := startServer(t, newServerConfig(t))
	ctx := ctxT(t)
	fs := newFederatedSecret("payments", "bad", map[string]string{"password": "bad-input-value"})
	fs.Spec.Overrides = []v1alpha1.ClusterOverride{
		{ClusterName: "member1", ClusterOverrides: []v1alpha1.OverridePatch{{Op: "replace", Path: "/data/password", Value: &v1alpha1.OverrideValue{Raw: []byte(`"eHl6"`)}}}},
		{ClusterName: "member2", ClusterOverrides: []v1alpha1.OverridePatch{{Op: "replace", Path: "/metadata/name", Value: &v1alpha1.OverrideValue{Raw: []byte(`"x"`)}}}},
	}
	_, err := s.Client.SecretfedV1alpha1().FederatedSecrets("payments").Create(ctx, fs, metav1.CreateOptions{})
	assertInvalid(t, err, "spec.overrides[1].clusterOverrides[0].path")

	fc := newFederatedCluster("bad")
	fc.Spec.APIEndpoint = "http://10.1.2.3:6443"
	_, err = s.Client.SecretfedV1alpha1().FederatedClusters().Create(ctx, fc, metav1.CreateOptions{})
	assertInvalid(t, err, "spec.apiEndpoint")

	tls := newFederatedSecret("payments", "tls", map[string]string{"tls.crt": "c"})
	tls.Spec.Template.Type = "kubernetes.io/tls"
	_, err = s.Client.SecretfedV1alpha1().FederatedSecrets("payments").Create(ctx, tls, metav1.CreateOptions{})
	assertInvalid(t, err, "spec.template.data[tls.key]")
}

func TestInsecureSkipTLSVerifyIsAcceptedWithAWarning(t *testing.T) {
	s := startServer(t, newServerConfig(t))
	ctx := ctxT(t)
	fc := newFederatedCluster("insecure")
	fc.Spec.InsecureSkipTLSVerify = true
	var warnings []string
	cfg := *s.running.Server.GenericAPIServer.LoopbackClientConfig
	cfg.WarningHandler = warningRecorder(func(w string) { warnings = append(warnings, w) })
	client := mustClient(t, &cfg)
	if _, err := client.SecretfedV1alpha1().FederatedClusters().Create(ctx, fc, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create: %v", err)
	}
	if len(warnings) == 0 || !strings.Contains(strings.Join(warnings, "\n"), "insecureSkipTLSVerify") {
		t.Errorf("warnings = %q, want one about spec.insecureSkipTLSVerify", warnings)
	}
}

func assertInvalid(t *testing.T, err error, wantField string) {
	t.Helper()
	if !apierrors.IsInvalid(err) {
		t.Fatalf("got %v, want a 422 Invalid error", err)
	}
	status := err.(apierrors.APIStatus).Status()
	if status.Code != 422 {
		t.Errorf("HTTP code %d, want 422", status.Code)
	}
	var fields []string
	for _, cause := range status.Details.Causes {
		fields = append(fields, cause.Field)
		if cause.Field == wantField {
			return
		}
	}
	t.Errorf("422 causes name fields %v, want %q", fields, wantField)
}

func expectEvent(t *testing.T, w watch.Interface, typ watch.EventType, name string) {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		select {
		case ev, ok := <-w.ResultChan():
			if !ok {
				t.Fatalf("watch closed before %s %s", typ, name)
			}
			m, err := metaName(ev.Object)
			if err == nil && ev.Type == typ && m == name {
				return
			}
		case <-deadline:
			t.Fatalf("no %s event for %s within 30s", typ, name)
		}
	}
}

func metaName(obj any) (string, error) {
	b, err := json.Marshal(obj)
	if err != nil {
		return "", err
	}
	var m struct {
		Metadata struct{ Name string } `json:"metadata"`
	}
	err = json.Unmarshal(b, &m)
	return m.Metadata.Name, err
}

func stringMap(m map[string][]byte) map[string]string {
	out := map[string]string{}
	for k, v := range m {
		out[k] = string(v)
	}
	return out
}

func keys(m map[string][]byte) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func keys2(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
