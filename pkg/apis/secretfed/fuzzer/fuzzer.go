// Package fuzzer holds the randfill functions that keep randomly filled
// secretfed.io objects round-trippable (internal -> v1alpha1 -> JSON ->
// v1alpha1 -> internal). It only constrains what the wire cannot carry or
// what decoding defaults; it must not hide real round-trip losses.
package fuzzer

import (
	"encoding/json"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	runtimeserializer "k8s.io/apimachinery/pkg/runtime/serializer"
	"sigs.k8s.io/randfill"

	"github.com/secretfed/secretfed/pkg/apis/secretfed"
	"github.com/secretfed/secretfed/pkg/apis/secretfed/v1alpha1"
)

// Funcs returns the fuzzer functions for the secretfed.io group, for
// k8s.io/apimachinery/pkg/api/apitesting/roundtrip.
var Funcs = func(codecs runtimeserializer.CodecFactory) []interface{} {
	return []interface{}{
		func(t *secretfed.SecretTemplate, c randfill.Continue) {
			c.FillNoCustom(t)
			// Decoding defaults an empty type to Opaque (SetDefaults_SecretTemplate).
			if t.Type == "" {
				t.Type = "Opaque"
			}
		},
		func(p *secretfed.Placement, c randfill.Continue) {
			c.FillNoCustom(p)
			// nil ("no explicit list") and empty ("exactly no cluster") mean
			// different things; make sure both, and a real list, come up.
			switch c.Intn(3) {
			case 0:
				p.Clusters = nil
			case 1:
				p.Clusters = []secretfed.ClusterReference{}
			}
		},
		func(p *secretfed.OverridePatch, c randfill.Continue) {
			c.FillNoCustom(p)
			// Decoding defaults an empty op to replace (SetDefaults_OverridePatch).
			ops := []secretfed.OverrideOp{secretfed.OverrideOpAdd, secretfed.OverrideOpRemove, secretfed.OverrideOpReplace}
			p.Op = ops[c.Intn(len(ops))]
		},
		// OverrideValue carries raw JSON: random bytes cannot be encoded, and a
		// present value with no bytes would encode as null and come back absent.
		func(v *secretfed.OverrideValue, c randfill.Continue) {
			v.Raw = jsonString(c)
		},
		func(v *v1alpha1.OverrideValue, c randfill.Continue) {
			v.Raw = jsonString(c)
		},
		func(cond *metav1.Condition, c randfill.Continue) {
			c.FillNoCustom(cond)
			// Keep conditions shaped like those the server writes; the
			// timestamp is already second-precision (metav1.Time.RandFill).
			statuses := []metav1.ConditionStatus{metav1.ConditionTrue, metav1.ConditionFalse, metav1.ConditionUnknown}
			cond.Status = statuses[c.Intn(len(statuses))]
		},
	}
}

// jsonString returns a random JSON string value, as written by encoding/json
// so that re-encoding it gives the same bytes.
func jsonString(c randfill.Continue) []byte {
	raw, err := json.Marshal(c.String(0))
	if err != nil {
		panic(err) // a Go string always marshals
	}
	return raw
}
