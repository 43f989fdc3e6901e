package install

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"

	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/structured-merge-diff/v6/typed"

	"github.com/secretfed/secretfed/pkg/apis/secretfed"
	"github.com/secretfed/secretfed/pkg/apis/secretfed/v1alpha1"
	"github.com/secretfed/secretfed/pkg/apis/secretfed/validation"
	"github.com/secretfed/secretfed/pkg/render"
)

// The decode fuzz targets feed arbitrary request bodies through the decoders
// the server's create and update handlers use, then through validation, the
// storage codec and rendering. What they hold the code to:
//
//   - nothing panics, whatever the bytes (a panic is a 500 for the caller),
//     including server-side apply's field tracking, which walks every
//     decoded object before validation runs;
//   - a body either fails to decode (the handler answers 400) or decodes to
//     an object whose every validation error names a field (a 422 with a
//     field path);
//   - an object validation accepts can be stored: it encodes to v1alpha1,
//     decodes back to the same object and is still valid, so a write the
//     server admitted never fails later with a 500 or changes on the wire;
//   - an accepted FederatedSecret resolves placement and renders for every
//     cluster without panicking (failures there are per-cluster statuses);
//   - no validation error quotes a template data value.

// hubGroupVersion is what the handlers decode into (scope.HubGroupVersion).
var hubGroupVersion = schema.GroupVersion{Group: secretfed.GroupName, Version: runtime.APIVersionInternal}

type namedDecoder struct {
	name string
	dec  runtime.Decoder
}

// serverDecoders mirrors k8s.io/apiserver's create/update handlers: the
// serializer is picked by Content-Type, strict when fieldValidation is Strict
// or Warn (kubectl's default), and wrapped to convert into the hub version.
// The universal decoder is added because clients and tests use it too.
func serverDecoders(t testing.TB, codecs serializer.CodecFactory) []namedDecoder {
	var out []namedDecoder
	for _, mediaType := range []string{runtime.ContentTypeJSON, runtime.ContentTypeYAML} {
		info, ok := runtime.SerializerInfoForMediaType(codecs.SupportedMediaTypes(), mediaType)
		if !ok || info.StrictSerializer == nil {
			t.Fatalf("no (strict) serializer for %s", mediaType)
		}
		out = append(out,
			namedDecoder{mediaType, codecs.DecoderToVersion(info.Serializer, hubGroupVersion)},
			namedDecoder{mediaType + " strict", codecs.DecoderToVersion(info.StrictSerializer, hubGroupVersion)},
		)
	}
	return append(out, namedDecoder{"universal", codecs.UniversalDecoder()})
}

// decode runs one decoder the way a handler does (default kind from the URL,
// a fresh object of the resource's type to decode into). A strict decoding
// error still yields the object: with fieldValidation=Warn the handler goes
// on with it, so it must be validated too.
func decode(d namedDecoder, data []byte, kind string, into runtime.Object) (runtime.Object, bool) {
	gvk := v1alpha1.SchemeGroupVersion.WithKind(kind)
	obj, _, err := d.dec.Decode(data, &gvk, into)
	if err != nil && !runtime.IsStrictDecodingError(err) {
		return nil, false
	}
	return obj, obj != nil
}

// requireFieldPaths fails on an error that names no field: the user would
// see a 422 without knowing what to fix.
func requireFieldPaths(t *testing.T, what string, errs field.ErrorList) {
	t.Helper()
	for _, e := range errs {
		if e.Field == "" {
			t.Fatalf("%s: error without a field path: %v", what, e)
		}
	}
}

// requireNoDataEcho fails if an error shows a template data value, raw or in
// base64. Values short enough to occur by chance in a message, and values the
// object also carries in a field that may be shown (a key, a label, a name),
// are skipped.
func requireNoDataEcho(t *testing.T, fs *secretfed.FederatedSecret, errs field.ErrorList) {
	t.Helper()
	if len(errs) == 0 {
		return
	}
	public := fs.DeepCopy()
	public.Spec.Template.Data = nil
	shown, _ := json.Marshal(public)
	keys := make([]string, 0, len(fs.Spec.Template.Data))
	for k := range fs.Spec.Template.Data {
		keys = append(keys, k)
	}
	shown = append(shown, strings.Join(keys, "\x00")...)
	for _, v := range fs.Spec.Template.Data {
		for _, form := range []string{string(v), base64.StdEncoding.EncodeToString(v)} {
			if len(form) < 16 || bytes.Contains(shown, []byte(form)) {
				continue
			}
			for _, e := range errs {
				if strings.Contains(e.Error(), form) {
					t.Fatalf("a validation error shows a template data value: %s", e.Field)
				}
			}
		}
	}
}

// roundTrip stores obj the way the registry does (v1alpha1 JSON) and reads it
// back into a fresh internal object.
func roundTrip(t *testing.T, codecs serializer.CodecFactory, obj, into runtime.Object) runtime.Object {
	t.Helper()
	data, err := runtime.Encode(codecs.LegacyCodec(v1alpha1.SchemeGroupVersion), obj)
	if err != nil {
		t.Fatalf("an object validation accepted does not encode: %v", err)
	}
	out, _, err := codecs.UniversalDecoder(hubGroupVersion).Decode(data, nil, into)
	if err != nil {
		t.Fatalf("an accepted object does not decode after encoding: %v\n%s", err, data)
	}
	return out
}

// requireFieldManagerWalk converts a decoded object to v1alpha1 and walks it
// the way the field manager does (structured-merge-diff reflection) on every
// create and update, before validation. A value it cannot represent panics
// there.
func requireFieldManagerWalk(t *testing.T, scheme *runtime.Scheme, in, out runtime.Object) {
	t.Helper()
	if err := scheme.Convert(in, out, nil); err != nil {
		t.Fatalf("converting a decoded object to v1alpha1: %v", err)
	}
	if _, err := typed.DeducedParseableType.FromStructured(out); err != nil {
		t.Fatalf("the field manager cannot walk a decoded object: %v", err)
	}
}

var fuzzClusters = []*v1alpha1.FederatedCluster{
	{ObjectMeta: metav1.ObjectMeta{Name: "member1", Labels: map[string]string{"env": "prod"}}},
	{ObjectMeta: metav1.ObjectMeta{Name: "member2", Labels: map[string]string{"env": "dev", "region": "eu"}}},
}

func checkFederatedSecret(t *testing.T, scheme *runtime.Scheme, codecs serializer.CodecFactory, fs *secretfed.FederatedSecret) {
	requireFieldManagerWalk(t, scheme, fs, &v1alpha1.FederatedSecret{})
	errs := validation.ValidateFederatedSecret(fs)
	requireFieldPaths(t, "create", errs)
	requireNoDataEcho(t, fs, errs)
	old := fs.DeepCopy()
	old.ResourceVersion = "1"
	updateErrs := validation.ValidateFederatedSecretUpdate(fs, old)
	requireFieldPaths(t, "update", updateErrs)
	requireNoDataEcho(t, fs, updateErrs)
	requireFieldPaths(t, "status update", validation.ValidateFederatedSecretStatusUpdate(fs, old))
	_ = validation.WarningsForFederatedSecret(fs)
	if len(errs) > 0 {
		return
	}

	back := roundTrip(t, codecs, fs, &secretfed.FederatedSecret{}).(*secretfed.FederatedSecret)
	if !apiequality.Semantic.DeepEqual(fs.Spec, back.Spec) || (fs.Spec.Placement.Clusters == nil) != (back.Spec.Placement.Clusters == nil) {
		t.Fatalf("an accepted spec changed on its way through storage:\nsent     %#v\nreceived %#v", fs.Spec, back.Spec)
	}
	if errs := validation.ValidateFederatedSecret(back); len(errs) > 0 {
		t.Fatalf("an accepted FederatedSecret is invalid after storage: %v", errs)
	}

	wire := &v1alpha1.FederatedSecret{}
	if err := scheme.Convert(fs, wire, nil); err != nil {
		t.Fatalf("converting an accepted FederatedSecret to v1alpha1: %v", err)
	}
	render.ResolvePlacement(wire, fuzzClusters)
	targets := []string{"member1", "member2"}
	for _, o := range wire.Spec.Overrides {
		targets = append(targets, o.ClusterName)
	}
	for _, c := range targets {
		// An error here is that cluster's OverrideFailed status, not a failure.
		_, _ = render.Render(wire, c)
	}
}

func checkFederatedCluster(t *testing.T, scheme *runtime.Scheme, codecs serializer.CodecFactory, fc *secretfed.FederatedCluster) {
	requireFieldManagerWalk(t, scheme, fc, &v1alpha1.FederatedCluster{})
	errs := validation.ValidateFederatedCluster(fc)
	requireFieldPaths(t, "create", errs)
	old := fc.DeepCopy()
	old.ResourceVersion = "1"
	requireFieldPaths(t, "update", validation.ValidateFederatedClusterUpdate(fc, old))
	requireFieldPaths(t, "status update", validation.ValidateFederatedClusterStatusUpdate(fc, old))
	_ = validation.WarningsForFederatedCluster(fc)
	if len(errs) > 0 {
		return
	}
	back := roundTrip(t, codecs, fc, &secretfed.FederatedCluster{}).(*secretfed.FederatedCluster)
	if !apiequality.Semantic.DeepEqual(fc.Spec, back.Spec) {
		t.Fatalf("an accepted spec changed on its way through storage:\nsent     %#v\nreceived %#v", fc.Spec, back.Spec)
	}
	if errs := validation.ValidateFederatedCluster(back); len(errs) > 0 {
		t.Fatalf("an accepted FederatedCluster is invalid after storage: %v", errs)
	}
}

// decodeSeeds are small documents that reach deep into the types; the
// testdata corpora add the hostile ones.
var federatedSecretSeeds = []string{
	`{"apiVersion":"secretfed.io/v1alpha1","kind":"FederatedSecret","metadata":{"name":"db-creds","namespace":"payments"},
	 "spec":{"template":{"metadata":{"labels":{"app":"payments"},"annotations":{"team":"core"}},"type":"Opaque",
	 "data":{"password":"czNjcjN0"},"stringData":{"user":"admin"},"immutable":false},
	 "placement":{"clusters":[{"name":"member1"}],"clusterSelector":{"matchLabels":{"env":"prod"}}},
	 "overrides":[{"clusterName":"member2","clusterOverrides":[{"op":"replace","path":"/data/password","value":"bmV3cGFzcw=="}]}]}}`,
	`{"metadata":{"name":"tls"},"spec":{"template":{"type":"kubernetes.io/tls","data":{"tls.crt":"YQ==","tls.key":"Yg=="}},
	 "placement":{"clusterSelector":{"matchExpressions":[{"key":"env","operator":"In","values":["prod","dev"]}]}},
	 "overrides":[{"clusterName":"member1","clusterOverrides":[{"op":"add","path":"/metadata/labels/a~1b","value":"v"},
	 {"op":"remove","path":"/data/tls.key"},{"op":"replace","path":"/data","value":{"k":"YQ=="}},{"op":"add","path":"/immutable","value":true}]}]}}`,
	"apiVersion: secretfed.io/v1alpha1\nkind: FederatedSecret\nmetadata: {name: y, namespace: ns}\nspec:\n  template:\n    type: kubernetes.io/dockerconfigjson\n    stringData: {.dockerconfigjson: '{\"auths\":{}}'}\n  placement: {clusters: []}\n",
	`{"kind":"FederatedSecret","apiVersion":"secretfed.io/v1alpha1","metadata":{"name":"n"},"spec":{"overrides":[{"clusterOverrides":[{"value":null}]}],"template":{"data":null}}}`,
	`{"spec":{"template":{"data":{"k":"not base64!"}},"placement":{"clusters":null},"overrides":[{"clusterName":"m","clusterOverrides":[{"op":"move","path":"~"}]}]},"status":{"clusters":[{"name":"m","status":"Bogus"}]}}`,
}

var federatedClusterSeeds = []string{
	`{"apiVersion":"secretfed.io/v1alpha1","kind":"FederatedCluster","metadata":{"name":"member1","labels":{"env":"prod"}},
	 "spec":{"apiEndpoint":"https://10.1.2.3:6443","caBundle":"","secretRef":{"name":"member1-credentials"},"insecureSkipTLSVerify":false,"proxyURL":"socks5://127.0.0.1:1080"},
	 "status":{"kubernetesVersion":"v1.37.2","conditions":[{"type":"Ready","status":"True","reason":"ClusterReady","lastTransitionTime":"2026-01-01T00:00:00Z","message":""}]}}`,
	"apiVersion: secretfed.io/v1alpha1\nkind: FederatedCluster\nmetadata: {name: m2}\nspec: {apiEndpoint: 'https://user:pw@host:6443', secretRef: {name: x}, insecureSkipTLSVerify: true}\n",
	`{"metadata":{"name":"Bad_Name"},"spec":{"apiEndpoint":"http://[::1","caBundle":"bm90IGEgcGVt","proxyURL":"ftp://x"}}`,
	`{"kind":"FederatedSecret","apiVersion":"secretfed.io/v1alpha1","metadata":{"name":"wrong-kind"}}`,
}

func FuzzDecodeFederatedSecret(f *testing.F) {
	for _, s := range federatedSecretSeeds {
		f.Add([]byte(s))
	}
	scheme, codecs := newCodecs()
	decoders := serverDecoders(f, codecs)
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, d := range decoders {
			obj, ok := decode(d, data, "FederatedSecret", &secretfed.FederatedSecret{})
			if !ok {
				continue
			}
			fs, isFS := obj.(*secretfed.FederatedSecret)
			if !isFS {
				// Another kind in the body; the handler rejects it with a 400.
				continue
			}
			checkFederatedSecret(t, scheme, codecs, fs)
		}
	})
}

func FuzzDecodeFederatedCluster(f *testing.F) {
	for _, s := range federatedClusterSeeds {
		f.Add([]byte(s))
	}
	scheme, codecs := newCodecs()
	decoders := serverDecoders(f, codecs)
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, d := range decoders {
			obj, ok := decode(d, data, "FederatedCluster", &secretfed.FederatedCluster{})
			if !ok {
				continue
			}
			fc, isFC := obj.(*secretfed.FederatedCluster)
			if !isFC {
				continue
			}
			checkFederatedCluster(t, scheme, codecs, fc)
		}
	})
}

// The first seed of each target must be accepted by every decoder and by
// validation, or the storage and render checks above would never run.
func TestDecodeFuzzFirstSeedsAreAccepted(t *testing.T) {
	_, codecs := newCodecs()
	for _, d := range serverDecoders(t, codecs) {
		obj, ok := decode(d, []byte(federatedSecretSeeds[0]), "FederatedSecret", &secretfed.FederatedSecret{})
		if !ok {
			t.Fatalf("%s: the FederatedSecret seed does not decode", d.name)
		}
		if errs := validation.ValidateFederatedSecret(obj.(*secretfed.FederatedSecret)); len(errs) > 0 {
			t.Errorf("%s: the FederatedSecret seed is invalid: %v", d.name, errs)
		}
		obj, ok = decode(d, []byte(federatedClusterSeeds[0]), "FederatedCluster", &secretfed.FederatedCluster{})
		if !ok {
			t.Fatalf("%s: the FederatedCluster seed does not decode", d.name)
		}
		if errs := validation.ValidateFederatedCluster(obj.(*secretfed.FederatedCluster)); len(errs) > 0 {
			t.Errorf("%s: the FederatedCluster seed is invalid: %v", d.name, errs)
		}
	}
}
