package v1alpha1

import (
	"k8s.io/apimachinery/pkg/conversion"

	"github.com/secretfed/secretfed/pkg/apis/secretfed"
)

// Convert_v1alpha1_SecretTemplate_To_secretfed_SecretTemplate folds stringData
// into data, as core Secrets do, so stringData is never stored. A stringData
// entry wins over a data entry of the same key.
func Convert_v1alpha1_SecretTemplate_To_secretfed_SecretTemplate(in *SecretTemplate, out *secretfed.SecretTemplate, s conversion.Scope) error {
	if err := autoConvert_v1alpha1_SecretTemplate_To_secretfed_SecretTemplate(in, out, s); err != nil {
		return err
	}
	if len(in.StringData) == 0 {
		return nil
	}
	// Copy rather than write into out.Data: the generated conversion may share
	// the map with the input object.
	data := make(map[string][]byte, len(in.Data)+len(in.StringData))
	for k, v := range in.Data {
		data[k] = v
	}
	for k, v := range in.StringData {
		data[k] = []byte(v)
	}
	out.Data = data
	return nil
}
