package render

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/secretfed/secretfed/pkg/apis/secretfed/v1alpha1"
)

func benchFS(b *testing.B) *v1alpha1.FederatedSecret {
	fs := baseFS()
	for i := 0; i < 20; i++ {
		fs.Spec.Template.Data[fmt.Sprintf("key-%d", i)] = []byte(strings.Repeat("v", 64))
	}
	withOverrides(fs, "member1",
		v1alpha1.OverridePatch{Op: "replace", Path: "/data/password", Value: val(b, []byte("other"))},
		v1alpha1.OverridePatch{Op: "add", Path: "/metadata/labels/env", Value: val(b, "prod")})
	return fs
}

func BenchmarkRender(b *testing.B) {
	fs := benchFS(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Render(fs, "member1"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkNeedsUpdate(b *testing.B) {
	fs := benchFS(b)
	desired, err := Render(fs, "member1")
	if err != nil {
		b.Fatal(err)
	}
	observed := desired.DeepCopy()
	observed.ResourceVersion = "1"
	b.ReportAllocs()
	for b.Loop() {
		if update, _ := NeedsUpdate(desired, observed); update {
			b.Fatal("unexpected update")
		}
	}
}

func BenchmarkResolvePlacement(b *testing.B) {
	clusters := make([]*v1alpha1.FederatedCluster, 0, 200)
	for i := 0; i < 200; i++ {
		env := "dev"
		if i%2 == 0 {
			env = "prod"
		}
		clusters = append(clusters, cluster(fmt.Sprintf("member%03d", i), map[string]string{"env": env}))
	}
	fs := baseFS()
	fs.Spec.Placement.ClusterSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"env": "prod"}}
	b.ReportAllocs()
	for b.Loop() {
		if placed, _ := ResolvePlacement(fs, clusters); len(placed) != 100 {
			b.Fatalf("placed %d clusters, want 100", len(placed))
		}
	}
}

// FuzzRender checks that no template and override makes Render panic, and
// that no error ever contains a secret value: neither the template's data
// (marked with a recognisable prefix) nor an override's value.
func FuzzRender(f *testing.F) {
	seeds := []struct {
		op, path, value, typ string
	}{
		{"replace", "/data/password", `"` + base64.StdEncoding.EncodeToString([]byte("x")) + `"`, "Opaque"},
		{"remove", "/data/missing", ``, "Opaque"},
		{"add", "/stringData/k", `"plain"`, "Opaque"},
		{"add", "/data", `{"a":"YQ=="}`, ""},
		{"replace", "/data", `{"a":"not base64!"}`, "Opaque"},
		{"add", "/metadata/labels/a~1b", `"v"`, "Opaque"},
		{"add", "/metadata/labels/bad label", `"v"`, "Opaque"},
		{"replace", "/metadata/annotations", `{"a":"b"}`, "Opaque"},
		{"replace", "/type", `"kubernetes.io/tls"`, "Opaque"},
		{"add", "/immutable", `true`, "Opaque"},
		{"add", "/immutable", `"SECRETMARKER-bool"`, "Opaque"},
		{"move", "/data/x", `"SECRETMARKER-op"`, "Opaque"},
		{"add", "/data/x", `"SECRETMARKER-not-base64"`, "Opaque"},
		{"add", "/data/x", `{"SECRETMARKER":1}`, "Opaque"},
		{"add", "~", `null`, "Opaque"},
		{"add", "/data/~", `"YQ=="`, "kubernetes.io/dockerconfigjson"},
		{"", "/", ``, "kubernetes.io/basic-auth"},
		{"replace", "/metadata/name", `"n"`, "Opaque"},
	}
	for _, s := range seeds {
		f.Add(s.op, s.path, []byte(s.value), s.typ, "data-key", []byte("template-value"))
	}
	f.Add("replace", "/data/password", []byte(`"SECRETMARKER-not-base64"`), "Opaque", "password", []byte("v"))
	f.Add("add", "/immutable", []byte(`"SECRETMARKER"`), "Opaque", "password", []byte("v"))
	f.Add("add", "/data", []byte(`{"k":"SECRETMARKER"}`), "Opaque", "password", []byte("v"))
	f.Fuzz(func(t *testing.T, op, path string, value []byte, typ, dataKey string, dataValue []byte) {
		const marker = "SECRETMARKER"
		fs := &v1alpha1.FederatedSecret{
			ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "n"},
			Spec: v1alpha1.FederatedSecretSpec{
				Template: v1alpha1.SecretTemplate{
					Type:       typ,
					Data:       map[string][]byte{dataKey: append([]byte(marker), dataValue...)},
					StringData: map[string]string{"s": marker + "-string"},
				},
			},
		}
		p := v1alpha1.OverridePatch{Op: v1alpha1.OverrideOp(op), Path: path}
		if value != nil {
			p.Value = &v1alpha1.OverrideValue{Raw: value}
		}
		withOverrides(fs, "member1", p)

		s, err := Render(fs, "member1")
		if err == nil {
			if s.Labels[v1alpha1.ManagedLabel] != "true" {
				t.Fatalf("rendered Secret lacks the managed label: %v", s.Labels)
			}
			return
		}
		msg := err.Error()
		// Template values may only show up if the fuzzer put the marker into
		// a name that is legitimately shown (a key, the type or the path).
		shown := dataKey + typ + path + op
		if strings.Contains(msg, marker) && !strings.Contains(shown, marker) {
			t.Fatalf("error leaks a template value: %q", msg)
		}
		if strings.Contains(string(value), marker) && strings.Contains(msg, marker) && !strings.Contains(shown, marker) {
			t.Fatalf("error leaks the override value: %q", msg)
		}
		// Override errors carry only a fixed reason, whatever the value.
		var oe *OverrideError
		var ie *InvalidSecretError
		switch {
		case errors.As(err, &oe):
			if !knownReasons[oe.Reason] {
				t.Fatalf("override error with an unexpected reason: %q", msg)
			}
		case errors.As(err, &ie):
		default:
			t.Fatalf("unexpected error type %T: %q", err, msg)
		}
	})
}

var knownReasons = map[string]bool{
	reasonMalformedPointer: true,
	reasonUnsupportedPath:  true,
	reasonMissingPath:      true,
	reasonUnknownOp:        true,
	reasonValueRequired:    true,
	reasonNotString:        true,
	reasonNotBase64:        true,
	reasonNotBool:          true,
	reasonNotStringMap:     true,
	reasonNotBase64Map:     true,
}
