package render

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/secretfed/secretfed/pkg/apis/secretfed/v1alpha1"
)

func cluster(name string, labels map[string]string) *v1alpha1.FederatedCluster {
	return &v1alpha1.FederatedCluster{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
}

func testClusters() []*v1alpha1.FederatedCluster {
	return []*v1alpha1.FederatedCluster{
		cluster("member3", map[string]string{"env": "dev"}),
		cluster("member1", map[string]string{"env": "prod", "region": "eu"}),
		cluster("member2", map[string]string{"env": "prod", "region": "us"}),
	}
}

func refs(names ...string) []v1alpha1.ClusterReference {
	out := make([]v1alpha1.ClusterReference, 0, len(names))
	for _, n := range names {
		out = append(out, v1alpha1.ClusterReference{Name: n})
	}
	return out
}

func TestResolvePlacement(t *testing.T) {
	tests := []struct {
		name         string
		placement    v1alpha1.Placement
		clusters     []*v1alpha1.FederatedCluster
		wantPlaced   []string
		wantNotFound []string
	}{
		{name: "neither clusters nor selector: none", placement: v1alpha1.Placement{}},
		{
			name:      "empty clusters list: none, even with a selector",
			placement: v1alpha1.Placement{Clusters: []v1alpha1.ClusterReference{}, ClusterSelector: &metav1.LabelSelector{}},
		},
		{
			name:       "clusters list: exactly those, selector ignored",
			placement:  v1alpha1.Placement{Clusters: refs("member2", "member3"), ClusterSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"env": "prod"}}},
			wantPlaced: []string{"member2", "member3"},
		},
		{
			name:         "clusters list with unknown names and duplicates",
			placement:    v1alpha1.Placement{Clusters: refs("nope", "member1", "member1", "ghost", "nope")},
			wantPlaced:   []string{"member1"},
			wantNotFound: []string{"ghost", "nope"},
		},
		{
			name:       "empty selector: every cluster, sorted",
			placement:  v1alpha1.Placement{ClusterSelector: &metav1.LabelSelector{}},
			wantPlaced: []string{"member1", "member2", "member3"},
		},
		{
			name:       "matchLabels",
			placement:  v1alpha1.Placement{ClusterSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"env": "prod"}}},
			wantPlaced: []string{"member1", "member2"},
		},
		{
			name: "matchExpressions",
			placement: v1alpha1.Placement{ClusterSelector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
				{Key: "region", Operator: metav1.LabelSelectorOpNotIn, Values: []string{"us"}},
			}}},
			wantPlaced: []string{"member1", "member3"},
		},
		{
			name:      "selector matching nothing",
			placement: v1alpha1.Placement{ClusterSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"env": "qa"}}},
		},
		{
			name: "invalid selector selects nothing",
			placement: v1alpha1.Placement{ClusterSelector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
				{Key: "env", Operator: "Bogus"},
			}}},
		},
		{
			name:       "empty selector and no clusters",
			placement:  v1alpha1.Placement{ClusterSelector: &metav1.LabelSelector{}},
			clusters:   []*v1alpha1.FederatedCluster{},
			wantPlaced: nil,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clusters := tc.clusters
			if clusters == nil {
				clusters = testClusters()
			}
			fs := baseFS()
			fs.Spec.Placement = tc.placement
			placed, notFound := ResolvePlacement(fs, clusters)
			if diff := cmp.Diff(tc.wantPlaced, placed, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("placed mismatch (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantNotFound, notFound, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("notFound mismatch (-want +got):\n%s", diff)
			}
		})
	}
}
