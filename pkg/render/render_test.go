package render

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/secretfed/secretfed/pkg/apis/secretfed/v1alpha1"
	"github.com/secretfed/secretfed/pkg/apis/secretfed/validation"
)

const secretValue = "s3cr3t-value-never-shown"

func ptrTo[T any](v T) *T { return &v }

func val(t testing.TB, v any) *v1alpha1.OverrideValue {
	t.Helper()
	raw, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return &v1alpha1.OverrideValue{Raw: raw}
}

func rawVal(s string) *v1alpha1.OverrideValue { return &v1alpha1.OverrideValue{Raw: []byte(s)} }

func baseFS() *v1alpha1.FederatedSecret {
	return &v1alpha1.FederatedSecret{
		ObjectMeta: metav1.ObjectMeta{Namespace: "payments", Name: "db-creds"},
		Spec: v1alpha1.FederatedSecretSpec{
			Template: v1alpha1.SecretTemplate{
				Metadata: v1alpha1.TemplateMetadata{
					Labels:      map[string]string{"app": "payments"},
					Annotations: map[string]string{"team": "core"},
				},
				Type: "Opaque",
				Data: map[string][]byte{"password": []byte(secretValue)},
			},
		},
	}
}

func withOverrides(fs *v1alpha1.FederatedSecret, cluster string, patches ...v1alpha1.OverridePatch) *v1alpha1.FederatedSecret {
	fs.Spec.Overrides = append(fs.Spec.Overrides, v1alpha1.ClusterOverride{ClusterName: cluster, ClusterOverrides: patches})
	return fs
}

// baseSecret is what baseFS renders to without overrides.
func baseSecret() *corev1.Secret {
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{
			Namespace:   "payments",
			Name:        "db-creds",
			Labels:      map[string]string{"app": "payments", v1alpha1.ManagedLabel: "true"},
			Annotations: map[string]string{"team": "core"},
		},
		Type: corev1.SecretTypeOpaque,
		Data: map[string][]byte{"password": []byte(secretValue)},
	}
}

func TestRender(t *testing.T) {
	tests := []struct {
		name   string
		fs     func(t *testing.T) *v1alpha1.FederatedSecret
		want   func() *corev1.Secret // nil when an error is expected
		errMsg string
	}{
		{
			name: "template only, with the managed label added",
			fs:   func(*testing.T) *v1alpha1.FederatedSecret { return baseFS() },
			want: baseSecret,
		},
		{
			name: "empty type renders as Opaque",
			fs: func(*testing.T) *v1alpha1.FederatedSecret {
				fs := baseFS()
				fs.Spec.Template.Type = ""
				return fs
			},
			want: baseSecret,
		},
		{
			name: "stringData folded into data, winning over data",
			fs: func(*testing.T) *v1alpha1.FederatedSecret {
				fs := baseFS()
				fs.Spec.Template.StringData = map[string]string{"user": "admin", "password": "from-stringdata"}
				return fs
			},
			want: func() *corev1.Secret {
				s := baseSecret()
				s.Data = map[string][]byte{"user": []byte("admin"), "password": []byte("from-stringdata")}
				return s
			},
		},
		{
			name: "immutable true is kept, false is dropped",
			fs: func(*testing.T) *v1alpha1.FederatedSecret {
				fs := baseFS()
				fs.Spec.Template.Immutable = ptrTo(true)
				return fs
			},
			want: func() *corev1.Secret {
				s := baseSecret()
				s.Immutable = ptrTo(true)
				return s
			},
		},
		{
			name: "no labels, annotations or data",
			fs: func(*testing.T) *v1alpha1.FederatedSecret {
				return &v1alpha1.FederatedSecret{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "empty"}}
			},
			want: func() *corev1.Secret {
				return &corev1.Secret{
					ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "empty", Labels: map[string]string{v1alpha1.ManagedLabel: "true"}},
					Type:       corev1.SecretTypeOpaque,
				}
			},
		},
		{
			name: "template cannot unset the managed label",
			fs: func(*testing.T) *v1alpha1.FederatedSecret {
				fs := baseFS()
				fs.Spec.Template.Metadata.Labels[v1alpha1.ManagedLabel] = "false"
				return fs
			},
			want: baseSecret,
		},
		{
			name: "overrides of another cluster are not applied",
			fs: func(t *testing.T) *v1alpha1.FederatedSecret {
				return withOverrides(baseFS(), "member2", v1alpha1.OverridePatch{Op: "remove", Path: "/data/missing"})
			},
			want: baseSecret,
		},
		{
			name: "replace a data key",
			fs: func(t *testing.T) *v1alpha1.FederatedSecret {
				return withOverrides(baseFS(), "member1", v1alpha1.OverridePatch{Op: "replace", Path: "/data/password", Value: val(t, []byte("newpass"))})
			},
			want: func() *corev1.Secret {
				s := baseSecret()
				s.Data["password"] = []byte("newpass")
				return s
			},
		},
		{
			name: "empty op means replace",
			fs: func(t *testing.T) *v1alpha1.FederatedSecret {
				return withOverrides(baseFS(), "member1", v1alpha1.OverridePatch{Path: "/data/password", Value: val(t, []byte("newpass"))})
			},
			want: func() *corev1.Secret {
				s := baseSecret()
				s.Data["password"] = []byte("newpass")
				return s
			},
		},
		{
			name: "add a new data key, and add over an existing one",
			fs: func(t *testing.T) *v1alpha1.FederatedSecret {
				return withOverrides(baseFS(), "member1",
					v1alpha1.OverridePatch{Op: "add", Path: "/data/extra", Value: val(t, []byte("x"))},
					v1alpha1.OverridePatch{Op: "add", Path: "/data/password", Value: val(t, []byte("y"))})
			},
			want: func() *corev1.Secret {
				s := baseSecret()
				s.Data = map[string][]byte{"extra": []byte("x"), "password": []byte("y")}
				return s
			},
		},
		{
			name: "add a data key to a template without data",
			fs: func(t *testing.T) *v1alpha1.FederatedSecret {
				fs := baseFS()
				fs.Spec.Template.Data = nil
				return withOverrides(fs, "member1", v1alpha1.OverridePatch{Op: "add", Path: "/data/k", Value: val(t, []byte("v"))})
			},
			want: func() *corev1.Secret {
				s := baseSecret()
				s.Data = map[string][]byte{"k": []byte("v")}
				return s
			},
		},
		{
			name: "remove a data key",
			fs: func(t *testing.T) *v1alpha1.FederatedSecret {
				fs := baseFS()
				fs.Spec.Template.Data["other"] = []byte("o")
				return withOverrides(fs, "member1", v1alpha1.OverridePatch{Op: "remove", Path: "/data/password"})
			},
			want: func() *corev1.Secret {
				s := baseSecret()
				s.Data = map[string][]byte{"other": []byte("o")}
				return s
			},
		},
		{
			name: "replace the whole data map",
			fs: func(t *testing.T) *v1alpha1.FederatedSecret {
				return withOverrides(baseFS(), "member1", v1alpha1.OverridePatch{Op: "replace", Path: "/data", Value: val(t, map[string][]byte{"a": []byte("1")})})
			},
			want: func() *corev1.Secret {
				s := baseSecret()
				s.Data = map[string][]byte{"a": []byte("1")}
				return s
			},
		},
		{
			name: "remove the whole data map",
			fs: func(t *testing.T) *v1alpha1.FederatedSecret {
				return withOverrides(baseFS(), "member1", v1alpha1.OverridePatch{Op: "remove", Path: "/data"})
			},
			want: func() *corev1.Secret {
				s := baseSecret()
				s.Data = nil
				return s
			},
		},
		{
			name: "stringData key added by an override is folded into data",
			fs: func(t *testing.T) *v1alpha1.FederatedSecret {
				return withOverrides(baseFS(), "member1", v1alpha1.OverridePatch{Op: "add", Path: "/stringData/password", Value: val(t, "plain")})
			},
			want: func() *corev1.Secret {
				s := baseSecret()
				s.Data["password"] = []byte("plain")
				return s
			},
		},
		{
			name: "replace and remove stringData keys, replace whole stringData",
			fs: func(t *testing.T) *v1alpha1.FederatedSecret {
				fs := baseFS()
				fs.Spec.Template.StringData = map[string]string{"a": "1", "b": "2"}
				return withOverrides(fs, "member1",
					v1alpha1.OverridePatch{Op: "replace", Path: "/stringData/a", Value: val(t, "one")},
					v1alpha1.OverridePatch{Op: "remove", Path: "/stringData/b"},
					v1alpha1.OverridePatch{Op: "add", Path: "/stringData", Value: val(t, map[string]string{"c": "3", "a": "uno"})})
			},
			want: func() *corev1.Secret {
				s := baseSecret()
				s.Data = map[string][]byte{"password": []byte(secretValue), "a": []byte("uno"), "c": []byte("3")}
				return s
			},
		},
		{
			name: "labels: add, replace, remove, with ~1 unescaping",
			fs: func(t *testing.T) *v1alpha1.FederatedSecret {
				fs := baseFS()
				fs.Spec.Template.Metadata.Labels["example.com/tier"] = "gold"
				return withOverrides(fs, "member1",
					v1alpha1.OverridePatch{Op: "add", Path: "/metadata/labels/env", Value: val(t, "prod")},
					v1alpha1.OverridePatch{Op: "replace", Path: "/metadata/labels/app", Value: val(t, "pay")},
					v1alpha1.OverridePatch{Op: "remove", Path: "/metadata/labels/example.com~1tier"})
			},
			want: func() *corev1.Secret {
				s := baseSecret()
				s.Labels = map[string]string{"app": "pay", "env": "prod", v1alpha1.ManagedLabel: "true"}
				return s
			},
		},
		{
			name: "replacing all labels keeps the managed label",
			fs: func(t *testing.T) *v1alpha1.FederatedSecret {
				return withOverrides(baseFS(), "member1", v1alpha1.OverridePatch{Op: "replace", Path: "/metadata/labels", Value: val(t, map[string]string{"only": "me"})})
			},
			want: func() *corev1.Secret {
				s := baseSecret()
				s.Labels = map[string]string{"only": "me", v1alpha1.ManagedLabel: "true"}
				return s
			},
		},
		{
			name: "overriding the managed label to false has no effect",
			fs: func(t *testing.T) *v1alpha1.FederatedSecret {
				return withOverrides(baseFS(), "member1", v1alpha1.OverridePatch{Op: "add", Path: "/metadata/labels/secretfed.io~1managed", Value: val(t, "false")})
			},
			want: baseSecret,
		},
		{
			name: "removing all labels keeps the managed label",
			fs: func(t *testing.T) *v1alpha1.FederatedSecret {
				return withOverrides(baseFS(), "member1", v1alpha1.OverridePatch{Op: "remove", Path: "/metadata/labels"})
			},
			want: func() *corev1.Secret {
				s := baseSecret()
				s.Labels = map[string]string{v1alpha1.ManagedLabel: "true"}
				return s
			},
		},
		{
			name: "annotations: add, replace, replace all, remove",
			fs: func(t *testing.T) *v1alpha1.FederatedSecret {
				return withOverrides(baseFS(), "member1",
					v1alpha1.OverridePatch{Op: "add", Path: "/metadata/annotations/example.com~1a", Value: val(t, "slash")},
					v1alpha1.OverridePatch{Op: "replace", Path: "/metadata/annotations/team", Value: val(t, "edge")},
					v1alpha1.OverridePatch{Op: "replace", Path: "/metadata/annotations", Value: val(t, map[string]string{"x": "y", "example.com/b": "t"})},
					v1alpha1.OverridePatch{Op: "remove", Path: "/metadata/annotations/x"})
			},
			want: func() *corev1.Secret {
				s := baseSecret()
				s.Annotations = map[string]string{"example.com/b": "t"}
				return s
			},
		},
		{
			name: "removing the last annotation leaves none",
			fs: func(t *testing.T) *v1alpha1.FederatedSecret {
				return withOverrides(baseFS(), "member1", v1alpha1.OverridePatch{Op: "remove", Path: "/metadata/annotations/team"})
			},
			want: func() *corev1.Secret {
				s := baseSecret()
				s.Annotations = nil
				return s
			},
		},
		{
			name: "type replace and remove (back to Opaque)",
			fs: func(t *testing.T) *v1alpha1.FederatedSecret {
				fs := baseFS()
				fs.Spec.Template.Data = map[string][]byte{"username": []byte("u")}
				return withOverrides(fs, "member1",
					v1alpha1.OverridePatch{Op: "replace", Path: "/type", Value: val(t, "kubernetes.io/basic-auth")},
					v1alpha1.OverridePatch{Op: "remove", Path: "/type"})
			},
			want: func() *corev1.Secret {
				s := baseSecret()
				s.Data = map[string][]byte{"username": []byte("u")}
				return s
			},
		},
		{
			name: "type replaced for this cluster",
			fs: func(t *testing.T) *v1alpha1.FederatedSecret {
				fs := baseFS()
				fs.Spec.Template.Data = map[string][]byte{"username": []byte("u")}
				return withOverrides(fs, "member1", v1alpha1.OverridePatch{Op: "add", Path: "/type", Value: val(t, "kubernetes.io/basic-auth")})
			},
			want: func() *corev1.Secret {
				s := baseSecret()
				s.Type = corev1.SecretTypeBasicAuth
				s.Data = map[string][]byte{"username": []byte("u")}
				return s
			},
		},
		{
			name: "immutable add then replace",
			fs: func(t *testing.T) *v1alpha1.FederatedSecret {
				return withOverrides(baseFS(), "member1",
					v1alpha1.OverridePatch{Op: "add", Path: "/immutable", Value: val(t, false)},
					v1alpha1.OverridePatch{Op: "replace", Path: "/immutable", Value: val(t, true)})
			},
			want: func() *corev1.Secret {
				s := baseSecret()
				s.Immutable = ptrTo(true)
				return s
			},
		},
		{
			name: "immutable removed",
			fs: func(t *testing.T) *v1alpha1.FederatedSecret {
				fs := baseFS()
				fs.Spec.Template.Immutable = ptrTo(true)
				return withOverrides(fs, "member1", v1alpha1.OverridePatch{Op: "remove", Path: "/immutable"})
			},
			want: baseSecret,
		},
		{
			name: "overrides apply in order",
			fs: func(t *testing.T) *v1alpha1.FederatedSecret {
				return withOverrides(baseFS(), "member1",
					v1alpha1.OverridePatch{Op: "remove", Path: "/data/password"},
					v1alpha1.OverridePatch{Op: "add", Path: "/data/password", Value: val(t, []byte("again"))})
			},
			want: func() *corev1.Secret {
				s := baseSecret()
				s.Data["password"] = []byte("again")
				return s
			},
		},

		// Failures: fixed messages, never a value.
		{
			name: "remove of a missing data key",
			fs: func(t *testing.T) *v1alpha1.FederatedSecret {
				return withOverrides(baseFS(), "member1",
					v1alpha1.OverridePatch{Op: "add", Path: "/data/a", Value: val(t, []byte(secretValue))},
					v1alpha1.OverridePatch{Op: "add", Path: "/data/b", Value: val(t, []byte(secretValue))},
					v1alpha1.OverridePatch{Op: "remove", Path: "/data/foo"})
			},
			errMsg: "override 2 (remove /data/foo): path does not exist",
		},
		{
			name: "replace of a missing label",
			fs: func(t *testing.T) *v1alpha1.FederatedSecret {
				return withOverrides(baseFS(), "member1", v1alpha1.OverridePatch{Op: "replace", Path: "/metadata/labels/nope", Value: val(t, "x")})
			},
			errMsg: "override 0 (replace /metadata/labels/nope): path does not exist",
		},
		{
			name: "replace of a missing annotation",
			fs: func(t *testing.T) *v1alpha1.FederatedSecret {
				return withOverrides(baseFS(), "member1", v1alpha1.OverridePatch{Path: "/metadata/annotations/nope", Value: val(t, "x")})
			},
			errMsg: "override 0 (replace /metadata/annotations/nope): path does not exist",
		},
		{
			name: "remove of a missing stringData key",
			fs: func(t *testing.T) *v1alpha1.FederatedSecret {
				return withOverrides(baseFS(), "member1", v1alpha1.OverridePatch{Op: "remove", Path: "/stringData/nope"})
			},
			errMsg: "override 0 (remove /stringData/nope): path does not exist",
		},
		{
			name: "data value that is not base64",
			fs: func(t *testing.T) *v1alpha1.FederatedSecret {
				return withOverrides(baseFS(), "member1", v1alpha1.OverridePatch{Op: "replace", Path: "/data/password", Value: val(t, secretValue)})
			},
			errMsg: "override 0 (replace /data/password): value must be a base64-encoded JSON string",
		},
		{
			name: "data value that is not a string",
			fs: func(t *testing.T) *v1alpha1.FederatedSecret {
				return withOverrides(baseFS(), "member1", v1alpha1.OverridePatch{Op: "replace", Path: "/data/password", Value: rawVal(`{"v":"` + secretValue + `"}`)})
			},
			errMsg: "override 0 (replace /data/password): value must be a base64-encoded JSON string",
		},
		{
			name: "data map with a non-base64 entry",
			fs: func(t *testing.T) *v1alpha1.FederatedSecret {
				return withOverrides(baseFS(), "member1", v1alpha1.OverridePatch{Op: "replace", Path: "/data", Value: val(t, map[string]string{"k": secretValue})})
			},
			errMsg: "override 0 (replace /data): value must be a JSON object of base64-encoded strings",
		},
		{
			name: "stringData value that is not a string",
			fs: func(t *testing.T) *v1alpha1.FederatedSecret {
				return withOverrides(baseFS(), "member1", v1alpha1.OverridePatch{Op: "add", Path: "/stringData/k", Value: rawVal(`[1,2]`)})
			},
			errMsg: "override 0 (add /stringData/k): value must be a JSON string",
		},
		{
			name: "labels that are not an object",
			fs: func(t *testing.T) *v1alpha1.FederatedSecret {
				return withOverrides(baseFS(), "member1", v1alpha1.OverridePatch{Op: "add", Path: "/metadata/labels", Value: rawVal(`"x"`)})
			},
			errMsg: "override 0 (add /metadata/labels): value must be a JSON object of strings",
		},
		{
			name: "immutable that is not a boolean",
			fs: func(t *testing.T) *v1alpha1.FederatedSecret {
				return withOverrides(baseFS(), "member1", v1alpha1.OverridePatch{Op: "add", Path: "/immutable", Value: rawVal(`"yes"`)})
			},
			errMsg: "override 0 (add /immutable): value must be a JSON boolean",
		},
		{
			name: "add without a value",
			fs: func(t *testing.T) *v1alpha1.FederatedSecret {
				return withOverrides(baseFS(), "member1", v1alpha1.OverridePatch{Op: "add", Path: "/data/x"})
			},
			errMsg: "override 0 (add /data/x): value is required",
		},
		{
			name: "unknown op",
			fs: func(t *testing.T) *v1alpha1.FederatedSecret {
				return withOverrides(baseFS(), "member1", v1alpha1.OverridePatch{Op: "move", Path: "/data/password"})
			},
			errMsg: "override 0 (move /data/password): unknown op",
		},
		{
			name: "malformed pointer: no leading slash",
			fs: func(t *testing.T) *v1alpha1.FederatedSecret {
				return withOverrides(baseFS(), "member1", v1alpha1.OverridePatch{Op: "remove", Path: "data/password"})
			},
			errMsg: "override 0 (remove data/password): malformed JSON pointer",
		},
		{
			name: "malformed pointer: bad escape",
			fs: func(t *testing.T) *v1alpha1.FederatedSecret {
				return withOverrides(baseFS(), "member1", v1alpha1.OverridePatch{Op: "remove", Path: "/data/a~2b"})
			},
			errMsg: "override 0 (remove /data/a~2b): malformed JSON pointer",
		},
		{
			name: "identity fields cannot be overridden",
			fs: func(t *testing.T) *v1alpha1.FederatedSecret {
				return withOverrides(baseFS(), "member1", v1alpha1.OverridePatch{Op: "replace", Path: "/metadata/name", Value: val(t, "other")})
			},
			errMsg: "override 0 (replace /metadata/name): path cannot be overridden",
		},
		{
			name: "paths below a data value do not exist",
			fs: func(t *testing.T) *v1alpha1.FederatedSecret {
				return withOverrides(baseFS(), "member1", v1alpha1.OverridePatch{Op: "add", Path: "/data/password/x", Value: val(t, "x")})
			},
			errMsg: "override 0 (add /data/password/x): path cannot be overridden",
		},
		{
			name: "override that yields an invalid Secret",
			fs: func(t *testing.T) *v1alpha1.FederatedSecret {
				return withOverrides(baseFS(), "member1", v1alpha1.OverridePatch{Op: "replace", Path: "/type", Value: val(t, "kubernetes.io/tls")})
			},
			errMsg: "rendered Secret is invalid: data[tls.crt]: Required value; data[tls.key]: Required value",
		},
		{
			name: "override that yields an invalid data key",
			fs: func(t *testing.T) *v1alpha1.FederatedSecret {
				return withOverrides(baseFS(), "member1", v1alpha1.OverridePatch{Op: "add", Path: "/data/bad key", Value: val(t, []byte(secretValue))})
			},
			errMsg: "rendered Secret is invalid: data[bad key]: Invalid value",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fs := tc.fs(t)
			before := fs.DeepCopy()
			got, err := Render(fs, "member1")
			if diff := cmp.Diff(before, fs); diff != "" {
				t.Errorf("Render modified its input (-before +after):\n%s", diff)
			}
			if tc.errMsg != "" {
				if err == nil {
					t.Fatalf("Render() succeeded, want error %q", tc.errMsg)
				}
				// The exact text matters for the fixed override messages; for
				// validation we require the prefix the validation package gives.
				if !strings.HasPrefix(err.Error(), tc.errMsg) {
					t.Errorf("Render() error = %q, want prefix %q", err, tc.errMsg)
				}
				if strings.Contains(err.Error(), secretValue) {
					t.Errorf("Render() error leaks a secret value: %q", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Render() error = %v", err)
			}
			if diff := cmp.Diff(tc.want(), got); diff != "" {
				t.Errorf("Render() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRenderErrorTypes(t *testing.T) {
	fs := withOverrides(baseFS(), "member1", v1alpha1.OverridePatch{Op: "remove", Path: "/data/foo"})
	_, err := Render(fs, "member1")
	var oe *OverrideError
	if !errors.As(err, &oe) || oe.Index != 0 || oe.Reason != reasonMissingPath {
		t.Errorf("Render() error = %#v, want an OverrideError for index 0", err)
	}

	fs = withOverrides(baseFS(), "member1", v1alpha1.OverridePatch{Op: "replace", Path: "/type", Value: rawVal(`"kubernetes.io/tls"`)})
	_, err = Render(fs, "member1")
	var ie *InvalidSecretError
	if !errors.As(err, &ie) {
		t.Errorf("Render() error = %#v, want an InvalidSecretError", err)
	}
}

// One cluster's failing override must not affect another cluster's render.
func TestRenderFailureIsPerCluster(t *testing.T) {
	fs := baseFS()
	withOverrides(fs, "broken", v1alpha1.OverridePatch{Op: "remove", Path: "/data/missing"})
	withOverrides(fs, "tls", v1alpha1.OverridePatch{Op: "replace", Path: "/type", Value: rawVal(`"kubernetes.io/tls"`)})
	withOverrides(fs, "changed", v1alpha1.OverridePatch{Op: "replace", Path: "/data/password", Value: val(t, []byte("other"))})

	for _, c := range []string{"broken", "tls"} {
		if _, err := Render(fs, c); err == nil {
			t.Errorf("Render(%s) succeeded, want an error", c)
		}
	}
	got, err := Render(fs, "plain")
	if err != nil {
		t.Fatalf("Render(plain) error = %v", err)
	}
	if diff := cmp.Diff(baseSecret(), got); diff != "" {
		t.Errorf("Render(plain) mismatch (-want +got):\n%s", diff)
	}
	got, err = Render(fs, "changed")
	if err != nil {
		t.Fatalf("Render(changed) error = %v", err)
	}
	want := baseSecret()
	want.Data["password"] = []byte("other")
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Render(changed) mismatch (-want +got):\n%s", diff)
	}
}

// The rendered Secret must not share memory with the FederatedSecret, which
// usually lives in an informer cache.
func TestRenderDoesNotAlias(t *testing.T) {
	fs := baseFS()
	got, err := Render(fs, "member1")
	if err != nil {
		t.Fatal(err)
	}
	got.Data["password"][0] = 'X'
	got.Labels["app"] = "changed"
	got.Annotations["team"] = "changed"
	if diff := cmp.Diff(baseFS(), fs); diff != "" {
		t.Errorf("mutating the rendered Secret changed the FederatedSecret (-want +got):\n%s", diff)
	}
}

func TestParsePointer(t *testing.T) {
	tests := []struct {
		in   string
		want []string
		ok   bool
	}{
		{in: "/data/a", want: []string{"data", "a"}, ok: true},
		{in: "/metadata/labels/example.com~1tier", want: []string{"metadata", "labels", "example.com/tier"}, ok: true},
		{in: "/data/a~0b", want: []string{"data", "a~b"}, ok: true},
		{in: "/data/~01", want: []string{"data", "~1"}, ok: true},
		{in: "/data/~10", want: []string{"data", "/0"}, ok: true},
		{in: ""},
		{in: "/"},
		{in: "data/a"},
		{in: "/data//a"},
		{in: "/data/a~"},
		{in: "/data/a~2"},
	}
	for _, tc := range tests {
		got, ok := validation.ParseJSONPointer(tc.in)
		if ok != tc.ok || !cmp.Equal(got, tc.want) {
			t.Errorf("ParseJSONPointer(%q) = %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}
