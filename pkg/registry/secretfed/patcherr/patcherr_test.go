package patcherr

import (
	"context"
	"errors"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apiserver/pkg/registry/rest"
)

var kind = schema.GroupKind{Group: "secretfed.io", Kind: "FederatedSecret"}

const stored = `{"spec":{"template":{"data":{"password":"czNjcjN0LXN0b3JlZA=="}}}}`

// What k8s.io/apiserver's patch handler returns for a merge patch whose
// result does not decode (handlers/patch.go, applyPatchToCurrentObject).
func mergePatchError() error {
	return apierrors.NewInvalid(schema.GroupKind{}, "", field.ErrorList{
		field.Invalid(field.NewPath("patch"), stored, "json: cannot unmarshal array into Go struct field SecretTemplate.spec.template.data of type map[string][]uint8"),
	})
}

func TestSanitize(t *testing.T) {
	cases := []struct {
		name      string
		err       error
		wantCode  int32
		wantText  []string
		forbidden []string
		unchanged bool
	}{
		{
			name:      "merge patch result that does not decode",
			err:       mergePatchError(),
			wantCode:  422,
			wantText:  []string{`FederatedSecret.secretfed.io "db-creds" is invalid`, "patch: Invalid value", "cannot unmarshal array", "spec.template.data"},
			forbidden: []string{"czNjcjN0LXN0b3JlZA==", "password"},
		},
		{
			name: "strategic merge patch result with a %+v map",
			err: apierrors.NewInvalid(schema.GroupKind{}, "", field.ErrorList{
				field.Invalid(field.NewPath("patch"), "map[spec:map[template:map[data:map[password:czNjcjN0LXN0b3JlZA==]]]]", `strict decoding error: unknown field "spec.bogus"`),
			}),
			wantCode:  422,
			wantText:  []string{`unknown field "spec.bogus"`},
			forbidden: []string{"czNjcjN0LXN0b3JlZA=="},
		},
		{
			name:      "server-side apply patch that does not fit the schema",
			err:       errors.New("failed to create typed patch object (payments/db-creds; secretfed.io/v1alpha1, Kind=FederatedSecret): .spec.template.data: expected map, got &{[czNjcjN0LXNlbnQ=]}"),
			wantCode:  400,
			wantText:  []string{"failed to create typed patch object", ".spec.template.data: expected map"},
			forbidden: []string{"czNjcjN0LXNlbnQ="},
		},
		{
			name:      "server-side apply, several errors",
			err:       errors.New("failed to create typed patch object (x): errors:\n  .spec.placement.clusters: expected list, got &{7}\n  .spec.bogus: field not declared in schema"),
			wantCode:  400,
			wantText:  []string{".spec.placement.clusters: expected list\n", ".spec.bogus: field not declared in schema"},
			forbidden: []string{"&{7}"},
		},
		{name: "validation error", err: apierrors.NewInvalid(kind, "db-creds", field.ErrorList{field.Required(field.NewPath("spec", "template", "data"), "")}), unchanged: true},
		{name: "conflict", err: apierrors.NewConflict(schema.GroupResource{}, "db-creds", errors.New("changed")), unchanged: true},
		{name: "other plain error", err: errors.New("etcd unavailable"), unchanged: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := Sanitize(kind, "db-creds", tc.err)
			if tc.unchanged {
				if got != tc.err {
					t.Fatalf("changed %v into %v", tc.err, got)
				}
				return
			}
			var status apierrors.APIStatus
			if !errors.As(got, &status) || status.Status().Code != tc.wantCode {
				t.Fatalf("got %#v, want an API status with code %d", got, tc.wantCode)
			}
			s := status.Status()
			text := s.Message
			if s.Details != nil {
				for _, c := range s.Details.Causes {
					text += "\n" + c.Field + " " + c.Message
				}
			}
			for _, want := range tc.wantText {
				if !strings.Contains(text, want) {
					t.Errorf("error lacks %q:\n%s", want, text)
				}
			}
			for _, bad := range tc.forbidden {
				if strings.Contains(text, bad) {
					t.Errorf("error still shows %q:\n%s", bad, text)
				}
			}
			if tc.wantCode == 422 && (s.Details == nil || len(s.Details.Causes) == 0 || s.Details.Causes[0].Field != "patch") {
				t.Errorf("422 causes %+v, want one on field patch", s.Details)
			}
		})
	}
}

type failing struct {
	rest.UpdatedObjectInfo
	err error
}

func (f failing) UpdatedObject(context.Context, runtime.Object) (runtime.Object, error) {
	return nil, f.err
}

func TestWrapSanitizesUpdatedObjectErrors(t *testing.T) {
	_, err := Wrap(kind, "db-creds", failing{err: mergePatchError()}).UpdatedObject(context.Background(), nil)
	if !apierrors.IsInvalid(err) || strings.Contains(err.Error(), "czNjcjN0") {
		t.Fatalf("got %v, want a 422 without the stored value", err)
	}
}
