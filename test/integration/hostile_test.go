package integration

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
)

// hostileMarker is put into data values of hostile bodies: no response,
// whatever its code, may show it (raw or base64).
const hostileMarker = "hostile-s3cret-V4lue"

// hostileRequest is one malformed or adversarial write.
type hostileRequest struct {
	name string
	// method is POST (create), PUT (update) or PATCH; resource is
	// federatedsecrets (namespace "hostile") or federatedclusters;
	// object and subresource address an existing object for PUT and PATCH.
	method, resource, object, subresource string
	// contentType defaults to application/json (or the patch type).
	contentType string
	body        []byte
	// params are added as query parameters (e.g. fieldValidation=Strict).
	params map[string]string
	// wantCode is the exact status expected; wantField, if set, must be one
	// of a 422's causes.
	wantCode  int
	wantField string
}

const fsHead = `"apiVersion":"secretfed.io/v1alpha1","kind":"FederatedSecret","metadata":{"name":"h","namespace":"hostile"}`
const fcHead = `"apiVersion":"secretfed.io/v1alpha1","kind":"FederatedCluster","metadata":{"name":"h"}`

var markerB64 = base64.StdEncoding.EncodeToString([]byte(hostileMarker))

func fsBody(spec string) []byte { return []byte("{" + fsHead + `,"spec":` + spec + "}") }

func fsWithOverrideValue(path, value string) []byte {
	return fsBody(fmt.Sprintf(`{"template":{"type":"Opaque","data":{"k":%q}},"overrides":[{"clusterName":"member1","clusterOverrides":[{"op":"replace","path":%q,"value":%s}]}]}`, markerB64, path, value))
}

func hostileRequests() []hostileRequest {
	deepArray := func(n int) string { return strings.Repeat("[", n) + strings.Repeat("]", n) }
	deepObject := func(n int) string { return strings.Repeat(`{"a":`, n) + `"YQ=="` + strings.Repeat("}", n) }
	twoMiB := base64.StdEncoding.EncodeToString([]byte(strings.Repeat(hostileMarker, 2<<20/len(hostileMarker)+1)))
	return []hostileRequest{
		// Bodies that are not a FederatedSecret at all: 400 from the decoder.
		{name: "truncated JSON", method: "POST", resource: "federatedsecrets", body: []byte(`{"apiVersion":"secretfed.io/v1alpha1","kind":`), wantCode: 400},
		{name: "binary garbage", method: "POST", resource: "federatedsecrets", body: []byte("\x00\xff\xfe{\x01"), wantCode: 400},
		{name: "JSON array", method: "POST", resource: "federatedsecrets", body: []byte(`[{"kind":"FederatedSecret"}]`), wantCode: 400},
		{name: "data is a string", method: "POST", resource: "federatedsecrets", body: fsBody(`{"template":{"data":"` + markerB64 + `"}}`), wantCode: 400},
		{name: "data value not base64", method: "POST", resource: "federatedsecrets", body: fsBody(`{"template":{"data":{"k":"` + hostileMarker + `!"}}}`), wantCode: 400},
		{name: "clusters is an object", method: "POST", resource: "federatedsecrets", body: fsBody(`{"placement":{"clusters":{"name":"member1"}}}`), wantCode: 400},
		{name: "immutable is a string", method: "POST", resource: "federatedsecrets", body: fsBody(`{"template":{"immutable":"yes"}}`), wantCode: 400},
		{name: "override value nested deeper than the decoder allows", method: "POST", resource: "federatedsecrets", body: fsWithOverrideValue("/data/k", deepArray(10001)), wantCode: 400},
		{name: "YAML nested deeper than the decoder allows", method: "POST", resource: "federatedsecrets", contentType: "application/yaml",
			body: []byte("apiVersion: secretfed.io/v1alpha1\nkind: FederatedSecret\nmetadata: {name: h, namespace: hostile}\nspec:\n  overrides:\n  - clusterName: member1\n    clusterOverrides:\n    - {op: add, path: /data/k, value: " + deepArray(10001) + "}\n"), wantCode: 400},
		{name: "YAML alias bomb", method: "POST", resource: "federatedsecrets", contentType: "application/yaml",
			body: []byte("a: &a [x,x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]\nf: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e,*e]\ng: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f,*f]\nkind: FederatedSecret\napiVersion: secretfed.io/v1alpha1\n"), wantCode: 400},
		{name: "another kind in the body", method: "POST", resource: "federatedsecrets", body: []byte("{" + fcHead + `,"spec":{"apiEndpoint":"https://h"}}`), wantCode: 400},
		{name: "namespace differs from the URL", method: "POST", resource: "federatedsecrets", body: []byte(`{"apiVersion":"secretfed.io/v1alpha1","kind":"FederatedSecret","metadata":{"name":"h","namespace":"elsewhere"}}`), wantCode: 400},
		{name: "unknown field with fieldValidation=Strict", method: "POST", resource: "federatedsecrets", params: map[string]string{"fieldValidation": "Strict"},
			body: fsBody(`{"template":{"data":{"k":"` + markerB64 + `"}},"bogusField":1}`), wantCode: 400},
		{name: "duplicate field with fieldValidation=Strict", method: "POST", resource: "federatedsecrets", params: map[string]string{"fieldValidation": "Strict"},
			body: fsBody(`{"template":{"type":"Opaque","type":"Opaque"}}`), wantCode: 400},
		{name: "unsupported content type", method: "POST", resource: "federatedsecrets", contentType: "text/plain", body: fsBody(`{}`), wantCode: 415},
		{name: "body over the server's request limit", method: "POST", resource: "federatedsecrets",
			body: fsBody(`{"template":{"data":{"k":"` + twoMiB + twoMiB + `"}}}`), wantCode: 413},

		// Well-formed bodies with invalid content: 422 naming the field.
		{name: "nulls everywhere", method: "POST", resource: "federatedsecrets",
			body:     []byte(`{"apiVersion":"secretfed.io/v1alpha1","kind":"FederatedSecret","metadata":{"name":null,"namespace":null,"labels":null},"spec":{"template":{"metadata":null,"type":null,"data":{"k":null},"stringData":{"s":null},"immutable":null},"placement":{"clusters":[null],"clusterSelector":null},"overrides":[null,{"clusterName":null,"clusterOverrides":[null,{"op":null,"path":null,"value":null}]}]},"status":null}`),
			wantCode: 422, wantField: "metadata.name"},
		{name: "data key longer than 253 characters", method: "POST", resource: "federatedsecrets",
			body: fsBody(`{"template":{"data":{"` + strings.Repeat("k", 300) + `":"` + markerB64 + `"}}}`), wantCode: 422, wantField: "spec.template.data[" + strings.Repeat("k", 300) + "]"},
		{name: "label key longer than 63 characters", method: "POST", resource: "federatedsecrets",
			body: fsBody(`{"template":{"metadata":{"labels":{"` + strings.Repeat("l", 64) + `":"v"}}}}`), wantCode: 422, wantField: "spec.template.metadata.labels"},
		{name: "name longer than 253 characters", method: "POST", resource: "federatedsecrets",
			body: []byte(`{"apiVersion":"secretfed.io/v1alpha1","kind":"FederatedSecret","metadata":{"name":"` + strings.Repeat("n", 300) + `"}}`), wantCode: 422, wantField: "metadata.name"},
		{name: "2 MiB of data", method: "POST", resource: "federatedsecrets", body: fsBody(`{"template":{"data":{"k":"` + twoMiB + `"}}}`), wantCode: 422, wantField: "spec.template.data"},
		{name: "pointer with a bad escape", method: "POST", resource: "federatedsecrets", body: fsWithOverrideValue("/data/a~2b", `"YQ=="`), wantCode: 422, wantField: "spec.overrides[0].clusterOverrides[0].path"},
		{name: "pointer without a leading slash", method: "POST", resource: "federatedsecrets", body: fsWithOverrideValue("data/k", `"YQ=="`), wantCode: 422, wantField: "spec.overrides[0].clusterOverrides[0].path"},
		{name: "empty pointer token", method: "POST", resource: "federatedsecrets", body: fsWithOverrideValue("/data/", `"YQ=="`), wantCode: 422, wantField: "spec.overrides[0].clusterOverrides[0].path"},
		{name: "pointer to metadata.name", method: "POST", resource: "federatedsecrets", body: fsWithOverrideValue("/metadata/name", `"other"`), wantCode: 422, wantField: "spec.overrides[0].clusterOverrides[0].path"},
		{name: "pointer to kind", method: "POST", resource: "federatedsecrets", body: fsWithOverrideValue("/kind", `"ConfigMap"`), wantCode: 422, wantField: "spec.overrides[0].clusterOverrides[0].path"},
		{name: "override value nested 5000 deep", method: "POST", resource: "federatedsecrets", body: fsWithOverrideValue("/data/k", deepArray(5000)), wantCode: 422, wantField: "spec.overrides[0].clusterOverrides[0].value"},
		{name: "override object nested 2000 deep under labels", method: "POST", resource: "federatedsecrets", body: fsWithOverrideValue("/metadata/labels", deepObject(2000)), wantCode: 422, wantField: "spec.overrides[0].clusterOverrides[0].value[a]"},
		{name: "override value a number beyond float64", method: "POST", resource: "federatedsecrets", body: fsWithOverrideValue("/immutable", `1e400`), wantCode: 400},
		{name: "override value a number beyond float64 in YAML (read as a string)", method: "POST", resource: "federatedsecrets", contentType: "application/yaml",
			body: []byte("apiVersion: secretfed.io/v1alpha1\nkind: FederatedSecret\nmetadata: {name: h, namespace: hostile}\nspec:\n  overrides:\n  - clusterName: member1\n    clusterOverrides:\n    - {op: add, path: /data, value: {k: [-1e999]}}\n"), wantCode: 422, wantField: "spec.overrides[0].clusterOverrides[0].value[k]"},
		{name: "override value null for a data key", method: "POST", resource: "federatedsecrets", body: fsWithOverrideValue("/data/k", `null`), wantCode: 422, wantField: "spec.overrides[0].clusterOverrides[0].value"},
		{name: "unknown op", method: "POST", resource: "federatedsecrets",
			body: fsBody(`{"overrides":[{"clusterName":"member1","clusterOverrides":[{"op":"move","path":"/data/k"}]}]}`), wantCode: 422, wantField: "spec.overrides[0].clusterOverrides[0].op"},
		{name: "the same cluster twice", method: "POST", resource: "federatedsecrets",
			body: fsBody(`{"overrides":[{"clusterName":"member1","clusterOverrides":[]},{"clusterName":"member1","clusterOverrides":[]}]}`), wantCode: 422, wantField: "spec.overrides[1].clusterName"},
		{name: "selector with a bad operator", method: "POST", resource: "federatedsecrets",
			body: fsBody(`{"placement":{"clusterSelector":{"matchExpressions":[{"key":"env","operator":"Near","values":["x"]}]}}}`), wantCode: 422, wantField: "spec.placement.clusterSelector.matchExpressions[0].operator"},
		{name: "invalid UTF-8 in a data key", method: "POST", resource: "federatedsecrets",
			body: fsBody("{\"template\":{\"data\":{\"k\xff\":\"" + markerB64 + "\"}}}"), wantCode: 422},
		{name: "tls type without its keys", method: "POST", resource: "federatedsecrets",
			body: fsBody(`{"template":{"type":"kubernetes.io/tls","data":{"tls.crt":"` + markerB64 + `"}}}`), wantCode: 422, wantField: "spec.template.data[tls.key]"},
		{name: "dockerconfigjson that is not JSON", method: "POST", resource: "federatedsecrets",
			body: fsBody(`{"template":{"type":"kubernetes.io/dockerconfigjson","stringData":{".dockerconfigjson":"{\"auths\":{\"r\":{\"auth\":\"` + hostileMarker + `\""}}}`), wantCode: 422, wantField: "spec.template.data[.dockerconfigjson]"},
		{name: "YAML with a mapping where a string belongs", method: "POST", resource: "federatedsecrets", contentType: "application/yaml",
			body: []byte("apiVersion: secretfed.io/v1alpha1\nkind: FederatedSecret\nmetadata: {name: h, namespace: hostile}\nspec:\n  template: {type: {a: " + markerB64 + "}}\n"), wantCode: 400},

		// Updates, patches and status writes against an existing object.
		{name: "update with garbage", method: "PUT", resource: "federatedsecrets", object: "target", body: []byte(`{"metadata":`), wantCode: 400},
		{name: "update that changes the name", method: "PUT", resource: "federatedsecrets", object: "target",
			body: []byte(`{"apiVersion":"secretfed.io/v1alpha1","kind":"FederatedSecret","metadata":{"name":"other","namespace":"hostile"}}`), wantCode: 400},
		{name: "merge patch that is not JSON", method: "PATCH", resource: "federatedsecrets", object: "target", contentType: string(types.MergePatchType), body: []byte(`{"spec":`), wantCode: 400},
		{name: "merge patch with a wrong type", method: "PATCH", resource: "federatedsecrets", object: "target", contentType: string(types.MergePatchType),
			body: []byte(`{"spec":{"template":{"data":["` + markerB64 + `"]}}}`), wantCode: 422, wantField: "patch"},
		{name: "strategic merge patch with a wrong type", method: "PATCH", resource: "federatedsecrets", object: "target", contentType: string(types.StrategicMergePatchType),
			body: []byte(`{"spec":{"placement":{"clusters":"member1"}}}`), wantCode: 422, wantField: "patch"},
		{name: "merge patch with an unknown field and fieldValidation=Strict", method: "PATCH", resource: "federatedsecrets", object: "target", contentType: string(types.MergePatchType),
			params: map[string]string{"fieldValidation": "Strict"}, body: []byte(`{"spec":{"bogusField":1}}`), wantCode: 422, wantField: "patch"},
		{name: "merge patch making the template invalid", method: "PATCH", resource: "federatedsecrets", object: "target", contentType: string(types.MergePatchType),
			body: []byte(`{"spec":{"template":{"type":"kubernetes.io/basic-auth"}}}`), wantCode: 422, wantField: "spec.template.data[username]"},
		{name: "JSON patch with an unknown op", method: "PATCH", resource: "federatedsecrets", object: "target", contentType: string(types.JSONPatchType),
			body: []byte(`[{"op":"explode","path":"/spec"}]`), wantCode: 422},
		{name: "JSON patch testing a value that differs", method: "PATCH", resource: "federatedsecrets", object: "target", contentType: string(types.JSONPatchType),
			body: []byte(`[{"op":"test","path":"/spec/template/type","value":"` + hostileMarker + `"}]`), wantCode: 422},
		{name: "JSON patch removing a missing path", method: "PATCH", resource: "federatedsecrets", object: "target", contentType: string(types.JSONPatchType),
			body: []byte(`[{"op":"remove","path":"/spec/nothing/here"}]`), wantCode: 422},
		{name: "apply patch that is not YAML", method: "PATCH", resource: "federatedsecrets", object: "target", contentType: string(types.ApplyPatchType),
			params: map[string]string{"fieldManager": "hostile"}, body: []byte("\t: : ["), wantCode: 400},
		{name: "apply patch with a wrong type", method: "PATCH", resource: "federatedsecrets", object: "target", contentType: string(types.ApplyPatchType),
			params: map[string]string{"fieldManager": "hostile"}, body: []byte("apiVersion: secretfed.io/v1alpha1\nkind: FederatedSecret\nmetadata: {name: target, namespace: hostile}\nspec: {placement: {clusters: 7}}\n"), wantCode: 400},
		{name: "apply patch with a secret where a map belongs", method: "PATCH", resource: "federatedsecrets", object: "target", contentType: string(types.ApplyPatchType),
			params: map[string]string{"fieldManager": "hostile"}, body: []byte("apiVersion: secretfed.io/v1alpha1\nkind: FederatedSecret\nmetadata: {name: target, namespace: hostile}\nspec: {template: {data: [" + markerB64 + "]}}\n"), wantCode: 400},
		{name: "apply patch creating an object with a wrong type", method: "PATCH", resource: "federatedsecrets", object: "created-by-apply", contentType: string(types.ApplyPatchType),
			params: map[string]string{"fieldManager": "hostile"}, body: []byte("apiVersion: secretfed.io/v1alpha1\nkind: FederatedSecret\nmetadata: {name: created-by-apply, namespace: hostile}\nspec: {template: {immutable: " + hostileMarker + "}}\n"), wantCode: 400},
		{name: "apply patch to status with a wrong type", method: "PATCH", resource: "federatedsecrets", object: "target", subresource: "status", contentType: string(types.ApplyPatchType),
			params: map[string]string{"fieldManager": "hostile"}, body: []byte("apiVersion: secretfed.io/v1alpha1\nkind: FederatedSecret\nmetadata: {name: target, namespace: hostile}\nstatus: {clusters: {member1: Propagated}}\n"), wantCode: 400},
		{name: "status with an unknown propagation status", method: "PUT", resource: "federatedsecrets", object: "target", subresource: "status",
			body:     []byte(`{"apiVersion":"secretfed.io/v1alpha1","kind":"FederatedSecret","metadata":{"name":"target","namespace":"hostile"},"status":{"clusters":[{"name":"member1","status":"Exploded"}]}}`),
			wantCode: 422, wantField: "status.clusters[0].status"},
		{name: "status with a bad condition", method: "PUT", resource: "federatedsecrets", object: "target", subresource: "status",
			body:     []byte(`{"apiVersion":"secretfed.io/v1alpha1","kind":"FederatedSecret","metadata":{"name":"target","namespace":"hostile"},"status":{"conditions":[{"type":"","status":"Maybe"}]}}`),
			wantCode: 422},

		// FederatedClusters.
		{name: "cluster: endpoint is a list", method: "POST", resource: "federatedclusters", body: []byte("{" + fcHead + `,"spec":{"apiEndpoint":["https://h"]}}`), wantCode: 400},
		{name: "cluster: caBundle not base64", method: "POST", resource: "federatedclusters", body: []byte("{" + fcHead + `,"spec":{"apiEndpoint":"https://h","caBundle":"%%%"}}`), wantCode: 400},
		{name: "cluster: nulls everywhere", method: "POST", resource: "federatedclusters",
			body:     []byte(`{"apiVersion":"secretfed.io/v1alpha1","kind":"FederatedCluster","metadata":{"name":"h"},"spec":{"apiEndpoint":null,"caBundle":null,"secretRef":null,"insecureSkipTLSVerify":null,"proxyURL":null}}`),
			wantCode: 422, wantField: "spec.apiEndpoint"},
		{name: "cluster: endpoint with credentials and control characters", method: "POST", resource: "federatedclusters",
			body: []byte("{" + fcHead + `,"spec":{"apiEndpoint":"https://user:` + hostileMarker + `@h:6443/\u0000\n","secretRef":{"name":"h-credentials"}}}`), wantCode: 422, wantField: "spec.apiEndpoint"},
		{name: "cluster: caBundle that is not PEM", method: "POST", resource: "federatedclusters",
			body: []byte("{" + fcHead + `,"spec":{"apiEndpoint":"https://h","caBundle":"` + markerB64 + `","secretRef":{"name":"h-credentials"}}}`), wantCode: 422, wantField: "spec.caBundle"},
		{name: "cluster: proxy URL with a password", method: "POST", resource: "federatedclusters",
			body: []byte("{" + fcHead + `,"spec":{"apiEndpoint":"https://h","secretRef":{"name":"h-credentials"},"proxyURL":"ftp://u:` + hostileMarker + `@p"}}`), wantCode: 422, wantField: "spec.proxyURL"},
		{name: "cluster: name that is not a DNS label", method: "POST", resource: "federatedclusters",
			body: []byte(`{"apiVersion":"secretfed.io/v1alpha1","kind":"FederatedCluster","metadata":{"name":"a.b_c"},"spec":{"apiEndpoint":"https://h","secretRef":{"name":"x"}}}`), wantCode: 422, wantField: "metadata.name"},
	}
}

func TestEveryRejectionIsA4xxWithAFieldPathNeverA500(t *testing.T) {
	s := startServer(t, newServerConfig(t))
	ctx := ctxT(t)
	if _, err := s.Client.SecretfedV1alpha1().FederatedSecrets("hostile").Create(ctx,
		newFederatedSecret("hostile", "target", map[string]string{"k": "target-value"}), metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating the target of updates and patches: %v", err)
	}
	rc := s.Client.SecretfedV1alpha1().RESTClient()

	for _, h := range hostileRequests() {
		t.Run(h.name, func(t *testing.T) {
			req := newHostileRequest(rc, h)
			res := req.Do(ctx)
			var code int
			res.StatusCode(&code)
			err := res.Error()
			raw, _ := res.Raw()
			if err == nil {
				t.Fatalf("accepted (HTTP %d); want a rejection", code)
			}
			if code < 400 || code >= 500 {
				t.Fatalf("HTTP %d (%v); want a 4xx, never a 5xx", code, err)
			}
			if code != h.wantCode {
				t.Errorf("HTTP %d (%v); want %d", code, err, h.wantCode)
			}
			for _, form := range []string{hostileMarker, markerB64} {
				if strings.Contains(err.Error(), form) || strings.Contains(string(raw), form) {
					t.Errorf("the response shows a secret value")
				}
			}
			if code != 422 {
				return
			}
			status, ok := err.(apierrors.APIStatus)
			if !ok || status.Status().Details == nil {
				t.Fatalf("a 422 without details: %v", err)
			}
			var fields []string
			for _, c := range status.Status().Details.Causes {
				if c.Field != "" {
					fields = append(fields, c.Field)
				}
			}
			// A JSON patch (RFC 6902) that cannot be applied is the one 422
			// without a field: the generic apiserver reports the patch
			// operation's failure, and no field of the object is wrong.
			if len(fields) == 0 && h.contentType != string(types.JSONPatchType) {
				t.Fatalf("a 422 with no field path: %v", err)
			}
			if h.wantField != "" && !containsString(fields, h.wantField) {
				t.Errorf("422 names fields %q, want %q", fields, h.wantField)
			}
		})
	}

	// None of it was stored, and the target is unchanged.
	list, err := s.Client.SecretfedV1alpha1().FederatedSecrets("").List(ctx, metav1.ListOptions{})
	if err != nil || len(list.Items) != 1 || list.Items[0].Name != "target" || string(list.Items[0].Spec.Template.Data["k"]) != "target-value" {
		t.Errorf("after the hostile writes: %d FederatedSecrets, err %v; want only the unchanged target", len(list.Items), err)
	}
	if fcs, err := s.Client.SecretfedV1alpha1().FederatedClusters().List(ctx, metav1.ListOptions{}); err != nil || len(fcs.Items) != 0 {
		t.Errorf("after the hostile writes: %d FederatedClusters, err %v; want none", len(fcs.Items), err)
	}
}

func newHostileRequest(rc rest.Interface, h hostileRequest) *rest.Request {
	var req *rest.Request
	switch h.method {
	case http.MethodPost:
		req = rc.Post()
	case http.MethodPut:
		req = rc.Put()
	case http.MethodPatch:
		req = rc.Patch(types.PatchType(h.contentType))
	}
	if h.resource == "federatedsecrets" {
		req = req.Namespace("hostile")
	}
	req = req.Resource(h.resource)
	if h.object != "" {
		req = req.Name(h.object)
	}
	if h.subresource != "" {
		req = req.SubResource(h.subresource)
	}
	for k, v := range h.params {
		req = req.Param(k, v)
	}
	if h.contentType != "" && h.method != http.MethodPatch {
		req = req.SetHeader("Content-Type", h.contentType)
	}
	return req.Body(h.body)
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
