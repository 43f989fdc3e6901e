package validation

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/secretfed/secretfed/pkg/apis/secretfed"
)

// In fuzzed secret values, every "@" stands for secretMarker, so the fuzzer
// can place a known secret anywhere, including inside JSON strings.
func withSecret(b []byte) []byte {
	return []byte(strings.ReplaceAll(string(b), "@", secretMarker))
}

func jsonQuote(s string) []byte {
	b, _ := json.Marshal(s)
	return b
}

// escapeToken escapes a reference token for use in a JSON pointer.
func escapeToken(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}

// fuzzNoSecretEcho fails if any error shows the secret, unless the secret was
// also put into a field that is not secret (a key, a path, a name), where
// showing it is allowed.
func fuzzNoSecretEcho(t *testing.T, errs field.ErrorList, public ...string) {
	t.Helper()
	for _, p := range public {
		if strings.Contains(p, secretMarker) {
			return
		}
	}
	assertNoSecret(t, errs, secretMarker)
}

func FuzzValidateFederatedSecret(f *testing.F) {
	f.Add("Opaque", "password", []byte("@"), "app", "member1", "replace", "/data/password", []byte(`"@"`))
	f.Add("kubernetes.io/dockerconfigjson", ".dockerconfigjson", []byte(`{"auths":@`), "example.com/tier", "member2", "add", "/data/.dockerconfigjson", []byte(`{"a":"@"}`))
	f.Add("kubernetes.io/tls", "tls.crt", []byte("@"), "-bad", "Member_2", "remove", "/metadata/name", []byte(`"@"`))
	f.Add("kubernetes.io/basic-auth", "user name", []byte(""), "env", "", "move", "/stringData/x~2", []byte("@"))
	f.Add("", "", []byte(nil), "", "member1", "", "", []byte(nil))
	f.Fuzz(func(t *testing.T, secretType, key string, value []byte, labelKey, clusterName, op, path string, overrideValue []byte) {
		v := withSecret(value)
		ov := withSecret(overrideValue)
		fs := &secretfed.FederatedSecret{
			ObjectMeta: metav1.ObjectMeta{Name: clusterName, Namespace: "ns", ResourceVersion: "1"},
			Spec: secretfed.FederatedSecretSpec{
				Template: secretfed.SecretTemplate{
					Metadata: secretfed.TemplateMetadata{
						Labels:      map[string]string{labelKey: "v"},
						Annotations: map[string]string{labelKey: "a", "kubernetes.io/service-account.name": clusterName},
					},
					Type: secretType,
					Data: map[string][]byte{
						key: v, ".dockerconfigjson": v, ".dockercfg": v, "tls.crt": v, "ssh-privatekey": v,
					},
				},
				Placement: secretfed.Placement{
					Clusters:        []secretfed.ClusterReference{{Name: clusterName}, {Name: "member1"}},
					ClusterSelector: &metav1.LabelSelector{MatchLabels: map[string]string{labelKey: clusterName}},
				},
				Overrides: []secretfed.ClusterOverride{{
					ClusterName: clusterName,
					ClusterOverrides: []secretfed.OverridePatch{
						{Op: secretfed.OverrideOp(op), Path: path, Value: &secretfed.OverrideValue{Raw: ov}},
						{Op: secretfed.OverrideOp(op), Path: path + "/x", Value: &secretfed.OverrideValue{Raw: jsonQuote(string(ov))}},
						{Op: secretfed.OverrideOpReplace, Path: "/data/" + escapeToken(key), Value: &secretfed.OverrideValue{Raw: jsonQuote(string(v))}},
						{Op: secretfed.OverrideOpAdd, Path: "/stringData/" + escapeToken(key), Value: &secretfed.OverrideValue{Raw: ov}},
						{Op: secretfed.OverrideOpAdd, Path: "/data", Value: &secretfed.OverrideValue{Raw: ov}},
						{Op: secretfed.OverrideOpRemove, Path: path, Value: &secretfed.OverrideValue{Raw: ov}},
					},
				}},
			},
		}
		public := []string{secretType, key, labelKey, clusterName, op, path}
		errs := ValidateFederatedSecret(fs)
		fuzzNoSecretEcho(t, errs, public...)
		fuzzNoSecretEcho(t, ValidateFederatedSecretUpdate(fs, fs.DeepCopy()), public...)
		fuzzNoSecretEcho(t, ValidateSecretContent(secretType, fs.Spec.Template.Data, nil, nil, nil), public...)
		for _, w := range WarningsForFederatedSecret(fs) {
			if strings.Contains(w, secretMarker) && !strings.Contains(strings.Join(public, ""), secretMarker) {
				t.Fatalf("a warning echoes a secret value: %s", w)
			}
		}
	})
}

// wellFormedPointer is an independent statement of the pointer grammar the
// validation accepts: RFC 6901 with non-empty reference tokens.
var wellFormedPointer = regexp.MustCompile(`^(/([^/~]|~[01])+)+$`)

func FuzzValidateOverridePath(f *testing.F) {
	f.Add("/data/password", "replace", []byte(`"@"`))
	f.Add("/metadata/labels/example.com~1tier", "add", []byte(`"prod"`))
	f.Add("/metadata/name", "remove", []byte(nil))
	f.Add("/data/a~2b", "add", []byte(`{"k":"@"}`))
	f.Add("/immutable", "replace", []byte(`@`))
	f.Fuzz(func(t *testing.T, path, op string, value []byte) {
		fs := validFederatedSecret()
		fs.Spec.Overrides = []secretfed.ClusterOverride{{
			ClusterName: "member2",
			ClusterOverrides: []secretfed.OverridePatch{
				{Op: secretfed.OverrideOp(op), Path: path, Value: &secretfed.OverrideValue{Raw: withSecret(value)}},
			},
		}}
		errs := ValidateFederatedSecret(fs)
		fuzzNoSecretEcho(t, errs, path, op)

		const prefix = "spec.overrides[0].clusterOverrides[0]."
		pathRejected := false
		for _, e := range errs {
			if !strings.HasPrefix(e.Field, prefix) {
				t.Fatalf("error outside the patch: %v", e)
			}
			if e.Field == prefix+"path" {
				pathRejected = true
			}
		}
		if !wellFormedPointer.MatchString(path) && !pathRejected {
			t.Fatalf("malformed pointer %q accepted", path)
		}
		if pathRejected {
			return
		}
		tokens, ok := ParseJSONPointer(path)
		if !ok {
			t.Fatalf("accepted path %q does not parse", path)
		}
		escaped := make([]string, len(tokens))
		for i, tok := range tokens {
			escaped[i] = escapeToken(tok)
		}
		if again := "/" + strings.Join(escaped, "/"); again != path {
			t.Fatalf("path %q does not round-trip: %q", path, again)
		}
		if target, _ := classifyOverridePath(tokens); target == targetUnsupported || forbiddenOverridePath(tokens) {
			t.Fatalf("path %q accepted but addresses nothing an override may change", path)
		}
	})
}
