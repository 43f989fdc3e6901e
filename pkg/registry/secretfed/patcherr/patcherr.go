// Package patcherr keeps the errors of PATCH requests on secretfed.io
// resources free of stored values and out of the 5xx range. The registries of
// both kinds wrap the rest.UpdatedObjectInfo of every update with it.
//
// Two errors of the generic apiserver's patch handler need it, both raised
// while the store computes the updated object, which is why wrapping
// UpdatedObject is enough:
//
//   - A JSON merge or strategic merge patch whose result does not decode
//     (e.g. {"spec":{"template":{"data":[]}}}) is a 422 on the field "patch"
//     whose value is the whole patched object: every data value of the
//     stored FederatedSecret, base64-encoded. That reaches a caller who may
//     hold patch but not get, and a Metadata-level audit event records it
//     (the event's responseStatus carries the message and causes). The value
//     is dropped; the field and the decoder's reason stay.
//   - A server-side apply patch that does not fit the schema is a plain error,
//     so a 500, quoting the offending value (kubernetes/kubernetes#139253).
//     It becomes a 400 BadRequest, as the upstream fix proposes, without the
//     value.
package patcherr

import (
	"context"
	"errors"
	"strconv"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apiserver/pkg/registry/rest"
)

// patchField is the field the patch handler reports undecodable results on.
const patchField = "patch"

// typedPatchPrefix starts the plain error of server-side apply's conversion
// of the patch to its schema (structured-merge-diff, via managedfields).
const typedPatchPrefix = "failed to create typed patch object"

// Wrap returns objInfo with its errors made safe; kind and name label the
// rebuilt 422.
func Wrap(kind schema.GroupKind, name string, objInfo rest.UpdatedObjectInfo) rest.UpdatedObjectInfo {
	return &updatedObjectInfo{UpdatedObjectInfo: objInfo, kind: kind, name: name}
}

type updatedObjectInfo struct {
	rest.UpdatedObjectInfo
	kind schema.GroupKind
	name string
}

func (i *updatedObjectInfo) UpdatedObject(ctx context.Context, old runtime.Object) (runtime.Object, error) {
	obj, err := i.UpdatedObjectInfo.UpdatedObject(ctx, old)
	if err != nil {
		return nil, Sanitize(i.kind, i.name, err)
	}
	return obj, nil
}

// Sanitize rewrites the two patch errors described in the package comment
// and returns every other error unchanged.
func Sanitize(kind schema.GroupKind, name string, err error) error {
	var status apierrors.APIStatus
	if !errors.As(err, &status) {
		if msg := err.Error(); strings.HasPrefix(msg, typedPatchPrefix) {
			return apierrors.NewBadRequest(dropGotValues(msg))
		}
		return err
	}
	s := status.Status()
	if s.Reason != metav1.StatusReasonInvalid || s.Details == nil || !hasPatchCause(s.Details.Causes) {
		return err
	}
	var errs field.ErrorList
	for _, c := range s.Details.Causes {
		if c.Field != patchField {
			errs = append(errs, &field.Error{Type: field.ErrorType(c.Type), Field: c.Field, BadValue: field.OmitValueType{}, Detail: causeDetail(c)})
			continue
		}
		errs = append(errs, &field.Error{Type: field.ErrorTypeInvalid, Field: patchField, BadValue: field.OmitValueType{}, Detail: patchDetail(c.Message)})
	}
	return apierrors.NewInvalid(kind, name, errs)
}

func hasPatchCause(causes []metav1.StatusCause) bool {
	for _, c := range causes {
		if c.Field == patchField {
			return true
		}
	}
	return false
}

// causeDetail keeps another cause's text; its type prefix is added back by
// the rebuilt error.
func causeDetail(c metav1.StatusCause) string {
	return strings.TrimPrefix(strings.TrimPrefix(c.Message, field.ErrorType(c.Type).String()), ": ")
}

// patchDetail takes the reason out of a cause message of the form
// `Invalid value: "<patched object>": <reason>` (field.Error.ErrorBody with
// a %q-quoted value), dropping the value.
func patchDetail(msg string) string {
	const fallback = "the patched object does not decode"
	rest, ok := strings.CutPrefix(msg, field.ErrorTypeInvalid.String()+": ")
	if !ok {
		return fallback
	}
	quoted, err := strconv.QuotedPrefix(rest)
	if err != nil {
		return fallback
	}
	reason, ok := strings.CutPrefix(rest[len(quoted):], ": ")
	if !ok || reason == "" {
		return fallback
	}
	return dropGotValues(reason)
}

// dropGotValues cuts every line of a structured-merge-diff message at
// ", got ", after which it prints the offending value ("expected list, got
// &{7}").
func dropGotValues(msg string) string {
	lines := strings.Split(msg, "\n")
	for i, l := range lines {
		if before, _, found := strings.Cut(l, ", got "); found {
			lines[i] = before
		}
	}
	return strings.Join(lines, "\n")
}
