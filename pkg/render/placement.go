package render

import (
	"sort"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/secretfed/secretfed/pkg/apis/secretfed/v1alpha1"
)

// ResolvePlacement returns the names of the clusters fs is placed in, and the
// names fs lists explicitly that have no FederatedCluster, both sorted and
// without duplicates. The four cases are KubeFed's:
//
//   - placement.clusters present, even empty: exactly those names;
//     clusterSelector is ignored;
//   - neither clusters nor clusterSelector: no cluster;
//   - clusterSelector {}: every cluster;
//   - otherwise: the clusters whose labels match clusterSelector.
//
// A selector that does not parse (write-time validation rejects those)
// selects no cluster rather than every cluster.
func ResolvePlacement(fs *v1alpha1.FederatedSecret, clusters []*v1alpha1.FederatedCluster) (placed []string, notFound []string) {
	p := &fs.Spec.Placement
	placed = []string{}
	if p.Clusters != nil {
		known := make(map[string]bool, len(clusters))
		for _, c := range clusters {
			known[c.Name] = true
		}
		seen := make(map[string]bool, len(p.Clusters))
		for _, ref := range p.Clusters {
			if seen[ref.Name] {
				continue
			}
			seen[ref.Name] = true
			if known[ref.Name] {
				placed = append(placed, ref.Name)
			} else {
				notFound = append(notFound, ref.Name)
			}
		}
		sort.Strings(placed)
		sort.Strings(notFound)
		return placed, notFound
	}
	if p.ClusterSelector == nil {
		return placed, nil
	}
	sel, err := metav1.LabelSelectorAsSelector(p.ClusterSelector)
	if err != nil {
		return placed, nil
	}
	seen := make(map[string]bool, len(clusters))
	for _, c := range clusters {
		if !seen[c.Name] && sel.Matches(labels.Set(c.Labels)) {
			seen[c.Name] = true
			placed = append(placed, c.Name)
		}
	}
	sort.Strings(placed)
	return placed, nil
}
