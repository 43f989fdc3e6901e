package validation

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/secretfed/secretfed/pkg/apis/secretfed"
	"github.com/secretfed/secretfed/pkg/apis/secretfed/install"
)

// summarize reduces errors to "Type field" lines, sorted, so a table states
// exactly which errors are expected and where. Accepted cases expect nil.
func summarize(errs field.ErrorList) []string {
	var out []string
	for _, e := range errs {
		out = append(out, string(e.Type)+" "+e.Field)
	}
	slices.Sort(out)
	return out
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

func raw(s string) *secretfed.OverrideValue {
	return &secretfed.OverrideValue{Raw: []byte(s)}
}

// validFederatedSecret is a valid object every case starts from.
func validFederatedSecret() *secretfed.FederatedSecret {
	return &secretfed.FederatedSecret{
		ObjectMeta: metav1.ObjectMeta{Name: "db-creds", Namespace: "payments", ResourceVersion: "1"},
		Spec: secretfed.FederatedSecretSpec{
			Template: secretfed.SecretTemplate{
				Metadata: secretfed.TemplateMetadata{
					Labels:      map[string]string{"app": "payments"},
					Annotations: map[string]string{"team": "core"},
				},
				Type: "Opaque",
				Data: map[string][]byte{"password": []byte("s3cr3t")},
			},
			Placement: secretfed.Placement{
				Clusters: []secretfed.ClusterReference{{Name: "member1"}, {Name: "member2"}},
			},
			Overrides: []secretfed.ClusterOverride{{
				ClusterName: "member2",
				ClusterOverrides: []secretfed.OverridePatch{
					{Op: secretfed.OverrideOpReplace, Path: "/data/password", Value: raw(`"bmV3cGFzcw=="`)},
				},
			}},
		},
	}
}

type fsCase struct {
	name   string
	mutate func(fs *secretfed.FederatedSecret)
	want   []string
}

func runFederatedSecretCases(t *testing.T, cases []fsCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fs := validFederatedSecret()
			tc.mutate(fs)
			got := summarize(ValidateFederatedSecret(fs))
			if diff := cmp.Diff(sorted(tc.want), got); diff != "" {
				t.Errorf("ValidateFederatedSecret errors (-want +got):\n%s", diff)
			}
		})
	}
}

func withTemplate(typ string, data map[string][]byte) func(fs *secretfed.FederatedSecret) {
	return func(fs *secretfed.FederatedSecret) {
		fs.Spec.Template.Type = typ
		fs.Spec.Template.Data = data
	}
}

// withPatches replaces the overrides by one override for member2.
func withPatches(patches ...secretfed.OverridePatch) func(fs *secretfed.FederatedSecret) {
	return func(fs *secretfed.FederatedSecret) {
		fs.Spec.Overrides = []secretfed.ClusterOverride{{ClusterName: "member2", ClusterOverrides: patches}}
	}
}

func TestValidateFederatedSecretMetadata(t *testing.T) {
	runFederatedSecretCases(t, []fsCase{
		{name: "valid", mutate: func(*secretfed.FederatedSecret) {}},
		{name: "dotted name like a Secret's", mutate: func(fs *secretfed.FederatedSecret) { fs.Name = "db.creds-v2" }},
		{name: "253-character name", mutate: func(fs *secretfed.FederatedSecret) { fs.Name = strings.Repeat("a", 253) }},
		{name: "missing name", mutate: func(fs *secretfed.FederatedSecret) { fs.Name = "" },
			want: []string{"FieldValueRequired metadata.name"}},
		{name: "uppercase name", mutate: func(fs *secretfed.FederatedSecret) { fs.Name = "DB" },
			want: []string{"FieldValueInvalid metadata.name"}},
		{name: "254-character name", mutate: func(fs *secretfed.FederatedSecret) { fs.Name = strings.Repeat("a", 254) },
			want: []string{"FieldValueInvalid metadata.name"}},
		{name: "missing namespace", mutate: func(fs *secretfed.FederatedSecret) { fs.Namespace = "" },
			want: []string{"FieldValueRequired metadata.namespace"}},
		{name: "invalid object label", mutate: func(fs *secretfed.FederatedSecret) { fs.Labels = map[string]string{"a b": "c"} },
			want: []string{"FieldValueInvalid metadata.labels"}},
	})
}

func TestValidateTemplateMetadata(t *testing.T) {
	runFederatedSecretCases(t, []fsCase{
		{name: "prefixed label and annotation keys", mutate: func(fs *secretfed.FederatedSecret) {
			fs.Spec.Template.Metadata.Labels = map[string]string{"example.com/tier": "db", "env": ""}
			fs.Spec.Template.Metadata.Annotations = map[string]string{"Example.com/Owner": "anything goes: here"}
		}},
		{name: "no labels or annotations", mutate: func(fs *secretfed.FederatedSecret) {
			fs.Spec.Template.Metadata = secretfed.TemplateMetadata{}
		}},
		{name: "invalid label key", mutate: func(fs *secretfed.FederatedSecret) {
			fs.Spec.Template.Metadata.Labels = map[string]string{"-bad": "x"}
		}, want: []string{"FieldValueInvalid spec.template.metadata.labels"}},
		{name: "invalid label value", mutate: func(fs *secretfed.FederatedSecret) {
			fs.Spec.Template.Metadata.Labels = map[string]string{"app": "has space"}
		}, want: []string{"FieldValueInvalid spec.template.metadata.labels"}},
		{name: "invalid annotation key", mutate: func(fs *secretfed.FederatedSecret) {
			fs.Spec.Template.Metadata.Annotations = map[string]string{"a/b/c": "x"}
		}, want: []string{"FieldValueInvalid spec.template.metadata.annotations"}},
		{name: "annotations over 256 KiB", mutate: func(fs *secretfed.FederatedSecret) {
			fs.Spec.Template.Metadata.Annotations = map[string]string{"big": strings.Repeat("x", 256*1024)}
		}, want: []string{"FieldValueTooLong spec.template.metadata.annotations"}},
	})
}

func TestValidateTemplateData(t *testing.T) {
	runFederatedSecretCases(t, []fsCase{
		{name: "config-map style keys", mutate: withTemplate("Opaque", map[string][]byte{
			".hidden": nil, "KEY_NAME": []byte("v"), "key-name.txt": []byte("v"),
		})},
		{name: "no data", mutate: withTemplate("Opaque", nil)},
		{name: "exactly 1 MiB", mutate: withTemplate("Opaque", map[string][]byte{
			"a": make([]byte, MaxSecretSize/2), "b": make([]byte, MaxSecretSize/2),
		})},
		{name: "key with a slash", mutate: withTemplate("Opaque", map[string][]byte{"a/b": nil}),
			want: []string{"FieldValueInvalid spec.template.data[a/b]"}},
		{name: "key '..'", mutate: withTemplate("Opaque", map[string][]byte{"..": nil}),
			want: []string{"FieldValueInvalid spec.template.data[..]"}},
		{name: "empty key", mutate: withTemplate("Opaque", map[string][]byte{"": nil}),
			want: []string{"FieldValueInvalid spec.template.data[]"}},
		{name: "254-character key", mutate: withTemplate("Opaque", map[string][]byte{strings.Repeat("k", 254): nil}),
			want: []string{"FieldValueInvalid spec.template.data[" + strings.Repeat("k", 254) + "]"}},
		{name: "one byte over 1 MiB in total", mutate: withTemplate("Opaque", map[string][]byte{
			"a": make([]byte, MaxSecretSize/2), "b": make([]byte, MaxSecretSize/2+1),
		}), want: []string{"FieldValueTooLong spec.template.data"}},
	})
}

func TestValidateTemplateType(t *testing.T) {
	pw := map[string][]byte{"password": []byte("x")}
	runFederatedSecretCases(t, []fsCase{
		{name: "Opaque", mutate: withTemplate("Opaque", pw)},
		{name: "custom type is free-form", mutate: withTemplate("example.com/anything at all", pw)},
		{name: "bootstrap token type has no rules here", mutate: withTemplate("bootstrap.kubernetes.io/token", pw)},
		{name: "253-character type", mutate: withTemplate(strings.Repeat("t", 253), pw)},
		{name: "empty type", mutate: withTemplate("", pw),
			want: []string{"FieldValueRequired spec.template.type"}},
		{name: "254-character type", mutate: withTemplate(strings.Repeat("t", 254), pw),
			want: []string{"FieldValueTooLong spec.template.type"}},

		{name: "service-account-token with its annotation", mutate: func(fs *secretfed.FederatedSecret) {
			fs.Spec.Template.Type = "kubernetes.io/service-account-token"
			fs.Spec.Template.Metadata.Annotations = map[string]string{"kubernetes.io/service-account.name": "builder"}
		}},
		{name: "service-account-token without annotation", mutate: withTemplate("kubernetes.io/service-account-token", pw),
			want: []string{"FieldValueRequired spec.template.metadata.annotations[kubernetes.io/service-account.name]"}},
		{name: "service-account-token with empty annotation", mutate: func(fs *secretfed.FederatedSecret) {
			fs.Spec.Template.Type = "kubernetes.io/service-account-token"
			fs.Spec.Template.Metadata.Annotations = map[string]string{"kubernetes.io/service-account.name": ""}
		}, want: []string{"FieldValueRequired spec.template.metadata.annotations[kubernetes.io/service-account.name]"}},

		{name: "dockercfg", mutate: withTemplate("kubernetes.io/dockercfg", map[string][]byte{".dockercfg": []byte(`{"registry.example":{"auth":"eDp5"}}`)})},
		{name: "dockercfg without key", mutate: withTemplate("kubernetes.io/dockercfg", pw),
			want: []string{"FieldValueRequired spec.template.data[.dockercfg]"}},
		{name: "dockercfg not JSON", mutate: withTemplate("kubernetes.io/dockercfg", map[string][]byte{".dockercfg": []byte(`{`)}),
			want: []string{"FieldValueInvalid spec.template.data[.dockercfg]"}},

		{name: "dockerconfigjson", mutate: withTemplate("kubernetes.io/dockerconfigjson", map[string][]byte{".dockerconfigjson": []byte(`{"auths":{}}`)})},
		{name: "dockerconfigjson without key", mutate: withTemplate("kubernetes.io/dockerconfigjson", map[string][]byte{".dockercfg": []byte(`{}`)}),
			want: []string{"FieldValueRequired spec.template.data[.dockerconfigjson]"}},
		{name: "dockerconfigjson not JSON", mutate: withTemplate("kubernetes.io/dockerconfigjson", map[string][]byte{".dockerconfigjson": []byte(`auths: {}`)}),
			want: []string{"FieldValueInvalid spec.template.data[.dockerconfigjson]"}},
		{name: "dockerconfigjson a JSON array", mutate: withTemplate("kubernetes.io/dockerconfigjson", map[string][]byte{".dockerconfigjson": []byte(`[]`)}),
			want: []string{"FieldValueInvalid spec.template.data[.dockerconfigjson]"}},

		{name: "basic-auth with username only", mutate: withTemplate("kubernetes.io/basic-auth", map[string][]byte{"username": []byte("admin")})},
		{name: "basic-auth with empty password only", mutate: withTemplate("kubernetes.io/basic-auth", map[string][]byte{"password": nil})},
		{name: "basic-auth with neither", mutate: withTemplate("kubernetes.io/basic-auth", map[string][]byte{"user": []byte("admin")}),
			want: []string{"FieldValueRequired spec.template.data[password]", "FieldValueRequired spec.template.data[username]"}},

		{name: "ssh-auth", mutate: withTemplate("kubernetes.io/ssh-auth", map[string][]byte{"ssh-privatekey": []byte("k")})},
		{name: "ssh-auth without key", mutate: withTemplate("kubernetes.io/ssh-auth", pw),
			want: []string{"FieldValueRequired spec.template.data[ssh-privatekey]"}},
		{name: "ssh-auth with empty key", mutate: withTemplate("kubernetes.io/ssh-auth", map[string][]byte{"ssh-privatekey": nil}),
			want: []string{"FieldValueRequired spec.template.data[ssh-privatekey]"}},

		{name: "tls", mutate: withTemplate("kubernetes.io/tls", map[string][]byte{"tls.crt": []byte("c"), "tls.key": []byte("k")})},
		{name: "tls without key", mutate: withTemplate("kubernetes.io/tls", map[string][]byte{"tls.crt": []byte("c")}),
			want: []string{"FieldValueRequired spec.template.data[tls.key]"}},
		{name: "tls with neither", mutate: withTemplate("kubernetes.io/tls", pw),
			want: []string{"FieldValueRequired spec.template.data[tls.crt]", "FieldValueRequired spec.template.data[tls.key]"}},
	})
}

// The propagation loop validates rendered member Secrets with its own path.
func TestValidateSecretContentPaths(t *testing.T) {
	cases := []struct {
		name    string
		fldPath *field.Path
		want    []string
	}{
		{name: "no path prefix", fldPath: nil, want: []string{
			"FieldValueInvalid data[a b]", "FieldValueInvalid metadata.labels",
			"FieldValueRequired data[tls.crt]", "FieldValueRequired data[tls.key]",
		}},
		{name: "rendered-secret prefix", fldPath: field.NewPath("clusters").Key("member1"), want: []string{
			"FieldValueInvalid clusters[member1].data[a b]", "FieldValueInvalid clusters[member1].metadata.labels",
			"FieldValueRequired clusters[member1].data[tls.crt]", "FieldValueRequired clusters[member1].data[tls.key]",
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			errs := ValidateSecretContent("kubernetes.io/tls", map[string][]byte{"a b": nil}, map[string]string{"-": "x"}, nil, tc.fldPath)
			if diff := cmp.Diff(sorted(tc.want), summarize(errs)); diff != "" {
				t.Errorf("ValidateSecretContent errors (-want +got):\n%s", diff)
			}
		})
	}
	if errs := ValidateSecretContent("Opaque", map[string][]byte{"k": []byte("v")}, nil, nil, nil); len(errs) != 0 {
		t.Errorf("valid rendered Secret: unexpected errors %v", errs)
	}
}

func TestValidatePlacement(t *testing.T) {
	clusters := func(names ...string) func(fs *secretfed.FederatedSecret) {
		return func(fs *secretfed.FederatedSecret) {
			fs.Spec.Overrides = nil
			fs.Spec.Placement.Clusters = nil
			for _, n := range names {
				fs.Spec.Placement.Clusters = append(fs.Spec.Placement.Clusters, secretfed.ClusterReference{Name: n})
			}
		}
	}
	selector := func(sel *metav1.LabelSelector) func(fs *secretfed.FederatedSecret) {
		return func(fs *secretfed.FederatedSecret) {
			fs.Spec.Placement = secretfed.Placement{ClusterSelector: sel}
		}
	}
	runFederatedSecretCases(t, []fsCase{
		{name: "no placement", mutate: func(fs *secretfed.FederatedSecret) { fs.Spec.Placement = secretfed.Placement{} }},
		{name: "empty clusters list", mutate: func(fs *secretfed.FederatedSecret) {
			fs.Spec.Placement = secretfed.Placement{Clusters: []secretfed.ClusterReference{}}
		}},
		{name: "dotted cluster name", mutate: clusters("eu.member1")},
		{name: "empty selector selects all", mutate: selector(&metav1.LabelSelector{})},
		{name: "selector with labels and expressions", mutate: selector(&metav1.LabelSelector{
			MatchLabels: map[string]string{"env": "prod"},
			MatchExpressions: []metav1.LabelSelectorRequirement{
				{Key: "region", Operator: metav1.LabelSelectorOpIn, Values: []string{"eu", "us"}},
				{Key: "example.com/canary", Operator: metav1.LabelSelectorOpDoesNotExist},
			},
		})},
		{name: "missing cluster name", mutate: clusters("member1", ""),
			want: []string{"FieldValueRequired spec.placement.clusters[1].name"}},
		{name: "invalid cluster name", mutate: clusters("Member_1"),
			want: []string{"FieldValueInvalid spec.placement.clusters[0].name"}},
		{name: "duplicate cluster name", mutate: clusters("member1", "member2", "member1"),
			want: []string{"FieldValueDuplicate spec.placement.clusters[2].name"}},
		{name: "selector with invalid label value", mutate: selector(&metav1.LabelSelector{MatchLabels: map[string]string{"env": "not ok"}}),
			want: []string{"FieldValueInvalid spec.placement.clusterSelector.matchLabels"}},
		{name: "selector with unknown operator", mutate: selector(&metav1.LabelSelector{
			MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "env", Operator: "Like", Values: []string{"p"}}},
		}), want: []string{"FieldValueInvalid spec.placement.clusterSelector.matchExpressions[0].operator"}},
		{name: "selector In without values", mutate: selector(&metav1.LabelSelector{
			MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "env", Operator: metav1.LabelSelectorOpIn}},
		}), want: []string{"FieldValueRequired spec.placement.clusterSelector.matchExpressions[0].values"}},
	})
}

func TestValidateOverrideClusterNames(t *testing.T) {
	override := func(names ...string) func(fs *secretfed.FederatedSecret) {
		return func(fs *secretfed.FederatedSecret) {
			fs.Spec.Overrides = nil
			for _, n := range names {
				fs.Spec.Overrides = append(fs.Spec.Overrides, secretfed.ClusterOverride{ClusterName: n})
			}
		}
	}
	runFederatedSecretCases(t, []fsCase{
		{name: "no overrides", mutate: override()},
		{name: "distinct clusters", mutate: override("member1", "member2")},
		{name: "override without patches", mutate: override("member1")},
		{name: "missing cluster name", mutate: override("member1", ""),
			want: []string{"FieldValueRequired spec.overrides[1].clusterName"}},
		{name: "invalid cluster name", mutate: override("member 1"),
			want: []string{"FieldValueInvalid spec.overrides[0].clusterName"}},
		{name: "same cluster twice", mutate: override("member1", "member2", "member1"),
			want: []string{"FieldValueDuplicate spec.overrides[2].clusterName"}},
		{name: "same cluster three times", mutate: override("member1", "member1", "member1"),
			want: []string{"FieldValueDuplicate spec.overrides[1].clusterName", "FieldValueDuplicate spec.overrides[2].clusterName"}},
	})
}

func TestValidateOverrideOps(t *testing.T) {
	p0 := "spec.overrides[0].clusterOverrides[0]"
	runFederatedSecretCases(t, []fsCase{
		{name: "add", mutate: withPatches(secretfed.OverridePatch{Op: "add", Path: "/data/x", Value: raw(`"eA=="`)})},
		{name: "replace", mutate: withPatches(secretfed.OverridePatch{Op: "replace", Path: "/data/x", Value: raw(`"eA=="`)})},
		{name: "remove", mutate: withPatches(secretfed.OverridePatch{Op: "remove", Path: "/data/x"})},
		{name: "remove with explicit null value", mutate: withPatches(secretfed.OverridePatch{Op: "remove", Path: "/data/x", Value: raw(`null`)})},
		{name: "unknown op", mutate: withPatches(secretfed.OverridePatch{Op: "move", Path: "/data/x", Value: raw(`"eA=="`)}),
			want: []string{"FieldValueNotSupported " + p0 + ".op"}},
		{name: "op is case-sensitive", mutate: withPatches(secretfed.OverridePatch{Op: "Replace", Path: "/data/x", Value: raw(`"eA=="`)}),
			want: []string{"FieldValueNotSupported " + p0 + ".op"}},
		{name: "empty op (not defaulted)", mutate: withPatches(secretfed.OverridePatch{Path: "/data/x", Value: raw(`"eA=="`)}),
			want: []string{"FieldValueRequired " + p0 + ".op"}},
		{name: "unknown op and bad path both reported", mutate: withPatches(secretfed.OverridePatch{Op: "copy", Path: "data"}),
			want: []string{"FieldValueNotSupported " + p0 + ".op", "FieldValueInvalid " + p0 + ".path"}},
	})
}

func TestValidateOverridePaths(t *testing.T) {
	p := func(i int) string { return fmt.Sprintf("spec.overrides[0].clusterOverrides[%d].path", i) }
	rm := func(paths ...string) func(fs *secretfed.FederatedSecret) {
		var patches []secretfed.OverridePatch
		for _, path := range paths {
			patches = append(patches, secretfed.OverridePatch{Op: secretfed.OverrideOpRemove, Path: path})
		}
		return withPatches(patches...)
	}
	runFederatedSecretCases(t, []fsCase{
		{name: "every supported path", mutate: rm(
			"/data", "/data/password", "/stringData", "/stringData/user",
			"/metadata/labels", "/metadata/labels/app", "/metadata/labels/example.com~1tier",
			"/metadata/annotations", "/metadata/annotations/team", "/metadata/annotations/Example.com~1Owner",
			"/type", "/immutable",
		)},

		{name: "empty path", mutate: rm(""), want: []string{"FieldValueRequired " + p(0)}},
		{name: "no leading slash", mutate: rm("data/password"), want: []string{"FieldValueInvalid " + p(0)}},
		{name: "root pointer", mutate: rm("/"), want: []string{"FieldValueInvalid " + p(0)}},
		{name: "trailing slash", mutate: rm("/data/"), want: []string{"FieldValueInvalid " + p(0)}},
		{name: "empty token in the middle", mutate: rm("/metadata//labels"), want: []string{"FieldValueInvalid " + p(0)}},
		{name: "tilde followed by 2", mutate: rm("/data/a~2b"), want: []string{"FieldValueInvalid " + p(0)}},
		{name: "lone tilde at the end", mutate: rm("/data/a~"), want: []string{"FieldValueInvalid " + p(0)}},
		{name: "URI fragment form", mutate: rm("#/data/a"), want: []string{"FieldValueInvalid " + p(0)}},

		{name: "metadata name", mutate: rm("/metadata/name"), want: []string{"FieldValueForbidden " + p(0)}},
		{name: "under metadata name", mutate: rm("/metadata/name/x"), want: []string{"FieldValueForbidden " + p(0)}},
		{name: "metadata namespace", mutate: rm("/metadata/namespace"), want: []string{"FieldValueForbidden " + p(0)}},
		{name: "metadata generateName", mutate: rm("/metadata/generateName"), want: []string{"FieldValueForbidden " + p(0)}},
		{name: "kind", mutate: rm("/kind"), want: []string{"FieldValueForbidden " + p(0)}},
		{name: "apiVersion", mutate: rm("/apiVersion"), want: []string{"FieldValueForbidden " + p(0)}},
		{name: "under apiVersion", mutate: rm("/apiVersion/x"), want: []string{"FieldValueForbidden " + p(0)}},

		{name: "whole metadata", mutate: rm("/metadata"), want: []string{"FieldValueNotSupported " + p(0)}},
		{name: "metadata uid", mutate: rm("/metadata/uid"), want: []string{"FieldValueNotSupported " + p(0)}},
		{name: "metadata finalizers", mutate: rm("/metadata/finalizers/0"), want: []string{"FieldValueNotSupported " + p(0)}},
		{name: "too deep under data", mutate: rm("/data/a/b"), want: []string{"FieldValueNotSupported " + p(0)}},
		{name: "under type", mutate: rm("/type/x"), want: []string{"FieldValueNotSupported " + p(0)}},
		{name: "spec-style path", mutate: rm("/spec/template/data/x"), want: []string{"FieldValueNotSupported " + p(0)}},
		{name: "case matters", mutate: rm("/Data/x"), want: []string{"FieldValueNotSupported " + p(0)}},
		{name: "escaped name is not metadata name", mutate: rm("/metadata/name~1x"), want: []string{"FieldValueNotSupported " + p(0)}},

		{name: "data key with escaped slash", mutate: rm("/data/a~1b"), want: []string{"FieldValueInvalid " + p(0)}},
		{name: "data key with escaped tilde", mutate: rm("/data/a~0b"), want: []string{"FieldValueInvalid " + p(0)}},
		{name: "data key with a space", mutate: rm("/data/a b"), want: []string{"FieldValueInvalid " + p(0)}},
		{name: "stringData key ..", mutate: rm("/stringData/.."), want: []string{"FieldValueInvalid " + p(0)}},
		{name: "label key with two slashes", mutate: rm("/metadata/labels/a~1b~1c"), want: []string{"FieldValueInvalid " + p(0)}},
		{name: "label key uppercase prefix", mutate: rm("/metadata/labels/Example.com~1x"), want: []string{"FieldValueInvalid " + p(0)}},
		{name: "annotation key invalid", mutate: rm("/metadata/annotations/-x"), want: []string{"FieldValueInvalid " + p(0)}},

		{name: "same path twice", mutate: rm("/data/password", "/type", "/data/password"),
			want: []string{"FieldValueDuplicate " + p(2)}},
		{name: "same path in different clusters is fine", mutate: func(fs *secretfed.FederatedSecret) {
			rm := []secretfed.OverridePatch{{Op: secretfed.OverrideOpRemove, Path: "/type"}}
			fs.Spec.Overrides = []secretfed.ClusterOverride{
				{ClusterName: "member1", ClusterOverrides: rm},
				{ClusterName: "member2", ClusterOverrides: rm},
			}
		}},
		{name: "same malformed path twice", mutate: rm("data", "data"),
			want: []string{"FieldValueInvalid " + p(0), "FieldValueInvalid " + p(1), "FieldValueDuplicate " + p(1)}},
		{name: "errors in the second override", mutate: func(fs *secretfed.FederatedSecret) {
			fs.Spec.Overrides = append(fs.Spec.Overrides, secretfed.ClusterOverride{
				ClusterName: "member1",
				ClusterOverrides: []secretfed.OverridePatch{
					{Op: secretfed.OverrideOpRemove, Path: "/type"},
					{Op: secretfed.OverrideOpRemove, Path: "/data/~"},
				},
			})
		}, want: []string{"FieldValueInvalid spec.overrides[1].clusterOverrides[1].path"}},
	})
}

func TestValidateOverrideValues(t *testing.T) {
	v := "spec.overrides[0].clusterOverrides[0].value"
	set := func(path, value string) func(fs *secretfed.FederatedSecret) {
		return withPatches(secretfed.OverridePatch{Op: secretfed.OverrideOpAdd, Path: path, Value: raw(value)})
	}
	runFederatedSecretCases(t, []fsCase{
		{name: "data key base64", mutate: set("/data/password", `"bmV3cGFzcw=="`)},
		{name: "data key empty string", mutate: set("/data/password", `""`)},
		{name: "stringData key string", mutate: set("/stringData/user", `"admin"`)},
		{name: "label key string", mutate: set("/metadata/labels/env", `"prod"`)},
		{name: "annotation key string", mutate: set("/metadata/annotations/team", `"any text: at all"`)},
		{name: "type string", mutate: set("/type", `"kubernetes.io/basic-auth"`)},
		{name: "immutable true", mutate: set("/immutable", `true`)},
		{name: "immutable false with spaces", mutate: set("/immutable", ` false `)},
		{name: "whole data map", mutate: set("/data", `{"a":"YQ==","b":""}`)},
		{name: "whole stringData map", mutate: set("/stringData", `{"a":"x"}`)},
		{name: "whole labels map", mutate: set("/metadata/labels", `{"example.com/tier":"db"}`)},
		{name: "whole annotations map", mutate: set("/metadata/annotations", `{}`)},
		{name: "replace needs a value too", mutate: withPatches(secretfed.OverridePatch{Op: "replace", Path: "/type", Value: raw(`"Opaque"`)})},

		{name: "add without value", mutate: withPatches(secretfed.OverridePatch{Op: "add", Path: "/data/x"}),
			want: []string{"FieldValueRequired " + v}},
		{name: "replace with null", mutate: withPatches(secretfed.OverridePatch{Op: "replace", Path: "/data/x", Value: raw(" null ")}),
			want: []string{"FieldValueRequired " + v}},
		{name: "replace with empty raw", mutate: withPatches(secretfed.OverridePatch{Op: "replace", Path: "/data/x", Value: raw("")}),
			want: []string{"FieldValueRequired " + v}},
		{name: "remove with value", mutate: withPatches(secretfed.OverridePatch{Op: "remove", Path: "/data/x", Value: raw(`"eA=="`)}),
			want: []string{"FieldValueForbidden " + v}},
		{name: "invalid JSON", mutate: set("/stringData/x", `"unterminated`),
			want: []string{"FieldValueInvalid " + v}},
		{name: "data key not base64", mutate: set("/data/password", `"not base64!"`),
			want: []string{"FieldValueInvalid " + v}},
		{name: "data key unpadded base64", mutate: set("/data/password", `"YQ"`),
			want: []string{"FieldValueInvalid " + v}},
		{name: "data key a number", mutate: set("/data/password", `42`),
			want: []string{"FieldValueInvalid " + v}},
		{name: "stringData key an object", mutate: set("/stringData/user", `{"a":"b"}`),
			want: []string{"FieldValueInvalid " + v}},
		{name: "label key a boolean", mutate: set("/metadata/labels/env", `true`),
			want: []string{"FieldValueInvalid " + v}},
		{name: "annotation key a number", mutate: set("/metadata/annotations/team", `1`),
			want: []string{"FieldValueInvalid " + v}},
		{name: "type an array", mutate: set("/type", `["Opaque"]`),
			want: []string{"FieldValueInvalid " + v}},
		{name: "immutable a string", mutate: set("/immutable", `"true"`),
			want: []string{"FieldValueInvalid " + v}},
		{name: "whole data map not an object", mutate: set("/data", `"YQ=="`),
			want: []string{"FieldValueInvalid " + v}},
		{name: "whole data map with bad key and bad value", mutate: set("/data", `{"a b":"YQ==","c":"!!"}`),
			want: []string{"FieldValueInvalid " + v + "[a b]", "FieldValueInvalid " + v + "[c]"}},
		{name: "whole stringData map with non-string", mutate: set("/stringData", `{"a":1}`),
			want: []string{"FieldValueInvalid " + v + "[a]"}},
		{name: "whole labels map with bad key", mutate: set("/metadata/labels", `{"a/b/c":"x"}`),
			want: []string{"FieldValueInvalid " + v + "[a/b/c]"}},
		{name: "whole annotations map with non-string", mutate: set("/metadata/annotations", `{"team":null}`),
			want: []string{"FieldValueInvalid " + v + "[team]"}},
		{name: "no value rules for an unsupported path", mutate: set("/metadata/uid", `1`),
			want: []string{"FieldValueNotSupported spec.overrides[0].clusterOverrides[0].path"}},
	})
}

func TestParseJSONPointer(t *testing.T) {
	cases := []struct {
		pointer string
		want    []string
		ok      bool
	}{
		{pointer: "/data/password", want: []string{"data", "password"}, ok: true},
		{pointer: "/metadata/labels/example.com~1tier", want: []string{"metadata", "labels", "example.com/tier"}, ok: true},
		{pointer: "/a~0b", want: []string{"a~b"}, ok: true},
		{pointer: "/a~01", want: []string{"a~1"}, ok: true},
		{pointer: "/~1~0", want: []string{"/~"}, ok: true},
		{pointer: "", ok: false},
		{pointer: "/", ok: false},
		{pointer: "data", ok: false},
		{pointer: "/a//b", ok: false},
		{pointer: "/a~", ok: false},
		{pointer: "/a~x", ok: false},
	}
	for _, tc := range cases {
		t.Run(tc.pointer, func(t *testing.T) {
			got, ok := ParseJSONPointer(tc.pointer)
			if ok != tc.ok {
				t.Fatalf("ParseJSONPointer(%q) ok = %v, want %v", tc.pointer, ok, tc.ok)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("ParseJSONPointer(%q) tokens (-want +got):\n%s", tc.pointer, diff)
			}
		})
	}
}

// TestAPIExampleIsValid is the FederatedSecret of API.md as the server sees
// it after decoding: defaulted, and with stringData folded into data.
func TestAPIExampleIsValid(t *testing.T) {
	fs := &secretfed.FederatedSecret{
		ObjectMeta: metav1.ObjectMeta{
			Name:      "db-creds",
			Namespace: "payments",
			Annotations: map[string]string{
				"secretfed.io/orphan": "true",
				"secretfed.io/adopt":  "true",
			},
		},
		Spec: secretfed.FederatedSecretSpec{
			Template: secretfed.SecretTemplate{
				Metadata: secretfed.TemplateMetadata{
					Labels:      map[string]string{"app": "payments"},
					Annotations: map[string]string{"team": "core"},
				},
				Type:      "Opaque",
				Data:      map[string][]byte{"password": []byte("s3cr3t"), "user": []byte("admin")},
				Immutable: new(bool),
			},
			Placement: secretfed.Placement{
				Clusters:        []secretfed.ClusterReference{{Name: "member1"}},
				ClusterSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"env": "prod"}},
			},
			Overrides: []secretfed.ClusterOverride{{
				ClusterName: "member2",
				ClusterOverrides: []secretfed.OverridePatch{
					{Op: secretfed.OverrideOpReplace, Path: "/data/password", Value: raw(`"bmV3cGFzcw=="`)},
				},
			}},
		},
	}
	if diff := cmp.Diff([]string(nil), summarize(ValidateFederatedSecret(fs))); diff != "" {
		t.Errorf("API.md example rejected (-want +got):\n%s", diff)
	}

	fc := &secretfed.FederatedCluster{
		ObjectMeta: metav1.ObjectMeta{Name: "member1", Labels: map[string]string{"env": "prod", "region": "eu"}},
		Spec: secretfed.FederatedClusterSpec{
			APIEndpoint: "https://10.1.2.3:6443",
			CABundle:    testCABundle(t),
			SecretRef:   secretfed.LocalSecretReference{Name: "member1-credentials"},
		},
	}
	if diff := cmp.Diff([]string(nil), summarize(ValidateFederatedCluster(fc))); diff != "" {
		t.Errorf("API.md cluster example rejected (-want +got):\n%s", diff)
	}
}

// apiExampleYAML is the FederatedSecret of API.md, as a user writes it.
const apiExampleYAML = `
apiVersion: secretfed.io/v1alpha1
kind: FederatedSecret
metadata:
  name: db-creds
  namespace: payments
  annotations:
    secretfed.io/orphan: "true"
    secretfed.io/adopt: "true"
spec:
  template:
    metadata:
      labels: {app: payments}
      annotations: {team: core}
    type: Opaque
    data: {password: czNjcjN0}
    stringData: {user: admin}
    immutable: false
  placement:
    clusters:
    - name: member1
    clusterSelector:
      matchLabels: {env: prod}
  overrides:
  - clusterName: member2
    clusterOverrides:
    - op: replace
      path: /data/password
      value: bmV3cGFzcw==
`

// TestAPIExampleDecodedIsValid runs the API.md example through the real
// decoder (defaulting, stringData folding) before validating it.
func TestAPIExampleDecodedIsValid(t *testing.T) {
	scheme := runtime.NewScheme()
	install.Install(scheme)
	obj, _, err := serializer.NewCodecFactory(scheme).UniversalDecoder(secretfed.SchemeGroupVersion).Decode([]byte(apiExampleYAML), nil, nil)
	if err != nil {
		t.Fatalf("decoding the API.md example: %v", err)
	}
	fs, ok := obj.(*secretfed.FederatedSecret)
	if !ok {
		t.Fatalf("decoded %T, want *secretfed.FederatedSecret", obj)
	}
	if diff := cmp.Diff(map[string][]byte{"password": []byte("s3cr3t"), "user": []byte("admin")}, fs.Spec.Template.Data); diff != "" {
		t.Errorf("template data after decoding (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string(nil), summarize(ValidateFederatedSecret(fs))); diff != "" {
		t.Errorf("API.md example rejected (-want +got):\n%s", diff)
	}
	// The JSON value of the override is kept for validation; the base64 text
	// "bmV3cGFzcw==" is a valid YAML plain scalar string.
	if diff := cmp.Diff(`"bmV3cGFzcw=="`, string(fs.Spec.Overrides[0].ClusterOverrides[0].Value.Raw)); diff != "" {
		t.Errorf("override value (-want +got):\n%s", diff)
	}
}

// secretMarker stands for a secret value; no error may contain it in any form.
const secretMarker = "Zx9-SECRET-VALUE-do-not-echo-7Qk"

// secretForms are the ways a value could leak into an error message: as is,
// base64-encoded (how []byte marshals to JSON) and as a Go byte slice.
func secretForms(secret string) []string {
	return []string{
		secret,
		base64.StdEncoding.EncodeToString([]byte(secret)),
		fmt.Sprintf("%v", []byte(secret)),
		fmt.Sprintf("%#v", []byte(secret)),
	}
}

func assertNoSecret(t *testing.T, errs field.ErrorList, secret string) {
	t.Helper()
	var texts []string
	if agg := errs.ToAggregate(); agg != nil {
		texts = append(texts, agg.Error())
	}
	for _, e := range errs {
		texts = append(texts, e.Error(), fmt.Sprintf("%#v", e.BadValue), e.Detail)
	}
	for _, text := range texts {
		for _, form := range secretForms(secret) {
			if strings.Contains(text, form) {
				t.Fatalf("an error echoes a secret value:\n%s", text)
			}
		}
	}
}

func TestErrorsNeverEchoSecretValues(t *testing.T) {
	s := secretMarker
	b64 := base64.StdEncoding.EncodeToString([]byte(s))
	cases := []struct {
		name   string
		mutate func(fs *secretfed.FederatedSecret)
	}{
		{name: "dockerconfigjson not JSON", mutate: withTemplate("kubernetes.io/dockerconfigjson", map[string][]byte{".dockerconfigjson": []byte(`{"auths": ` + s)})},
		{name: "dockerconfigjson bad character", mutate: withTemplate("kubernetes.io/dockerconfigjson", map[string][]byte{".dockerconfigjson": []byte(s)})},
		{name: "dockerconfigjson a JSON string", mutate: withTemplate("kubernetes.io/dockerconfigjson", map[string][]byte{".dockerconfigjson": []byte(`"` + s + `"`)})},
		{name: "dockercfg with overflowing number", mutate: withTemplate("kubernetes.io/dockercfg", map[string][]byte{".dockercfg": []byte(`{"` + s + `": 1e999}`)})},
		{name: "data too large", mutate: withTemplate("Opaque", map[string][]byte{"k": []byte(strings.Repeat(s, MaxSecretSize/len(s)+1))})},
		{name: "invalid key beside a secret value", mutate: withTemplate("Opaque", map[string][]byte{"bad key": []byte(s)})},
		{name: "tls with missing key", mutate: withTemplate("kubernetes.io/tls", map[string][]byte{"tls.crt": []byte(s)})},
		{name: "override data not base64", mutate: withPatches(secretfed.OverridePatch{Op: "add", Path: "/data/x", Value: raw(`"` + s + `"`)})},
		{name: "override data a number-like secret", mutate: withPatches(secretfed.OverridePatch{Op: "add", Path: "/data/x", Value: raw(`{"v":"` + s + `"}`)})},
		{name: "override data invalid JSON", mutate: withPatches(secretfed.OverridePatch{Op: "add", Path: "/data/x", Value: raw(s)})},
		{name: "override data base64 value with remove", mutate: withPatches(secretfed.OverridePatch{Op: "remove", Path: "/data/x", Value: raw(`"` + b64 + `"`)})},
		{name: "override stringData not a string", mutate: withPatches(secretfed.OverridePatch{Op: "replace", Path: "/stringData/x", Value: raw(`["` + s + `"]`)})},
		{name: "override stringData with unknown op", mutate: withPatches(secretfed.OverridePatch{Op: "test", Path: "/stringData/x", Value: raw(`"` + s + `"`)})},
		{name: "override stringData at a forbidden path", mutate: withPatches(secretfed.OverridePatch{Op: "add", Path: "/metadata/name", Value: raw(`"` + s + `"`)})},
		{name: "override whole data map", mutate: withPatches(secretfed.OverridePatch{Op: "add", Path: "/data", Value: raw(`{"k":"` + s + `","bad key":"` + b64 + `"}`)})},
		{name: "override whole stringData map", mutate: withPatches(secretfed.OverridePatch{Op: "add", Path: "/stringData", Value: raw(`{"k":{"x":"` + s + `"}}`)})},
		{name: "override whole data not an object", mutate: withPatches(secretfed.OverridePatch{Op: "add", Path: "/data", Value: raw(`"` + s + `"`)})},
		{name: "override type not a string", mutate: withPatches(secretfed.OverridePatch{Op: "add", Path: "/type", Value: raw(`{"t":"` + s + `"}`)})},
		{name: "override immutable not a boolean", mutate: withPatches(secretfed.OverridePatch{Op: "add", Path: "/immutable", Value: raw(`"` + s + `"`)})},
		{name: "override duplicate path", mutate: withPatches(
			secretfed.OverridePatch{Op: "add", Path: "/data/x", Value: raw(`"` + s + `"`)},
			secretfed.OverridePatch{Op: "add", Path: "/data/x", Value: raw(`"` + b64 + `"`)},
		)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fs := validFederatedSecret()
			tc.mutate(fs)
			errs := ValidateFederatedSecret(fs)
			if len(errs) == 0 {
				t.Fatal("expected the object to be rejected")
			}
			assertNoSecret(t, errs, s)
			old := validFederatedSecret()
			assertNoSecret(t, ValidateFederatedSecretUpdate(fs, old), s)
			tpl := &fs.Spec.Template
			assertNoSecret(t, ValidateSecretContent(tpl.Type, tpl.Data, tpl.Metadata.Labels, tpl.Metadata.Annotations, nil), s)
		})
	}
}

func TestValidateFederatedSecretUpdate(t *testing.T) {
	cases := []fsCase{
		{name: "spec change", mutate: func(fs *secretfed.FederatedSecret) {
			fs.Spec.Template.Data = map[string][]byte{"token": []byte("t")}
			fs.Spec.Template.Type = "kubernetes.io/ssh-auth"
			fs.Spec.Template.Data["ssh-privatekey"] = []byte("k")
		}},
		{name: "label change", mutate: func(fs *secretfed.FederatedSecret) { fs.Labels = map[string]string{"a": "b"} }},
		{name: "name change", mutate: func(fs *secretfed.FederatedSecret) { fs.Name = "other" },
			want: []string{"FieldValueInvalid metadata.name"}},
		{name: "namespace change", mutate: func(fs *secretfed.FederatedSecret) { fs.Namespace = "other" },
			want: []string{"FieldValueInvalid metadata.namespace"}},
		{name: "no resourceVersion", mutate: func(fs *secretfed.FederatedSecret) { fs.ResourceVersion = "" },
			want: []string{"FieldValueInvalid metadata.resourceVersion"}},
		{name: "invalid label reported once", mutate: func(fs *secretfed.FederatedSecret) { fs.Labels = map[string]string{"a b": "c"} },
			want: []string{"FieldValueInvalid metadata.labels"}},
		{name: "invalid finalizer name", mutate: func(fs *secretfed.FederatedSecret) { fs.Finalizers = []string{"no/such/finalizer"} },
			want: []string{"FieldValueInvalid metadata.finalizers"}},
		{name: "spec is fully validated", mutate: func(fs *secretfed.FederatedSecret) {
			fs.Spec.Template.Type = ""
			fs.Spec.Overrides[0].ClusterOverrides[0].Path = "/kind"
		}, want: []string{"FieldValueRequired spec.template.type", "FieldValueForbidden spec.overrides[0].clusterOverrides[0].path"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			old := validFederatedSecret()
			fs := validFederatedSecret()
			fs.ResourceVersion = "2"
			tc.mutate(fs)
			if diff := cmp.Diff(sorted(tc.want), summarize(ValidateFederatedSecretUpdate(fs, old))); diff != "" {
				t.Errorf("ValidateFederatedSecretUpdate errors (-want +got):\n%s", diff)
			}
		})
	}
}

func condition(typ, status, reason string) metav1.Condition {
	return metav1.Condition{Type: typ, Status: metav1.ConditionStatus(status), Reason: reason, LastTransitionTime: metav1.NewTime(time.Unix(1700000000, 0))}
}

func TestValidateFederatedSecretStatusUpdate(t *testing.T) {
	clusters := func(cs ...secretfed.ClusterPropagationStatus) func(fs *secretfed.FederatedSecret) {
		return func(fs *secretfed.FederatedSecret) { fs.Status.Clusters = cs }
	}
	allStatuses := func(fs *secretfed.FederatedSecret) {
		for i, s := range []string{"Propagated", "ClusterNotFound", "ClusterNotReady", "NamespaceCreationFailed", "CreationFailed",
			"UpdateFailed", "DeletionFailed", "AlreadyExists", "OverrideFailed", "WaitingForRemoval"} {
			fs.Status.Clusters = append(fs.Status.Clusters, secretfed.ClusterPropagationStatus{
				Name: fmt.Sprintf("member%d", i), Status: secretfed.PropagationStatus(s), Message: "m",
			})
		}
	}
	cases := []fsCase{
		{name: "empty status", mutate: func(*secretfed.FederatedSecret) {}},
		{name: "API.md status", mutate: func(fs *secretfed.FederatedSecret) {
			fs.Status.ObservedGeneration = 3
			fs.Status.Conditions = []metav1.Condition{condition("Propagated", "True", "AllClustersPropagated")}
			fs.Status.Clusters = []secretfed.ClusterPropagationStatus{
				{Name: "member1", Status: "Propagated"},
				{Name: "member2", Status: "ClusterNotReady", Message: "…"},
			}
		}},
		{name: "all ten statuses", mutate: allStatuses},
		{name: "spec is not judged on status writes", mutate: func(fs *secretfed.FederatedSecret) { fs.Spec.Template.Type = "" }},
		{name: "negative observedGeneration", mutate: func(fs *secretfed.FederatedSecret) { fs.Status.ObservedGeneration = -1 },
			want: []string{"FieldValueInvalid status.observedGeneration"}},
		{name: "condition without reason", mutate: func(fs *secretfed.FederatedSecret) {
			fs.Status.Conditions = []metav1.Condition{condition("Propagated", "True", "")}
		}, want: []string{"FieldValueRequired status.conditions[0].reason"}},
		{name: "condition with bad status", mutate: func(fs *secretfed.FederatedSecret) {
			fs.Status.Conditions = []metav1.Condition{condition("Propagated", "Yes", "AllClustersPropagated")}
		}, want: []string{"FieldValueNotSupported status.conditions[0].status"}},
		{name: "duplicate condition type", mutate: func(fs *secretfed.FederatedSecret) {
			fs.Status.Conditions = []metav1.Condition{condition("Propagated", "True", "A"), condition("Propagated", "False", "B")}
		}, want: []string{"FieldValueDuplicate status.conditions[1]"}},
		{name: "cluster without name", mutate: clusters(secretfed.ClusterPropagationStatus{Status: "Propagated"}),
			want: []string{"FieldValueRequired status.clusters[0].name"}},
		{name: "duplicate cluster", mutate: clusters(
			secretfed.ClusterPropagationStatus{Name: "member1", Status: "Propagated"},
			secretfed.ClusterPropagationStatus{Name: "member1", Status: "UpdateFailed"},
		), want: []string{"FieldValueDuplicate status.clusters[1].name"}},
		{name: "unknown cluster status", mutate: clusters(secretfed.ClusterPropagationStatus{Name: "member1", Status: "Done"}),
			want: []string{"FieldValueNotSupported status.clusters[0].status"}},
		{name: "cluster status is case-sensitive", mutate: clusters(secretfed.ClusterPropagationStatus{Name: "member1", Status: "propagated"}),
			want: []string{"FieldValueNotSupported status.clusters[0].status"}},
		{name: "empty cluster status", mutate: clusters(secretfed.ClusterPropagationStatus{Name: "member1"}),
			want: []string{"FieldValueRequired status.clusters[0].status"}},
		{name: "name change", mutate: func(fs *secretfed.FederatedSecret) { fs.Name = "x" },
			want: []string{"FieldValueInvalid metadata.name"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			old := validFederatedSecret()
			fs := validFederatedSecret()
			tc.mutate(fs)
			if diff := cmp.Diff(sorted(tc.want), summarize(ValidateFederatedSecretStatusUpdate(fs, old))); diff != "" {
				t.Errorf("ValidateFederatedSecretStatusUpdate errors (-want +got):\n%s", diff)
			}
		})
	}
}

// testCABundle returns a PEM bundle with one freshly made self-signed CA.
func testCABundle(t testing.TB) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "member1-ca"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func validFederatedCluster(t testing.TB) *secretfed.FederatedCluster {
	return &secretfed.FederatedCluster{
		ObjectMeta: metav1.ObjectMeta{Name: "member1", ResourceVersion: "1", Labels: map[string]string{"env": "prod"}},
		Spec: secretfed.FederatedClusterSpec{
			APIEndpoint: "https://10.1.2.3:6443",
			CABundle:    testCABundle(t),
			SecretRef:   secretfed.LocalSecretReference{Name: "member1-credentials"},
		},
	}
}

type fcCase struct {
	name   string
	mutate func(fc *secretfed.FederatedCluster)
	want   []string
}

func TestValidateFederatedCluster(t *testing.T) {
	ca := testCABundle(t)
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: []byte("not really")})
	badCert := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte("garbage")})
	cases := []fcCase{
		{name: "valid", mutate: func(*secretfed.FederatedCluster) {}},
		{name: "63-character name", mutate: func(fc *secretfed.FederatedCluster) { fc.Name = strings.Repeat("m", 63) }},
		{name: "missing name", mutate: func(fc *secretfed.FederatedCluster) { fc.Name = "" },
			want: []string{"FieldValueRequired metadata.name"}},
		{name: "64-character name", mutate: func(fc *secretfed.FederatedCluster) { fc.Name = strings.Repeat("m", 64) },
			want: []string{"FieldValueInvalid metadata.name"}},
		{name: "dotted name is not a DNS label", mutate: func(fc *secretfed.FederatedCluster) { fc.Name = "eu.member1" },
			want: []string{"FieldValueInvalid metadata.name"}},
		{name: "namespace set on a cluster-scoped object", mutate: func(fc *secretfed.FederatedCluster) { fc.Namespace = "default" },
			want: []string{"FieldValueForbidden metadata.namespace"}},

		{name: "hostname endpoint with path", mutate: func(fc *secretfed.FederatedCluster) {
			fc.Spec.APIEndpoint = "https://member1.example.com/k8s/clusters/c-1"
		}},
		{name: "IPv6 endpoint", mutate: func(fc *secretfed.FederatedCluster) { fc.Spec.APIEndpoint = "https://[fd00::1]:6443" }},
		{name: "uppercase scheme", mutate: func(fc *secretfed.FederatedCluster) { fc.Spec.APIEndpoint = "HTTPS://10.1.2.3" }},
		{name: "missing endpoint", mutate: func(fc *secretfed.FederatedCluster) { fc.Spec.APIEndpoint = "" },
			want: []string{"FieldValueRequired spec.apiEndpoint"}},
		{name: "http endpoint", mutate: func(fc *secretfed.FederatedCluster) { fc.Spec.APIEndpoint = "http://10.1.2.3:6443" },
			want: []string{"FieldValueInvalid spec.apiEndpoint"}},
		{name: "endpoint without scheme", mutate: func(fc *secretfed.FederatedCluster) { fc.Spec.APIEndpoint = "10.1.2.3:6443" },
			want: []string{"FieldValueInvalid spec.apiEndpoint"}},
		{name: "endpoint without host", mutate: func(fc *secretfed.FederatedCluster) { fc.Spec.APIEndpoint = "https://:6443" },
			want: []string{"FieldValueInvalid spec.apiEndpoint"}},
		{name: "opaque endpoint", mutate: func(fc *secretfed.FederatedCluster) { fc.Spec.APIEndpoint = "https:10.1.2.3" },
			want: []string{"FieldValueInvalid spec.apiEndpoint"}},
		{name: "unparsable endpoint", mutate: func(fc *secretfed.FederatedCluster) { fc.Spec.APIEndpoint = "https://10.1.2.3:port" },
			want: []string{"FieldValueInvalid spec.apiEndpoint"}},
		{name: "endpoint with credentials", mutate: func(fc *secretfed.FederatedCluster) { fc.Spec.APIEndpoint = "https://admin:pw@10.1.2.3:6443" },
			want: []string{"FieldValueInvalid spec.apiEndpoint"}},

		{name: "no CA bundle", mutate: func(fc *secretfed.FederatedCluster) { fc.Spec.CABundle = nil }},
		{name: "two CAs", mutate: func(fc *secretfed.FederatedCluster) { fc.Spec.CABundle = append(testCABundle(t), ca...) }},
		{name: "CA with surrounding text and other blocks", mutate: func(fc *secretfed.FederatedCluster) {
			fc.Spec.CABundle = append(append([]byte("# comment\n"), keyPEM...), ca...)
		}},
		{name: "CA bundle not PEM", mutate: func(fc *secretfed.FederatedCluster) { fc.Spec.CABundle = []byte("not a pem") },
			want: []string{"FieldValueInvalid spec.caBundle"}},
		{name: "CA bundle without certificate", mutate: func(fc *secretfed.FederatedCluster) { fc.Spec.CABundle = keyPEM },
			want: []string{"FieldValueInvalid spec.caBundle"}},
		{name: "CA bundle with unparsable certificate", mutate: func(fc *secretfed.FederatedCluster) { fc.Spec.CABundle = append(ca, badCert...) },
			want: []string{"FieldValueInvalid spec.caBundle"}},

		{name: "missing secretRef name", mutate: func(fc *secretfed.FederatedCluster) { fc.Spec.SecretRef.Name = "" },
			want: []string{"FieldValueRequired spec.secretRef.name"}},
		{name: "invalid secretRef name", mutate: func(fc *secretfed.FederatedCluster) { fc.Spec.SecretRef.Name = "Member1_Creds" },
			want: []string{"FieldValueInvalid spec.secretRef.name"}},

		{name: "http proxy", mutate: func(fc *secretfed.FederatedCluster) { fc.Spec.ProxyURL = "http://proxy.example:3128" }},
		{name: "https proxy with credentials", mutate: func(fc *secretfed.FederatedCluster) { fc.Spec.ProxyURL = "https://u:p@proxy.example" }},
		{name: "socks5 proxy", mutate: func(fc *secretfed.FederatedCluster) { fc.Spec.ProxyURL = "socks5://127.0.0.1:1080" }},
		{name: "ftp proxy", mutate: func(fc *secretfed.FederatedCluster) { fc.Spec.ProxyURL = "ftp://proxy.example" },
			want: []string{"FieldValueNotSupported spec.proxyURL"}},
		{name: "proxy without scheme", mutate: func(fc *secretfed.FederatedCluster) { fc.Spec.ProxyURL = "proxy.example:3128" },
			want: []string{"FieldValueNotSupported spec.proxyURL"}},
		{name: "proxy without host", mutate: func(fc *secretfed.FederatedCluster) { fc.Spec.ProxyURL = "http://:3128" },
			want: []string{"FieldValueInvalid spec.proxyURL"}},
		{name: "unparsable proxy", mutate: func(fc *secretfed.FederatedCluster) { fc.Spec.ProxyURL = "http://[::1" },
			want: []string{"FieldValueInvalid spec.proxyURL"}},

		{name: "insecure is allowed (it only warns)", mutate: func(fc *secretfed.FederatedCluster) { fc.Spec.InsecureSkipTLSVerify = true }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fc := validFederatedCluster(t)
			tc.mutate(fc)
			if diff := cmp.Diff(sorted(tc.want), summarize(ValidateFederatedCluster(fc))); diff != "" {
				t.Errorf("ValidateFederatedCluster errors (-want +got):\n%s", diff)
			}
		})
	}
}

// URLs may carry credentials; errors show them redacted.
func TestFederatedClusterErrorsRedactURLCredentials(t *testing.T) {
	fc := validFederatedCluster(t)
	fc.Spec.APIEndpoint = "https://admin:" + secretMarker + "@10.1.2.3"
	fc.Spec.ProxyURL = "http://user:" + secretMarker + "@:3128"
	errs := ValidateFederatedCluster(fc)
	if diff := cmp.Diff([]string{"FieldValueInvalid spec.apiEndpoint", "FieldValueInvalid spec.proxyURL"}, summarize(errs)); diff != "" {
		t.Errorf("errors (-want +got):\n%s", diff)
	}
	assertNoSecret(t, errs, secretMarker)

	fc.Spec.APIEndpoint = "https://admin:" + secretMarker + "@10.1.2.3:port"
	fc.Spec.ProxyURL = "http://user:" + secretMarker + "@[::1"
	assertNoSecret(t, ValidateFederatedCluster(fc), secretMarker)
}

func TestValidateFederatedClusterUpdate(t *testing.T) {
	cases := []fcCase{
		{name: "endpoint and labels change", mutate: func(fc *secretfed.FederatedCluster) {
			fc.Spec.APIEndpoint = "https://10.9.9.9:6443"
			fc.Labels = map[string]string{"env": "staging"}
		}},
		{name: "name change", mutate: func(fc *secretfed.FederatedCluster) { fc.Name = "member2" },
			want: []string{"FieldValueInvalid metadata.name"}},
		{name: "spec is fully validated", mutate: func(fc *secretfed.FederatedCluster) {
			fc.Spec.APIEndpoint = "http://x"
			fc.Spec.SecretRef.Name = ""
		}, want: []string{"FieldValueInvalid spec.apiEndpoint", "FieldValueRequired spec.secretRef.name"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			old := validFederatedCluster(t)
			fc := old.DeepCopy()
			fc.ResourceVersion = "2"
			tc.mutate(fc)
			if diff := cmp.Diff(sorted(tc.want), summarize(ValidateFederatedClusterUpdate(fc, old))); diff != "" {
				t.Errorf("ValidateFederatedClusterUpdate errors (-want +got):\n%s", diff)
			}
		})
	}
}

func TestValidateFederatedClusterStatusUpdate(t *testing.T) {
	cases := []fcCase{
		{name: "ready", mutate: func(fc *secretfed.FederatedCluster) {
			fc.Status.KubernetesVersion = "v1.37.2"
			fc.Status.Conditions = []metav1.Condition{condition("Ready", "True", "ClusterReady")}
		}},
		{name: "not reachable", mutate: func(fc *secretfed.FederatedCluster) {
			fc.Status.Conditions = []metav1.Condition{condition("Ready", "False", "ClusterNotReachable")}
		}},
		{name: "spec is not judged on status writes", mutate: func(fc *secretfed.FederatedCluster) { fc.Spec.APIEndpoint = "" }},
		{name: "condition reason with spaces", mutate: func(fc *secretfed.FederatedCluster) {
			fc.Status.Conditions = []metav1.Condition{condition("Ready", "False", "not reachable")}
		}, want: []string{"FieldValueInvalid status.conditions[0].reason"}},
		{name: "condition without time or type", mutate: func(fc *secretfed.FederatedCluster) {
			fc.Status.Conditions = []metav1.Condition{{Status: "True", Reason: "ClusterReady"}}
		}, want: []string{"FieldValueRequired status.conditions[0].type", "FieldValueRequired status.conditions[0].lastTransitionTime"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			old := validFederatedCluster(t)
			fc := old.DeepCopy()
			tc.mutate(fc)
			if diff := cmp.Diff(sorted(tc.want), summarize(ValidateFederatedClusterStatusUpdate(fc, old))); diff != "" {
				t.Errorf("ValidateFederatedClusterStatusUpdate errors (-want +got):\n%s", diff)
			}
		})
	}
}

func TestWarningsForFederatedCluster(t *testing.T) {
	insecure := "spec.insecureSkipTLSVerify: TLS verification of the member's API server is disabled; anyone on the network path can impersonate it and read every Secret sent to it"
	cases := []fcCase{
		{name: "verified TLS", mutate: func(*secretfed.FederatedCluster) {}},
		{name: "insecureSkipTLSVerify", mutate: func(fc *secretfed.FederatedCluster) { fc.Spec.InsecureSkipTLSVerify = true },
			want: []string{insecure}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fc := validFederatedCluster(t)
			tc.mutate(fc)
			if diff := cmp.Diff(tc.want, WarningsForFederatedCluster(fc)); diff != "" {
				t.Errorf("warnings (-want +got):\n%s", diff)
			}
		})
	}
	if w := WarningsForFederatedCluster(nil); w != nil {
		t.Errorf("nil cluster: got warnings %q", w)
	}
}

func TestWarningsForFederatedSecret(t *testing.T) {
	const (
		emptyData = "spec.template.data is empty: member clusters receive a Secret without data"
		ignored   = "spec.placement.clusterSelector is ignored because spec.placement.clusters is set"
	)
	notPlaced := func(i int, name string) string {
		return fmt.Sprintf("spec.overrides[%d].clusterName: cluster %q is not in spec.placement.clusters, so this override has no effect", i, name)
	}
	override := func(names ...string) func(fs *secretfed.FederatedSecret) {
		return func(fs *secretfed.FederatedSecret) {
			fs.Spec.Overrides = nil
			for _, n := range names {
				fs.Spec.Overrides = append(fs.Spec.Overrides, secretfed.ClusterOverride{ClusterName: n})
			}
		}
	}
	cases := []fsCase{
		{name: "no warnings", mutate: func(*secretfed.FederatedSecret) {}},
		{name: "nil data", mutate: func(fs *secretfed.FederatedSecret) { fs.Spec.Template.Data = nil }, want: []string{emptyData}},
		{name: "empty data", mutate: func(fs *secretfed.FederatedSecret) { fs.Spec.Template.Data = map[string][]byte{} }, want: []string{emptyData}},
		{name: "override for an unplaced cluster", mutate: override("member2", "member3", "member1", "member4"),
			want: []string{notPlaced(1, "member3"), notPlaced(3, "member4")}},
		{name: "empty clusters list", mutate: func(fs *secretfed.FederatedSecret) { fs.Spec.Placement.Clusters = []secretfed.ClusterReference{} },
			want: []string{notPlaced(0, "member2")}},
		{name: "selector placement: overrides are not checked", mutate: func(fs *secretfed.FederatedSecret) {
			fs.Spec.Placement = secretfed.Placement{ClusterSelector: &metav1.LabelSelector{}}
			override("member9")(fs)
		}},
		{name: "no placement: overrides are not checked", mutate: func(fs *secretfed.FederatedSecret) {
			fs.Spec.Placement = secretfed.Placement{}
		}},
		{name: "clusters and selector", mutate: func(fs *secretfed.FederatedSecret) {
			fs.Spec.Placement.ClusterSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"env": "prod"}}
		}, want: []string{ignored}},
		{name: "orphan and adopt with true", mutate: func(fs *secretfed.FederatedSecret) {
			fs.Annotations = map[string]string{"secretfed.io/orphan": "true", "secretfed.io/adopt": "true"}
		}},
		{name: "orphan with yes", mutate: func(fs *secretfed.FederatedSecret) {
			fs.Annotations = map[string]string{"secretfed.io/orphan": "yes"}
		}, want: []string{`metadata.annotations[secretfed.io/orphan]: only the value "true" has an effect; "yes" is ignored`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fs := validFederatedSecret()
			tc.mutate(fs)
			if diff := cmp.Diff(tc.want, WarningsForFederatedSecret(fs)); diff != "" {
				t.Errorf("warnings (-want +got):\n%s", diff)
			}
		})
	}
	if w := WarningsForFederatedSecret(nil); w != nil {
		t.Errorf("nil secret: got warnings %q", w)
	}
}
