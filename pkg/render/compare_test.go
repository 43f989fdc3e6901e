package render

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

// observed returns a member copy equal to baseSecret, with the fields the
// member's API server sets.
func observedSecret() *corev1.Secret {
	s := baseSecret()
	s.UID = types.UID("uid-1")
	s.ResourceVersion = "42"
	s.CreationTimestamp.Time = s.CreationTimestamp.Add(1)
	return s
}

func TestNeedsUpdate(t *testing.T) {
	tests := []struct {
		name         string
		desired      func() *corev1.Secret
		observed     func() *corev1.Secret
		wantUpdate   bool
		wantRecreate bool
	}{
		{name: "equal, server fields ignored", desired: baseSecret, observed: observedSecret},
		{
			name:    "foreign label and annotation are left alone",
			desired: baseSecret,
			observed: func() *corev1.Secret {
				s := observedSecret()
				s.Labels["other"] = "x"
				s.Annotations["kubectl.kubernetes.io/last-applied-configuration"] = "{}"
				return s
			},
		},
		{
			name:     "empty type equals Opaque",
			desired:  baseSecret,
			observed: func() *corev1.Secret { s := observedSecret(); s.Type = ""; return s },
		},
		{
			name:     "nil and empty data are equal",
			desired:  func() *corev1.Secret { s := baseSecret(); s.Data = nil; return s },
			observed: func() *corev1.Secret { s := observedSecret(); s.Data = map[string][]byte{}; return s },
		},
		{
			name:     "immutable nil equals false",
			desired:  baseSecret,
			observed: func() *corev1.Secret { s := observedSecret(); f := false; s.Immutable = &f; return s },
		},
		{
			name:       "data value changed",
			desired:    baseSecret,
			observed:   func() *corev1.Secret { s := observedSecret(); s.Data["password"] = []byte("edited"); return s },
			wantUpdate: true,
		},
		{
			name:       "data key added in member",
			desired:    baseSecret,
			observed:   func() *corev1.Secret { s := observedSecret(); s.Data["extra"] = []byte("x"); return s },
			wantUpdate: true,
		},
		{
			name:       "data key removed in member",
			desired:    baseSecret,
			observed:   func() *corev1.Secret { s := observedSecret(); delete(s.Data, "password"); return s },
			wantUpdate: true,
		},
		{
			name:       "rendered label changed",
			desired:    baseSecret,
			observed:   func() *corev1.Secret { s := observedSecret(); s.Labels["app"] = "x"; return s },
			wantUpdate: true,
		},
		{
			name:       "managed label missing (adoption)",
			desired:    baseSecret,
			observed:   func() *corev1.Secret { s := observedSecret(); delete(s.Labels, "secretfed.io/managed"); return s },
			wantUpdate: true,
		},
		{
			name:       "rendered annotation missing",
			desired:    baseSecret,
			observed:   func() *corev1.Secret { s := observedSecret(); s.Annotations = nil; return s },
			wantUpdate: true,
		},
		{
			name:       "becomes immutable: update",
			desired:    func() *corev1.Secret { s := baseSecret(); tr := true; s.Immutable = &tr; return s },
			observed:   observedSecret,
			wantUpdate: true,
		},
		{
			name:     "immutable and equal: nothing",
			desired:  func() *corev1.Secret { s := baseSecret(); tr := true; s.Immutable = &tr; return s },
			observed: func() *corev1.Secret { s := observedSecret(); tr := true; s.Immutable = &tr; return s },
		},
		{
			name:    "immutable, only a label differs: update is allowed",
			desired: func() *corev1.Secret { s := baseSecret(); tr := true; s.Immutable = &tr; return s },
			observed: func() *corev1.Secret {
				s := observedSecret()
				tr := true
				s.Immutable = &tr
				s.Labels["app"] = "x"
				return s
			},
			wantUpdate: true,
		},
		{
			name: "immutable, data differs: recreate",
			desired: func() *corev1.Secret {
				s := baseSecret()
				tr := true
				s.Immutable = &tr
				s.Data["password"] = []byte("new")
				return s
			},
			observed:     func() *corev1.Secret { s := observedSecret(); tr := true; s.Immutable = &tr; return s },
			wantUpdate:   true,
			wantRecreate: true,
		},
		{
			name:         "immutable in member, mutable desired: recreate",
			desired:      baseSecret,
			observed:     func() *corev1.Secret { s := observedSecret(); tr := true; s.Immutable = &tr; return s },
			wantUpdate:   true,
			wantRecreate: true,
		},
		{
			name:         "type differs: recreate",
			desired:      func() *corev1.Secret { s := baseSecret(); s.Type = corev1.SecretTypeBasicAuth; return s },
			observed:     observedSecret,
			wantUpdate:   true,
			wantRecreate: true,
		},
		{name: "absent", desired: baseSecret, observed: func() *corev1.Secret { return nil }, wantUpdate: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			update, recreate := NeedsUpdate(tc.desired(), tc.observed())
			if update != tc.wantUpdate || recreate != tc.wantRecreate {
				t.Errorf("NeedsUpdate() = (%v, %v), want (%v, %v)", update, recreate, tc.wantUpdate, tc.wantRecreate)
			}
		})
	}
}

func TestMerge(t *testing.T) {
	desired := baseSecret()
	desired.Data["password"] = []byte("new")
	observed := observedSecret()
	observed.Labels["app"] = "drifted"
	observed.Labels["foreign"] = "kept"
	observed.Annotations["foreign"] = "kept"

	got := Merge(desired, observed)

	want := observedSecret()
	want.Data["password"] = []byte("new")
	want.Labels["foreign"] = "kept"
	want.Annotations["foreign"] = "kept"
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Merge() mismatch (-want +got):\n%s", diff)
	}
	if update, _ := NeedsUpdate(desired, got); update {
		t.Errorf("NeedsUpdate(desired, Merge(desired, observed)) = true, want false")
	}
}
