// Package validation holds the write-time rules of the secretfed.io API.
// It returns field.ErrorList with exact paths so users see which field is
// wrong. Error details must never echo secret values: data values and
// override values are reported with a placeholder, never verbatim, and no
// parser error text that could quote them is passed on.
//
// The package only judges objects; it does not default, convert or render
// them. The propagation loop reuses ValidateSecretContent on each rendered
// member Secret so that an override which yields an invalid Secret fails only
// that cluster.
package validation

import (
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"maps"
	"net/url"
	"slices"

	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/secretfed/secretfed/pkg/apis/secretfed"
	"github.com/secretfed/secretfed/pkg/apis/secretfed/v1alpha1"
)

const (
	// MaxSecretSize is the limit core Kubernetes puts on the sum of a
	// Secret's data values; a larger template could never be created in a member.
	MaxSecretSize = 1024 * 1024
	// maxSecretTypeLength bounds the free-form Secret type.
	maxSecretTypeLength = 253

	// redacted stands in for a value that may be secret.
	redacted = "<redacted>"
	// omitted stands in for a value that is too large or too opaque to show.
	omitted = "<omitted>"
)

// Core Secret types and their well-known keys, as in k8s.io/api/core/v1.
// They are repeated here so the rules below read like core's ValidateSecret.
const (
	secretTypeOpaque              = "Opaque"
	secretTypeServiceAccountToken = "kubernetes.io/service-account-token"
	secretTypeDockercfg           = "kubernetes.io/dockercfg"
	secretTypeDockerConfigJSON    = "kubernetes.io/dockerconfigjson"
	secretTypeBasicAuth           = "kubernetes.io/basic-auth"
	secretTypeSSHAuth             = "kubernetes.io/ssh-auth"
	secretTypeTLS                 = "kubernetes.io/tls"

	serviceAccountNameKey = "kubernetes.io/service-account.name"
	dockerConfigKey       = ".dockercfg"
	dockerConfigJSONKey   = ".dockerconfigjson"
	basicAuthUsernameKey  = "username"
	basicAuthPasswordKey  = "password"
	sshAuthPrivateKey     = "ssh-privatekey"
	tlsCertKey            = "tls.crt"
	tlsPrivateKeyKey      = "tls.key"
)

// validPropagationStatuses are the per-cluster states of API.md.
var validPropagationStatuses = []secretfed.PropagationStatus{
	secretfed.PropagationStatus(v1alpha1.StatusPropagated),
	secretfed.PropagationStatus(v1alpha1.StatusClusterNotFound),
	secretfed.PropagationStatus(v1alpha1.StatusClusterNotReady),
	secretfed.PropagationStatus(v1alpha1.StatusNamespaceCreationFailed),
	secretfed.PropagationStatus(v1alpha1.StatusCreationFailed),
	secretfed.PropagationStatus(v1alpha1.StatusUpdateFailed),
	secretfed.PropagationStatus(v1alpha1.StatusDeletionFailed),
	secretfed.PropagationStatus(v1alpha1.StatusAlreadyExists),
	secretfed.PropagationStatus(v1alpha1.StatusOverrideFailed),
	secretfed.PropagationStatus(v1alpha1.StatusWaitingForRemoval),
}

// ValidateFederatedSecret validates a FederatedSecret on create.
func ValidateFederatedSecret(fs *secretfed.FederatedSecret) field.ErrorList {
	// The member Secret gets this name, so it follows a Secret's name rules.
	allErrs := apivalidation.ValidateObjectMeta(&fs.ObjectMeta, true, apivalidation.NameIsDNSSubdomain, field.NewPath("metadata"))
	allErrs = append(allErrs, validateFederatedSecretSpec(&fs.Spec, field.NewPath("spec"))...)
	return allErrs
}

// ValidateFederatedSecretUpdate validates a FederatedSecret on update.
func ValidateFederatedSecretUpdate(newFS, oldFS *secretfed.FederatedSecret) field.ErrorList {
	metaPath := field.NewPath("metadata")
	// ValidateObjectMetaUpdate already checks labels, annotations and owner
	// references of the new object; only finalizer names are left to check.
	allErrs := apivalidation.ValidateObjectMetaUpdate(&newFS.ObjectMeta, &oldFS.ObjectMeta, metaPath)
	allErrs = append(allErrs, apivalidation.ValidateFinalizers(newFS.Finalizers, metaPath.Child("finalizers"))...)
	allErrs = append(allErrs, validateFederatedSecretSpec(&newFS.Spec, field.NewPath("spec"))...)
	return allErrs
}

// ValidateFederatedSecretStatusUpdate validates a write to the status subresource.
func ValidateFederatedSecretStatusUpdate(newFS, oldFS *secretfed.FederatedSecret) field.ErrorList {
	allErrs := apivalidation.ValidateObjectMetaUpdate(&newFS.ObjectMeta, &oldFS.ObjectMeta, field.NewPath("metadata"))
	allErrs = append(allErrs, validateFederatedSecretStatus(&newFS.Status, field.NewPath("status"))...)
	return allErrs
}

func validateFederatedSecretSpec(spec *secretfed.FederatedSecretSpec, fldPath *field.Path) field.ErrorList {
	t := &spec.Template
	allErrs := ValidateSecretContent(t.Type, t.Data, t.Metadata.Labels, t.Metadata.Annotations, fldPath.Child("template"))
	allErrs = append(allErrs, validatePlacement(&spec.Placement, fldPath.Child("placement"))...)
	allErrs = append(allErrs, validateOverrides(spec.Overrides, fldPath.Child("overrides"))...)
	return allErrs
}

// ValidateSecretContent applies the rules core Kubernetes applies to a Secret
// (ValidateSecret in k8s.io/kubernetes/pkg/apis/core/validation) to a Secret's
// type, data, labels and annotations, reported under fldPath (data at
// fldPath.data, labels at fldPath.metadata.labels, ...). It validates a
// FederatedSecret's template and, in the propagation loop, each rendered
// member Secret after overrides. Unlike core, an empty type is rejected: by
// then defaulting has made it Opaque. No error quotes a data value.
func ValidateSecretContent(secretType string, data map[string][]byte, labels, annotations map[string]string, fldPath *field.Path) field.ErrorList {
	metaPath := fldPath.Child("metadata")
	allErrs := metav1validation.ValidateLabels(labels, metaPath.Child("labels"))
	allErrs = append(allErrs, apivalidation.ValidateAnnotations(annotations, metaPath.Child("annotations"))...)

	dataPath := fldPath.Child("data")
	totalSize := 0
	for _, key := range sortedKeys(data) {
		// The key may be shown: keys are names, not secrets.
		for _, msg := range validation.IsConfigMapKey(key) {
			allErrs = append(allErrs, field.Invalid(dataPath.Key(key), key, msg))
		}
		totalSize += len(data[key])
	}
	if totalSize > MaxSecretSize {
		allErrs = append(allErrs, field.TooLong(dataPath, "" /*unused*/, MaxSecretSize))
	}

	typePath := fldPath.Child("type")
	switch {
	case secretType == "":
		allErrs = append(allErrs, field.Required(typePath, ""))
	case len(secretType) > maxSecretTypeLength:
		allErrs = append(allErrs, field.TooLong(typePath, "" /*unused*/, maxSecretTypeLength))
	}

	switch secretType {
	case secretTypeServiceAccountToken:
		// Like core, only the annotation is required; the token and the uid
		// are filled in by the member's token controller.
		if len(annotations[serviceAccountNameKey]) == 0 {
			allErrs = append(allErrs, field.Required(metaPath.Child("annotations").Key(serviceAccountNameKey), ""))
		}
	case secretTypeDockercfg:
		allErrs = append(allErrs, validateJSONObjectKey(data, dockerConfigKey, dataPath)...)
	case secretTypeDockerConfigJSON:
		allErrs = append(allErrs, validateJSONObjectKey(data, dockerConfigJSONKey, dataPath)...)
	case secretTypeBasicAuth:
		// Either may be empty, but one of them must be present.
		_, hasUsername := data[basicAuthUsernameKey]
		_, hasPassword := data[basicAuthPasswordKey]
		if !hasUsername && !hasPassword {
			allErrs = append(allErrs,
				field.Required(dataPath.Key(basicAuthUsernameKey), ""),
				field.Required(dataPath.Key(basicAuthPasswordKey), ""))
		}
	case secretTypeSSHAuth:
		if len(data[sshAuthPrivateKey]) == 0 {
			allErrs = append(allErrs, field.Required(dataPath.Key(sshAuthPrivateKey), ""))
		}
	case secretTypeTLS:
		if _, ok := data[tlsCertKey]; !ok {
			allErrs = append(allErrs, field.Required(dataPath.Key(tlsCertKey), ""))
		}
		if _, ok := data[tlsPrivateKeyKey]; !ok {
			allErrs = append(allErrs, field.Required(dataPath.Key(tlsPrivateKeyKey), ""))
		}
	default:
		// Opaque and any other type are free-form, as in core.
	}
	return allErrs
}

// validateJSONObjectKey requires data[key] to hold a JSON object, the check
// core applies to docker config Secrets. The decoder's error is dropped on
// purpose: it can quote bytes of the (secret) content.
func validateJSONObjectKey(data map[string][]byte, key string, dataPath *field.Path) field.ErrorList {
	value, ok := data[key]
	if !ok {
		return field.ErrorList{field.Required(dataPath.Key(key), "")}
	}
	if err := json.Unmarshal(value, &map[string]interface{}{}); err != nil {
		msg := "must be valid JSON"
		if json.Valid(value) {
			msg = "must be valid JSON: a JSON object is expected"
		}
		return field.ErrorList{field.Invalid(dataPath.Key(key), redacted, msg)}
	}
	return nil
}

func validatePlacement(p *secretfed.Placement, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	seen := make(map[string]bool, len(p.Clusters))
	for i, c := range p.Clusters {
		namePath := fldPath.Child("clusters").Index(i).Child("name")
		allErrs = append(allErrs, validateClusterName(c.Name, namePath)...)
		if c.Name == "" {
			continue
		}
		if seen[c.Name] {
			allErrs = append(allErrs, field.Duplicate(namePath, c.Name))
		}
		seen[c.Name] = true
	}
	allErrs = append(allErrs, metav1validation.ValidateLabelSelector(p.ClusterSelector, metav1validation.LabelSelectorValidationOptions{}, fldPath.Child("clusterSelector"))...)
	return allErrs
}

// validateClusterName checks a reference to a FederatedCluster. References
// are checked as DNS subdomains, the usual rule for object references; a
// name without a FederatedCluster is a status matter, not a validation error.
func validateClusterName(name string, fldPath *field.Path) field.ErrorList {
	if name == "" {
		return field.ErrorList{field.Required(fldPath, "")}
	}
	var allErrs field.ErrorList
	for _, msg := range apivalidation.NameIsDNSSubdomain(name, false) {
		allErrs = append(allErrs, field.Invalid(fldPath, name, msg))
	}
	return allErrs
}

func validateFederatedSecretStatus(status *secretfed.FederatedSecretStatus, fldPath *field.Path) field.ErrorList {
	allErrs := apivalidation.ValidateNonnegativeField(status.ObservedGeneration, fldPath.Child("observedGeneration"))
	allErrs = append(allErrs, metav1validation.ValidateConditions(status.Conditions, fldPath.Child("conditions"))...)
	seen := make(map[string]bool, len(status.Clusters))
	for i, c := range status.Clusters {
		idxPath := fldPath.Child("clusters").Index(i)
		namePath := idxPath.Child("name")
		if c.Name == "" {
			allErrs = append(allErrs, field.Required(namePath, ""))
		} else {
			if seen[c.Name] {
				allErrs = append(allErrs, field.Duplicate(namePath, c.Name))
			}
			seen[c.Name] = true
		}
		statusPath := idxPath.Child("status")
		switch {
		case c.Status == "":
			allErrs = append(allErrs, field.Required(statusPath, ""))
		case !slices.Contains(validPropagationStatuses, c.Status):
			allErrs = append(allErrs, field.NotSupported(statusPath, c.Status, validPropagationStatuses))
		}
	}
	return allErrs
}

// ValidateFederatedCluster validates a FederatedCluster on create.
func ValidateFederatedCluster(fc *secretfed.FederatedCluster) field.ErrorList {
	// A DNS-1123 label rather than a subdomain: join derives further names
	// (secretfed-NAME, NAME-credentials) that must stay valid.
	allErrs := apivalidation.ValidateObjectMeta(&fc.ObjectMeta, false, apivalidation.NameIsDNSLabel, field.NewPath("metadata"))
	allErrs = append(allErrs, validateFederatedClusterSpec(&fc.Spec, field.NewPath("spec"))...)
	return allErrs
}

// ValidateFederatedClusterUpdate validates a FederatedCluster on update.
func ValidateFederatedClusterUpdate(newFC, oldFC *secretfed.FederatedCluster) field.ErrorList {
	metaPath := field.NewPath("metadata")
	allErrs := apivalidation.ValidateObjectMetaUpdate(&newFC.ObjectMeta, &oldFC.ObjectMeta, metaPath)
	allErrs = append(allErrs, apivalidation.ValidateFinalizers(newFC.Finalizers, metaPath.Child("finalizers"))...)
	allErrs = append(allErrs, validateFederatedClusterSpec(&newFC.Spec, field.NewPath("spec"))...)
	return allErrs
}

// ValidateFederatedClusterStatusUpdate validates a write to the status subresource.
func ValidateFederatedClusterStatusUpdate(newFC, oldFC *secretfed.FederatedCluster) field.ErrorList {
	allErrs := apivalidation.ValidateObjectMetaUpdate(&newFC.ObjectMeta, &oldFC.ObjectMeta, field.NewPath("metadata"))
	allErrs = append(allErrs, metav1validation.ValidateConditions(newFC.Status.Conditions, field.NewPath("status", "conditions"))...)
	return allErrs
}

func validateFederatedClusterSpec(spec *secretfed.FederatedClusterSpec, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList

	endpointPath := fldPath.Child("apiEndpoint")
	if spec.APIEndpoint == "" {
		allErrs = append(allErrs, field.Required(endpointPath, "the https URL of the member's API server"))
	} else if u, err := url.Parse(spec.APIEndpoint); err != nil || u.Scheme != "https" || u.Hostname() == "" {
		allErrs = append(allErrs, field.Invalid(endpointPath, displayURL(spec.APIEndpoint), "must be an https URL with a host, such as https://10.1.2.3:6443"))
	} else if u.User != nil {
		// secretfed authenticates with the bearer token of spec.secretRef;
		// credentials here would be readable by anyone who can read the cluster.
		allErrs = append(allErrs, field.Invalid(endpointPath, u.Redacted(), "must be an https URL without user information; credentials belong in spec.secretRef"))
	}

	if len(spec.CABundle) > 0 {
		if msg := caBundleError(spec.CABundle); msg != "" {
			allErrs = append(allErrs, field.Invalid(fldPath.Child("caBundle"), omitted, msg))
		}
	}

	refPath := fldPath.Child("secretRef", "name")
	if spec.SecretRef.Name == "" {
		allErrs = append(allErrs, field.Required(refPath, fmt.Sprintf("the FederatedSecret in namespace %s holding the member's bearer token", v1alpha1.SystemNamespace)))
	} else {
		for _, msg := range apivalidation.NameIsDNSSubdomain(spec.SecretRef.Name, false) {
			allErrs = append(allErrs, field.Invalid(refPath, spec.SecretRef.Name, msg))
		}
	}

	if spec.ProxyURL != "" {
		proxyPath := fldPath.Child("proxyURL")
		supported := []string{"http", "https", "socks5"}
		u, err := url.Parse(spec.ProxyURL)
		switch {
		case err != nil:
			allErrs = append(allErrs, field.Invalid(proxyPath, omitted, "must be a URL such as http://proxy.example:3128"))
		case !slices.Contains(supported, u.Scheme):
			allErrs = append(allErrs, field.NotSupported(proxyPath, u.Scheme, supported))
		case u.Hostname() == "":
			// A proxy URL may carry proxy credentials: show it redacted.
			allErrs = append(allErrs, field.Invalid(proxyPath, u.Redacted(), "must have a host"))
		}
	}
	return allErrs
}

// caBundleError says why a CA bundle is unusable, or "" if it is usable: it
// needs at least one CERTIFICATE block, and every CERTIFICATE block must parse.
func caBundleError(bundle []byte) string {
	certs := 0
	for rest := bundle; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		if _, err := x509.ParseCertificate(block.Bytes); err != nil {
			return "contains a CERTIFICATE block that is not a valid X.509 certificate"
		}
		certs++
	}
	if certs == 0 {
		return "must contain at least one PEM-encoded CERTIFICATE block"
	}
	return ""
}

// displayURL shows a URL without its password; an unparsable one is not
// shown at all, since it may hold credentials in a shape Redacted cannot find.
func displayURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return omitted
	}
	return u.Redacted()
}

// sortedKeys makes the order of errors about map entries deterministic.
func sortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}
