package validation

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"

	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/secretfed/secretfed/pkg/apis/secretfed"
)

var supportedOverrideOps = []secretfed.OverrideOp{
	secretfed.OverrideOpAdd,
	secretfed.OverrideOpRemove,
	secretfed.OverrideOpReplace,
}

// supportedOverridePaths is what a NotSupported path error lists.
var supportedOverridePaths = []string{
	"/data", "/data/<key>",
	"/stringData", "/stringData/<key>",
	"/metadata/labels", "/metadata/labels/<key>",
	"/metadata/annotations", "/metadata/annotations/<key>",
	"/type", "/immutable",
}

// overrideTarget is the part of the template an override path addresses.
type overrideTarget int

const (
	targetUnsupported overrideTarget = iota
	targetData
	targetDataKey
	targetStringData
	targetStringDataKey
	targetLabels
	targetLabelKey
	targetAnnotations
	targetAnnotationKey
	targetType
	targetImmutable
)

// ParseJSONPointer splits an RFC 6901 JSON pointer into its unescaped
// reference tokens ("~1" is "/", "~0" is "~"). Beyond the RFC, it rejects the
// empty pointer and empty reference tokens, which address nothing an
// override may change.
func ParseJSONPointer(pointer string) ([]string, bool) {
	if !strings.HasPrefix(pointer, "/") {
		return nil, false
	}
	tokens := strings.Split(pointer[1:], "/")
	for i, tok := range tokens {
		if tok == "" {
			return nil, false
		}
		if !strings.Contains(tok, "~") {
			continue
		}
		var b strings.Builder
		for j := 0; j < len(tok); j++ {
			if tok[j] != '~' {
				b.WriteByte(tok[j])
				continue
			}
			if j+1 == len(tok) {
				return nil, false
			}
			switch tok[j+1] {
			case '0':
				b.WriteByte('~')
			case '1':
				b.WriteByte('/')
			default:
				return nil, false
			}
			j++
		}
		tokens[i] = b.String()
	}
	return tokens, true
}

// forbiddenOverridePath reports whether tokens is, or is under, a part of the
// object that identifies it; overriding those would move or retype the member.
func forbiddenOverridePath(tokens []string) bool {
	switch tokens[0] {
	case "kind", "apiVersion":
		return true
	case "metadata":
		if len(tokens) > 1 {
			switch tokens[1] {
			case "name", "namespace", "generateName":
				return true
			}
		}
	}
	return false
}

// classifyOverridePath maps the tokens of a well-formed pointer to what it
// addresses, with the map key for the <key> forms.
func classifyOverridePath(tokens []string) (overrideTarget, string) {
	switch len(tokens) {
	case 1:
		switch tokens[0] {
		case "data":
			return targetData, ""
		case "stringData":
			return targetStringData, ""
		case "type":
			return targetType, ""
		case "immutable":
			return targetImmutable, ""
		}
	case 2:
		switch tokens[0] {
		case "data":
			return targetDataKey, tokens[1]
		case "stringData":
			return targetStringDataKey, tokens[1]
		case "metadata":
			switch tokens[1] {
			case "labels":
				return targetLabels, ""
			case "annotations":
				return targetAnnotations, ""
			}
		}
	case 3:
		if tokens[0] == "metadata" {
			switch tokens[1] {
			case "labels":
				return targetLabelKey, tokens[2]
			case "annotations":
				return targetAnnotationKey, tokens[2]
			}
		}
	}
	return targetUnsupported, ""
}

func validateOverrides(overrides []secretfed.ClusterOverride, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	seenClusters := make(map[string]bool, len(overrides))
	for i := range overrides {
		o := &overrides[i]
		idxPath := fldPath.Index(i)
		namePath := idxPath.Child("clusterName")
		allErrs = append(allErrs, validateClusterName(o.ClusterName, namePath)...)
		if o.ClusterName != "" {
			if seenClusters[o.ClusterName] {
				allErrs = append(allErrs, field.Duplicate(namePath, o.ClusterName))
			}
			seenClusters[o.ClusterName] = true
		}

		seenPaths := make(map[string]bool, len(o.ClusterOverrides))
		for k := range o.ClusterOverrides {
			patch := &o.ClusterOverrides[k]
			patchPath := idxPath.Child("clusterOverrides").Index(k)
			allErrs = append(allErrs, validateOverridePatch(patch, patchPath)...)
			// RFC 6901 has one spelling per pointer, so comparing the raw
			// strings finds every repeat of a well-formed path.
			if patch.Path != "" {
				if seenPaths[patch.Path] {
					allErrs = append(allErrs, field.Duplicate(patchPath.Child("path"), patch.Path))
				}
				seenPaths[patch.Path] = true
			}
		}
	}
	return allErrs
}

func validateOverridePatch(patch *secretfed.OverridePatch, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList

	opPath := fldPath.Child("op")
	opKnown := false
	switch patch.Op {
	case "":
		// Defaulting makes it replace; an empty op here was never defaulted.
		allErrs = append(allErrs, field.Required(opPath, ""))
	case secretfed.OverrideOpAdd, secretfed.OverrideOpRemove, secretfed.OverrideOpReplace:
		opKnown = true
	default:
		allErrs = append(allErrs, field.NotSupported(opPath, patch.Op, supportedOverrideOps))
	}

	target, pathErrs := validateOverridePath(patch.Path, fldPath.Child("path"))
	allErrs = append(allErrs, pathErrs...)
	if !opKnown || target == targetUnsupported {
		// Without a known op and target there is no rule for the value.
		return allErrs
	}

	valuePath := fldPath.Child("value")
	hasValue := patch.Value != nil && len(bytes.TrimSpace(patch.Value.Raw)) > 0 &&
		!bytes.Equal(bytes.TrimSpace(patch.Value.Raw), []byte("null"))
	if patch.Op == secretfed.OverrideOpRemove {
		if hasValue {
			allErrs = append(allErrs, field.Forbidden(valuePath, "may not be set when op is remove"))
		}
		return allErrs
	}
	if !hasValue {
		return append(allErrs, field.Required(valuePath, fmt.Sprintf("must be set when op is %s", patch.Op)))
	}
	return append(allErrs, validateOverrideValue(target, patch.Value.Raw, valuePath)...)
}

// validateOverridePath returns what a path addresses, or targetUnsupported
// with the errors that say why it addresses nothing an override may change.
// Paths are not secret, so they may be quoted.
func validateOverridePath(path string, fldPath *field.Path) (overrideTarget, field.ErrorList) {
	if path == "" {
		return targetUnsupported, field.ErrorList{field.Required(fldPath, "a JSON pointer into the template, such as /data/password")}
	}
	tokens, ok := ParseJSONPointer(path)
	if !ok {
		return targetUnsupported, field.ErrorList{field.Invalid(fldPath, path,
			`malformed JSON pointer (RFC 6901): it must start with "/", have no empty reference tokens, and escape "~" as "~0" and "/" as "~1"`)}
	}
	if forbiddenOverridePath(tokens) {
		return targetUnsupported, field.ErrorList{field.Forbidden(fldPath,
			fmt.Sprintf("%s may not be overridden: the member Secret always has the kind, name and namespace of the FederatedSecret", path))}
	}
	target, key := classifyOverridePath(tokens)
	var allErrs field.ErrorList
	switch target {
	case targetUnsupported:
		allErrs = append(allErrs, field.NotSupported(fldPath, path, supportedOverridePaths))
	case targetDataKey, targetStringDataKey:
		for _, msg := range validation.IsConfigMapKey(key) {
			allErrs = append(allErrs, field.Invalid(fldPath, path, msg))
		}
	case targetLabelKey:
		for _, err := range metav1validation.ValidateLabelName(key, fldPath) {
			allErrs = append(allErrs, field.Invalid(fldPath, path, err.Detail))
		}
	case targetAnnotationKey:
		for _, err := range apivalidation.ValidateAnnotations(map[string]string{key: ""}, fldPath) {
			allErrs = append(allErrs, field.Invalid(fldPath, path, err.Detail))
		}
	}
	if len(allErrs) > 0 {
		return targetUnsupported, allErrs
	}
	return target, nil
}

// validateOverrideValue checks that raw is the JSON an add or replace of
// target needs. Values are never quoted and decoder errors never passed on:
// under /data and /stringData they are secrets.
func validateOverrideValue(target overrideTarget, raw []byte, fldPath *field.Path) field.ErrorList {
	if !json.Valid(raw) {
		return field.ErrorList{field.Invalid(fldPath, redacted, "must be valid JSON")}
	}
	switch target {
	case targetDataKey:
		if !isBase64String(raw) {
			return field.ErrorList{field.Invalid(fldPath, redacted, "must be a base64-encoded string")}
		}
	case targetStringDataKey, targetType, targetLabelKey, targetAnnotationKey:
		if !isJSONString(raw) {
			return field.ErrorList{field.Invalid(fldPath, redacted, "must be a JSON string")}
		}
	case targetImmutable:
		if t := string(bytes.TrimSpace(raw)); t != "true" && t != "false" {
			return field.ErrorList{field.Invalid(fldPath, redacted, "must be a JSON boolean")}
		}
	case targetData:
		return validateOverrideMap(raw, fldPath, "must be a JSON object of base64-encoded strings", func(k string, v json.RawMessage, p *field.Path) field.ErrorList {
			var errs field.ErrorList
			for _, msg := range validation.IsConfigMapKey(k) {
				errs = append(errs, field.Invalid(p, k, msg))
			}
			if !isBase64String(v) {
				errs = append(errs, field.Invalid(p, redacted, "must be a base64-encoded string"))
			}
			return errs
		})
	case targetStringData:
		return validateOverrideMap(raw, fldPath, "must be a JSON object of strings", func(k string, v json.RawMessage, p *field.Path) field.ErrorList {
			var errs field.ErrorList
			for _, msg := range validation.IsConfigMapKey(k) {
				errs = append(errs, field.Invalid(p, k, msg))
			}
			if !isJSONString(v) {
				errs = append(errs, field.Invalid(p, redacted, "must be a JSON string"))
			}
			return errs
		})
	case targetLabels:
		return validateOverrideMap(raw, fldPath, "must be a JSON object of strings", func(k string, v json.RawMessage, p *field.Path) field.ErrorList {
			errs := metav1validation.ValidateLabelName(k, p)
			if !isJSONString(v) {
				errs = append(errs, field.Invalid(p, redacted, "must be a JSON string"))
			}
			return errs
		})
	case targetAnnotations:
		return validateOverrideMap(raw, fldPath, "must be a JSON object of strings", func(k string, v json.RawMessage, p *field.Path) field.ErrorList {
			var errs field.ErrorList
			for _, err := range apivalidation.ValidateAnnotations(map[string]string{k: ""}, p) {
				errs = append(errs, field.Invalid(p, k, err.Detail))
			}
			if !isJSONString(v) {
				errs = append(errs, field.Invalid(p, redacted, "must be a JSON string"))
			}
			return errs
		})
	}
	return nil
}

// validateOverrideMap checks a whole-map value entry by entry, in key order,
// reporting each entry at fldPath[key].
func validateOverrideMap(raw []byte, fldPath *field.Path, notObjectMsg string, entry func(k string, v json.RawMessage, p *field.Path) field.ErrorList) field.ErrorList {
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil || m == nil {
		return field.ErrorList{field.Invalid(fldPath, redacted, notObjectMsg)}
	}
	var allErrs field.ErrorList
	for _, k := range sortedKeys(m) {
		allErrs = append(allErrs, entry(k, m[k], fldPath.Key(k))...)
	}
	return allErrs
}

// isBase64String reports whether raw is a JSON string that decodes as
// standard base64, which is how a core Secret's data values are written.
func isBase64String(raw []byte) bool {
	s, ok := jsonString(raw)
	if !ok {
		return false
	}
	_, err := base64.StdEncoding.DecodeString(s)
	return err == nil
}

// jsonString decodes raw if it is a JSON string. Unlike json.Unmarshal into
// a string, it does not take null for the empty string.
func jsonString(raw []byte) (string, bool) {
	var s string
	if !bytes.HasPrefix(bytes.TrimSpace(raw), []byte(`"`)) || json.Unmarshal(raw, &s) != nil {
		return "", false
	}
	return s, true
}

func isJSONString(raw []byte) bool {
	_, ok := jsonString(raw)
	return ok
}
