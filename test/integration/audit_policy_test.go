package integration

import (
	"testing"

	"k8s.io/apiserver/pkg/apis/audit"
	"k8s.io/apiserver/pkg/audit/policy"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
)

// The shipped audit policy records every request on secretfed.io at Metadata
// level — whoever makes it, whatever the verb or subresource — so no request
// or response body (secret values) is ever logged; health probes are not
// recorded at all. The e2e suite runs the server with it and reads the log.
func TestShippedAuditPolicyRecordsSecretfedRequestsAtMetadataOnly(t *testing.T) {
	p, err := policy.LoadPolicyFromFile("../../artifacts/audit/policy.yaml")
	if err != nil {
		t.Fatalf("loading artifacts/audit/policy.yaml: %v", err)
	}
	eval := policy.NewPolicyRuleEvaluator(p)
	users := []user.Info{
		&user.DefaultInfo{Name: "alice", Groups: []string{"system:authenticated"}},
		&user.DefaultInfo{Name: "system:serviceaccount:secretfed-system:secretfed-apiserver", Groups: []string{"system:serviceaccounts"}},
		&user.DefaultInfo{Name: "system:apiserver", Groups: []string{"system:masters"}},
		&user.DefaultInfo{Name: "admin", Groups: []string{"system:masters"}},
	}
	verbs := []string{"get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"}
	writes := map[string]bool{"create": true, "update": true, "patch": true, "delete": true, "deletecollection": true}
	for _, u := range users {
		for _, resource := range []string{"federatedsecrets", "federatedclusters", "federatedwhatever"} {
			for _, sub := range []string{"", "status", "scale"} {
				for _, verb := range verbs {
					attrs := authorizer.AttributesRecord{
						User: u, Verb: verb, APIGroup: "secretfed.io", APIVersion: "v1alpha1",
						Resource: resource, Subresource: sub, Namespace: "secretfed-system", Name: "member1-credentials",
						ResourceRequest: true,
					}
					level := eval.EvaluatePolicyRule(attrs).Level
					// The loopback reads of the propagation loop are not recorded.
					if u.GetName() == "system:apiserver" && !writes[verb] {
						if level != audit.LevelNone {
							t.Errorf("%s %s %s/%s: level %s, want None", u.GetName(), verb, resource, sub, level)
						}
						continue
					}
					if level != audit.LevelMetadata {
						t.Errorf("%s %s %s/%s: level %s, want Metadata", u.GetName(), verb, resource, sub, level)
					}
				}
			}
		}
	}
	for _, path := range []string{"/healthz", "/livez", "/readyz", "/readyz/etcd", "/livez/ping", "/metrics"} {
		attrs := authorizer.AttributesRecord{User: users[0], Verb: "get", Path: path}
		if level := eval.EvaluatePolicyRule(attrs).Level; level != audit.LevelNone {
			t.Errorf("GET %s: level %s, want None", path, level)
		}
	}
	if level := eval.EvaluatePolicyRule(authorizer.AttributesRecord{User: users[0], Verb: "get", Path: "/apis/secretfed.io/v1alpha1"}).Level; level != audit.LevelMetadata {
		t.Errorf("discovery: level %s, want Metadata", level)
	}
}
