package install

import (
	"math/rand"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/api/apitesting"
	apitestingfuzzer "k8s.io/apimachinery/pkg/api/apitesting/fuzzer"
	"k8s.io/apimachinery/pkg/api/apitesting/roundtrip"
	metafuzzer "k8s.io/apimachinery/pkg/apis/meta/fuzzer"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"

	"github.com/secretfed/secretfed/pkg/apis/secretfed"
	"github.com/secretfed/secretfed/pkg/apis/secretfed/fuzzer"
	"github.com/secretfed/secretfed/pkg/apis/secretfed/v1alpha1"
)

func TestRoundTripTypes(t *testing.T) {
	roundtrip.RoundTripTestForAPIGroup(t, Install, fuzzer.Funcs)
	// Protobuf is not generated for secretfed.io, so only JSON is tested.
}

func newCodecs() (*runtime.Scheme, serializer.CodecFactory) {
	scheme := runtime.NewScheme()
	Install(scheme)
	return scheme, serializer.NewCodecFactory(scheme)
}

// roundTripFederatedSecret sends an internal object through the wire the way
// the server does: internal -> v1alpha1 -> JSON -> v1alpha1 -> internal.
func roundTripFederatedSecret(t *testing.T, codecs serializer.CodecFactory, in *secretfed.FederatedSecret) *secretfed.FederatedSecret {
	t.Helper()
	codec := apitesting.TestCodec(codecs, v1alpha1.SchemeGroupVersion)
	data, err := runtime.Encode(codec, in)
	if err != nil {
		t.Fatalf("encode: %v", err)
	}
	out, err := runtime.Decode(codec, data)
	if err != nil {
		t.Fatalf("decode %s: %v", data, err)
	}
	return out.(*secretfed.FederatedSecret)
}

// The generic round-trip test compares with apiequality.Semantic, which
// equates nil and empty slices. For placement that difference is the API:
// an absent clusters list defers to clusterSelector, an empty one places the
// secret nowhere. And an empty selector ({}) selects every cluster.
func TestPlacementPresenceSurvivesTheWire(t *testing.T) {
	_, codecs := newCodecs()
	cases := []struct {
		name      string
		placement secretfed.Placement
	}{
		{name: "neither clusters nor selector"},
		{name: "empty clusters", placement: secretfed.Placement{Clusters: []secretfed.ClusterReference{}}},
		{name: "one cluster", placement: secretfed.Placement{Clusters: []secretfed.ClusterReference{{Name: "member1"}}}},
		{name: "empty selector", placement: secretfed.Placement{ClusterSelector: &metav1.LabelSelector{}}},
		{name: "empty clusters and a selector", placement: secretfed.Placement{
			Clusters:        []secretfed.ClusterReference{},
			ClusterSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"env": "prod"}},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := &secretfed.FederatedSecret{
				ObjectMeta: metav1.ObjectMeta{Name: "db-creds", Namespace: "payments"},
				Spec: secretfed.FederatedSecretSpec{
					Template:  secretfed.SecretTemplate{Type: "Opaque"},
					Placement: tc.placement,
				},
			}
			got := roundTripFederatedSecret(t, codecs, in).Spec.Placement
			// cmp.Diff without EquateEmpty tells nil from empty.
			if diff := cmp.Diff(tc.placement, got); diff != "" {
				t.Errorf("placement changed on the wire (-sent +received):\n%s", diff)
			}
		})
	}
}

// Fuzzed FederatedSecrets keep whether placement.clusters is present.
func TestFuzzedPlacementClustersPresenceSurvivesTheWire(t *testing.T) {
	_, codecs := newCodecs()
	f := apitestingfuzzer.FuzzerFor(apitestingfuzzer.MergeFuzzerFuncs(metafuzzer.Funcs, fuzzer.Funcs), rand.NewSource(rand.Int63()), codecs)
	seen := map[string]bool{}
	for i := 0; i < 200; i++ {
		in := &secretfed.FederatedSecret{}
		f.Fill(in)
		in.TypeMeta = metav1.TypeMeta{}
		got := roundTripFederatedSecret(t, codecs, in)
		sent, received := describeClusters(in.Spec.Placement.Clusters), describeClusters(got.Spec.Placement.Clusters)
		seen[sent] = true
		if sent != received {
			t.Fatalf("placement.clusters sent %s, received %s", sent, received)
		}
	}
	if len(seen) != 3 {
		t.Errorf("the fuzzer produced only %v placement.clusters shapes, want nil, empty and non-empty", seen)
	}
}

func describeClusters(c []secretfed.ClusterReference) string {
	switch {
	case c == nil:
		return "nil"
	case len(c) == 0:
		return "empty"
	default:
		return "non-empty"
	}
}

// stringData is folded into data on decode and never stored or returned.
func TestStringDataIsFoldedIntoData(t *testing.T) {
	scheme, codecs := newCodecs()
	wire := []byte(`{"apiVersion":"secretfed.io/v1alpha1","kind":"FederatedSecret",
		"metadata":{"name":"db-creds","namespace":"payments"},
		"spec":{"template":{"data":{"password":"czNjcjN0","user":"b2xk"},"stringData":{"user":"admin"}},"placement":{"clusters":null}}}`)
	obj, _, err := codecs.UniversalDecoder(secretfed.SchemeGroupVersion).Decode(wire, nil, nil)
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	fs := obj.(*secretfed.FederatedSecret)
	want := secretfed.SecretTemplate{
		Type: "Opaque",
		Data: map[string][]byte{"password": []byte("s3cr3t"), "user": []byte("admin")},
	}
	if diff := cmp.Diff(want, fs.Spec.Template); diff != "" {
		t.Errorf("decoded template (-want +got):\n%s", diff)
	}

	out := &v1alpha1.FederatedSecret{}
	if err := scheme.Convert(fs, out, nil); err != nil {
		t.Fatalf("convert: %v", err)
	}
	if out.Spec.Template.StringData != nil {
		t.Errorf("stringData came back: %v", out.Spec.Template.StringData)
	}
}

// An override value is arbitrary JSON and comes back as the same JSON.
func TestOverrideValueSurvivesTheWire(t *testing.T) {
	_, codecs := newCodecs()
	for _, raw := range []string{`"bmV3cGFzcw=="`, `{"a":[1,2.5,"x"],"b":null}`, `true`, `42`} {
		in := &secretfed.FederatedSecret{
			ObjectMeta: metav1.ObjectMeta{Name: "db-creds", Namespace: "payments"},
			Spec: secretfed.FederatedSecretSpec{
				Template: secretfed.SecretTemplate{Type: "Opaque"},
				Overrides: []secretfed.ClusterOverride{{ClusterName: "member2", ClusterOverrides: []secretfed.OverridePatch{
					{Op: secretfed.OverrideOpReplace, Path: "/data/password", Value: &secretfed.OverrideValue{Raw: []byte(raw)}},
					{Op: secretfed.OverrideOpRemove, Path: "/data/user"},
				}}},
			},
		}
		got := roundTripFederatedSecret(t, codecs, in)
		if diff := cmp.Diff(in.Spec.Overrides, got.Spec.Overrides); diff != "" {
			t.Errorf("overrides with value %s changed (-sent +received):\n%s", raw, diff)
		}
	}
}
