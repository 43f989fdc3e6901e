// Package render turns a FederatedSecret into the Secret one member cluster
// should hold, and decides where it goes and whether an observed member
// Secret must be written.
//
// Everything here is a pure function of its arguments: no clients, no
// caches, no clocks. The propagation controller calls it for every
// (FederatedSecret, cluster) pair on every reconcile, so it must be cheap.
//
// Errors returned here end up in FederatedSecret status and in events, which
// many more people can read than the Secret itself. No error may therefore
// contain a secret value: override failures are reported with our own fixed
// messages (never a JSON or base64 decoder's text), and validation failures
// with their field path and type only.
package render

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/secretfed/secretfed/pkg/apis/secretfed/v1alpha1"
	"github.com/secretfed/secretfed/pkg/apis/secretfed/validation"
)

// OverrideError says which override of a cluster could not be applied and
// why. It never carries the override's value.
type OverrideError struct {
	// Index is the position of the patch in the cluster's clusterOverrides.
	Index int
	// Op and Path are the patch's operation and JSON pointer, as written.
	Op   v1alpha1.OverrideOp
	Path string
	// Reason is one of a fixed set of messages.
	Reason string
}

func (e *OverrideError) Error() string {
	return fmt.Sprintf("override %d (%s %s): %s", e.Index, e.Op, e.Path, e.Reason)
}

// InvalidSecretError says that the template, after this cluster's overrides,
// is not a valid core Secret. Problems lists "field: type[: detail]"; bad
// values are left out on purpose.
type InvalidSecretError struct {
	Problems []string
}

func (e *InvalidSecretError) Error() string {
	return "rendered Secret is invalid: " + strings.Join(e.Problems, "; ")
}

// Reasons an override fails. They are the only texts an OverrideError carries.
const (
	reasonMalformedPointer = "malformed JSON pointer"
	reasonUnsupportedPath  = "path cannot be overridden"
	reasonMissingPath      = "path does not exist"
	reasonUnknownOp        = "unknown op"
	reasonValueRequired    = "value is required"
	reasonNotString        = "value must be a JSON string"
	reasonNotBase64        = "value must be a base64-encoded JSON string"
	reasonNotBool          = "value must be a JSON boolean"
	reasonNotStringMap     = "value must be a JSON object of strings"
	reasonNotBase64Map     = "value must be a JSON object of base64-encoded strings"
)

// working is the mutable part of a template that overrides may change.
// Maps are always non-nil so that "add /data/key" works on a template
// without data, as a user would expect.
type working struct {
	labels      map[string]string
	annotations map[string]string
	typ         string
	data        map[string][]byte
	stringData  map[string]string
	immutable   *bool
}

func newWorking(t *v1alpha1.SecretTemplate) *working {
	w := &working{
		labels:      make(map[string]string, len(t.Metadata.Labels)+1),
		annotations: make(map[string]string, len(t.Metadata.Annotations)),
		typ:         t.Type,
		data:        make(map[string][]byte, len(t.Data)+len(t.StringData)),
		stringData:  make(map[string]string, len(t.StringData)),
	}
	for k, v := range t.Metadata.Labels {
		w.labels[k] = v
	}
	for k, v := range t.Metadata.Annotations {
		w.annotations[k] = v
	}
	for k, v := range t.Data {
		// Copied so that nothing downstream can corrupt the informer cache
		// the FederatedSecret came from.
		w.data[k] = bytes.Clone(v)
	}
	for k, v := range t.StringData {
		w.stringData[k] = v
	}
	if t.Immutable != nil {
		b := *t.Immutable
		w.immutable = &b
	}
	return w
}

// Render returns the Secret that cluster clusterName should hold for fs: the
// template, with that cluster's overrides applied in order, stringData folded
// into data, and the managed label added last so that no override can remove
// it. The result is validated as a core Secret would be.
//
// A failing override or an invalid result fails only this cluster; callers
// report it as OverrideFailed.
func Render(fs *v1alpha1.FederatedSecret, clusterName string) (*corev1.Secret, error) {
	w := newWorking(&fs.Spec.Template)
	for i := range fs.Spec.Overrides {
		o := &fs.Spec.Overrides[i]
		if o.ClusterName != clusterName {
			continue
		}
		for j := range o.ClusterOverrides {
			if err := w.apply(j, &o.ClusterOverrides[j]); err != nil {
				return nil, err
			}
		}
	}

	typ := w.typ
	if typ == "" {
		typ = string(corev1.SecretTypeOpaque) // what API defaulting does
	}
	for k, v := range w.stringData {
		w.data[k] = []byte(v)
	}
	w.labels[v1alpha1.ManagedLabel] = "true"

	s := &corev1.Secret{}
	s.Namespace = fs.Namespace
	s.Name = fs.Name
	s.Labels = w.labels
	if len(w.annotations) > 0 {
		s.Annotations = w.annotations
	}
	s.Type = corev1.SecretType(typ)
	if len(w.data) > 0 {
		s.Data = w.data
	}
	if w.immutable != nil && *w.immutable {
		t := true
		s.Immutable = &t
	}

	if errs := validation.ValidateSecretContent(typ, s.Data, s.Labels, s.Annotations, nil); len(errs) > 0 {
		return nil, &InvalidSecretError{Problems: describe(errs)}
	}
	return s, nil
}

// describe formats validation errors without their bad values, which may be
// secret.
func describe(errs field.ErrorList) []string {
	out := make([]string, 0, len(errs))
	for _, e := range errs {
		msg := e.Field + ": " + e.Type.String()
		if e.Detail != "" {
			msg += ": " + e.Detail
		}
		out = append(out, msg)
	}
	return out
}

// target is what a well-formed override path addresses.
type target int

const (
	tUnsupported target = iota
	tData
	tDataKey
	tStringData
	tStringDataKey
	tLabels
	tLabelKey
	tAnnotations
	tAnnotationKey
	tType
	tImmutable
)

func classify(tokens []string) (target, string) {
	switch len(tokens) {
	case 1:
		switch tokens[0] {
		case "data":
			return tData, ""
		case "stringData":
			return tStringData, ""
		case "type":
			return tType, ""
		case "immutable":
			return tImmutable, ""
		}
	case 2:
		switch tokens[0] {
		case "data":
			return tDataKey, tokens[1]
		case "stringData":
			return tStringDataKey, tokens[1]
		case "metadata":
			switch tokens[1] {
			case "labels":
				return tLabels, ""
			case "annotations":
				return tAnnotations, ""
			}
		}
	case 3:
		if tokens[0] == "metadata" {
			switch tokens[1] {
			case "labels":
				return tLabelKey, tokens[2]
			case "annotations":
				return tAnnotationKey, tokens[2]
			}
		}
	}
	return tUnsupported, ""
}

// apply applies one patch. The whole maps (/data, /metadata/labels, ...) and
// the scalar fields (/type, /immutable) always exist, so add, replace and
// remove of them succeed; a map key must exist for replace and remove, as
// RFC 6902 requires, and add of an existing key replaces it.
func (w *working) apply(index int, p *v1alpha1.OverridePatch) error {
	op := p.Op
	if op == "" {
		op = v1alpha1.OverrideOpReplace
	}
	fail := func(reason string) error {
		return &OverrideError{Index: index, Op: op, Path: p.Path, Reason: reason}
	}
	switch op {
	case v1alpha1.OverrideOpAdd, v1alpha1.OverrideOpRemove, v1alpha1.OverrideOpReplace:
	default:
		return fail(reasonUnknownOp)
	}
	tokens, ok := validation.ParseJSONPointer(p.Path)
	if !ok {
		return fail(reasonMalformedPointer)
	}
	tgt, key := classify(tokens)
	if tgt == tUnsupported {
		return fail(reasonUnsupportedPath)
	}

	// Existence of map keys, checked before values are decoded so that the
	// more basic problem is the one reported.
	if op != v1alpha1.OverrideOpAdd {
		var exists bool
		switch tgt {
		case tDataKey:
			_, exists = w.data[key]
		case tStringDataKey:
			_, exists = w.stringData[key]
		case tLabelKey:
			_, exists = w.labels[key]
		case tAnnotationKey:
			_, exists = w.annotations[key]
		default:
			exists = true
		}
		if !exists {
			return fail(reasonMissingPath)
		}
	}

	if op == v1alpha1.OverrideOpRemove {
		switch tgt {
		case tData:
			clear(w.data)
		case tDataKey:
			delete(w.data, key)
		case tStringData:
			clear(w.stringData)
		case tStringDataKey:
			delete(w.stringData, key)
		case tLabels:
			clear(w.labels)
		case tLabelKey:
			delete(w.labels, key)
		case tAnnotations:
			clear(w.annotations)
		case tAnnotationKey:
			delete(w.annotations, key)
		case tType:
			w.typ = ""
		case tImmutable:
			w.immutable = nil
		}
		return nil
	}

	if p.Value == nil || len(p.Value.Raw) == 0 {
		return fail(reasonValueRequired)
	}
	raw := p.Value.Raw
	switch tgt {
	case tDataKey:
		b, ok := decodeBase64(raw)
		if !ok {
			return fail(reasonNotBase64)
		}
		w.data[key] = b
	case tStringDataKey, tLabelKey, tAnnotationKey, tType:
		s, ok := decodeString(raw)
		if !ok {
			return fail(reasonNotString)
		}
		switch tgt {
		case tStringDataKey:
			w.stringData[key] = s
		case tLabelKey:
			w.labels[key] = s
		case tAnnotationKey:
			w.annotations[key] = s
		case tType:
			w.typ = s
		}
	case tImmutable:
		var b bool
		if json.Unmarshal(raw, &b) != nil {
			return fail(reasonNotBool)
		}
		w.immutable = &b
	case tData:
		m, ok := decodeStringMap(raw)
		if !ok {
			return fail(reasonNotBase64Map)
		}
		data := make(map[string][]byte, len(m))
		for k, v := range m {
			b, err := base64.StdEncoding.DecodeString(v)
			if err != nil {
				return fail(reasonNotBase64Map)
			}
			data[k] = b
		}
		w.data = data
	case tStringData, tLabels, tAnnotations:
		m, ok := decodeStringMap(raw)
		if !ok {
			return fail(reasonNotStringMap)
		}
		switch tgt {
		case tStringData:
			w.stringData = m
		case tLabels:
			w.labels = m
		case tAnnotations:
			w.annotations = m
		}
	}
	return nil
}

func decodeString(raw []byte) (string, bool) {
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return "", false
	}
	return s, true
}

func decodeBase64(raw []byte) ([]byte, bool) {
	s, ok := decodeString(raw)
	if !ok {
		return nil, false
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, false
	}
	return b, true
}

func decodeStringMap(raw []byte) (map[string]string, bool) {
	var m map[string]string
	if json.Unmarshal(raw, &m) != nil || m == nil {
		return nil, false
	}
	return m, true
}
