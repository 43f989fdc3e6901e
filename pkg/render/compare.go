package render

import (
	"bytes"

	corev1 "k8s.io/api/core/v1"
)

// NeedsUpdate compares what secretfed owns in a member Secret: data, type,
// immutable, and the labels and annotations it renders (the template's, after
// overrides, plus the managed label).
//
// Labels and annotations that desired has must be present in observed with
// the same value. Keys that observed has and desired lacks are left alone:
// kubectl, admission webhooks and other controllers in the member add their
// own, and fighting them would cause endless writes. The cost is that a key
// removed from the template stays on existing member copies until someone
// removes it there (documented in docs/propagation.md).
//
// recreate is true when an update cannot do it: the type differs (type is
// immutable in core), or observed is immutable and its data or immutability
// must change. recreate implies update.
func NeedsUpdate(desired, observed *corev1.Secret) (update bool, recreate bool) {
	if observed == nil {
		return true, false
	}
	typeDiffers := secretType(desired) != secretType(observed)
	dataDiffers := !equalData(desired.Data, observed.Data)
	immutableDiffers := isImmutable(desired) != isImmutable(observed)
	metaDiffers := !containsAll(observed.Labels, desired.Labels) || !containsAll(observed.Annotations, desired.Annotations)

	if typeDiffers || (isImmutable(observed) && (dataDiffers || immutableDiffers)) {
		return true, true
	}
	return dataDiffers || immutableDiffers || metaDiffers, false
}

// Merge returns the Secret to write over observed so that it equals desired in
// everything NeedsUpdate compares, keeping observed's identity (uid,
// resourceVersion, ...) and the labels and annotations others added.
func Merge(desired, observed *corev1.Secret) *corev1.Secret {
	out := observed.DeepCopy()
	out.Labels = mergeMaps(observed.Labels, desired.Labels)
	out.Annotations = mergeMaps(observed.Annotations, desired.Annotations)
	out.Type = desired.Type
	out.Data = desired.Data
	out.StringData = nil
	out.Immutable = desired.Immutable
	return out
}

func mergeMaps(base, over map[string]string) map[string]string {
	if len(base) == 0 && len(over) == 0 {
		return nil
	}
	out := make(map[string]string, len(base)+len(over))
	for k, v := range base {
		out[k] = v
	}
	for k, v := range over {
		out[k] = v
	}
	return out
}

func secretType(s *corev1.Secret) corev1.SecretType {
	if s.Type == "" {
		return corev1.SecretTypeOpaque
	}
	return s.Type
}

func isImmutable(s *corev1.Secret) bool {
	return s.Immutable != nil && *s.Immutable
}

// equalData treats nil and empty maps, and nil and empty values, as equal,
// as the API server does.
func equalData(a, b map[string][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for k, av := range a {
		bv, ok := b[k]
		if !ok || !bytes.Equal(av, bv) {
			return false
		}
	}
	return true
}

func containsAll(have, want map[string]string) bool {
	for k, v := range want {
		if hv, ok := have[k]; !ok || hv != v {
			return false
		}
	}
	return true
}
