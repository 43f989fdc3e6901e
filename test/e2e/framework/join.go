package framework

import (
	"context"
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
)

// MemberLabels are the labels each member joins with: member1 is prod/eu,
// member2 dev/us, and so on alternating.
func MemberLabels(i int) map[string]string {
	if i%2 == 0 {
		return map[string]string{"env": "prod", "region": "eu"}
	}
	return map[string]string{"env": "dev", "region": "us"}
}

// JoinMembers joins every member with the real `kubectl secretfed join`
// (unless already joined) and waits until each is Ready.
func (f *Framework) JoinMembers() error {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	for i, m := range f.MemberNames {
		if _, err := f.Secretfed.SecretfedV1alpha1().FederatedClusters().Get(ctx, m, metav1.GetOptions{}); err == nil {
			continue
		}
		labels := MemberLabels(i)
		r := f.Plugin(ctx, "join", m, "--host-context", f.HostContext, "--cluster-context", m,
			"--labels", fmt.Sprintf("env=%s,region=%s", labels["env"], labels["region"]))
		if r.Err != nil {
			return fmt.Errorf("kubectl secretfed join %s: %v\n%s", m, r.Err, r.Output())
		}
	}
	return wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		for _, m := range f.MemberNames {
			fc, err := f.Secretfed.SecretfedV1alpha1().FederatedClusters().Get(ctx, m, metav1.GetOptions{})
			if err != nil {
				return false, nil
			}
			ready := false
			for _, c := range fc.Status.Conditions {
				ready = ready || (c.Type == "Ready" && c.Status == metav1.ConditionTrue)
			}
			if !ready {
				return false, nil
			}
		}
		return true, nil
	})
}
