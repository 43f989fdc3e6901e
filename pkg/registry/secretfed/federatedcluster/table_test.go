package federatedcluster

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/secretfed/secretfed/pkg/apis/secretfed"
)

// column is the part of a column definition kubectl acts on.
type column struct {
	Name, Type, Format string
	Priority           int32
}

func TestTableColumns(t *testing.T) {
	table, err := tableConvertor{}.ConvertToTable(clusterCtx(), validFederatedCluster(), nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []column{
		{Name: "Name", Type: "string", Format: "name"},
		{Name: "Ready", Type: "string"},
		{Name: "Version", Type: "string"},
		{Name: "Age", Type: "string"},
		// Only with -o wide.
		{Name: "Endpoint", Type: "string", Priority: 1},
	}
	var got []column
	for _, c := range table.ColumnDefinitions {
		got = append(got, column{Name: c.Name, Type: c.Type, Format: c.Format, Priority: c.Priority})
		if c.Description == "" {
			t.Errorf("column %s has no description", c.Name)
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("columns (-want +got):\n%s", diff)
	}
}

func withConditions(conds ...metav1.Condition) func(fc *secretfed.FederatedCluster) {
	return func(fc *secretfed.FederatedCluster) { fc.Status.Conditions = conds }
}

func cond(typ string, status metav1.ConditionStatus, reason string) metav1.Condition {
	return metav1.Condition{Type: typ, Status: status, Reason: reason}
}

func TestTableRow(t *testing.T) {
	threeDaysAgo := metav1.NewTime(time.Now().Add(-72 * time.Hour))
	const endpoint = "https://10.1.2.3:6443"
	cases := []struct {
		name   string
		mutate func(fc *secretfed.FederatedCluster)
		want   []interface{}
	}{
		{name: "ready", mutate: withConditions(cond("Ready", metav1.ConditionTrue, "ClusterReady")),
			want: []interface{}{"member1", "True", "v1.37.2", "3d", endpoint}},
		{name: "not reachable", mutate: withConditions(cond("Ready", metav1.ConditionFalse, "ClusterNotReachable")),
			want: []interface{}{"member1", "False (ClusterNotReachable)", "v1.37.2", "3d", endpoint}},
		{name: "unauthorized", mutate: withConditions(cond("Ready", metav1.ConditionFalse, "Unauthorized")),
			want: []interface{}{"member1", "False (Unauthorized)", "v1.37.2", "3d", endpoint}},
		{name: "unknown with reason", mutate: withConditions(cond("Ready", metav1.ConditionUnknown, "ConfigMalformed")),
			want: []interface{}{"member1", "Unknown (ConfigMalformed)", "v1.37.2", "3d", endpoint}},
		{name: "false without reason", mutate: withConditions(cond("Ready", metav1.ConditionFalse, "")),
			want: []interface{}{"member1", "False", "v1.37.2", "3d", endpoint}},
		{name: "never probed", mutate: func(fc *secretfed.FederatedCluster) { fc.Status = secretfed.FederatedClusterStatus{} },
			want: []interface{}{"member1", "Unknown", "", "3d", endpoint}},
		{name: "only other conditions", mutate: withConditions(cond("Degraded", metav1.ConditionTrue, "Slow")),
			want: []interface{}{"member1", "Unknown", "v1.37.2", "3d", endpoint}},
		{name: "Ready among others", mutate: withConditions(
			cond("Degraded", metav1.ConditionTrue, "Slow"),
			cond("Ready", metav1.ConditionFalse, "ClusterNotReady")),
			want: []interface{}{"member1", "False (ClusterNotReady)", "v1.37.2", "3d", endpoint}},
		{name: "no creation time", mutate: func(fc *secretfed.FederatedCluster) { fc.CreationTimestamp = metav1.Time{} },
			want: []interface{}{"member1", "True", "v1.37.2", "<unknown>", endpoint}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fc := validFederatedCluster()
			fc.CreationTimestamp = threeDaysAgo
			tc.mutate(fc)
			table, err := tableConvertor{}.ConvertToTable(clusterCtx(), fc, nil)
			if err != nil {
				t.Fatal(err)
			}
			if table.ResourceVersion != "7" {
				t.Errorf("table resourceVersion = %q, want the object's, 7", table.ResourceVersion)
			}
			if len(table.Rows) != 1 {
				t.Fatalf("%d rows, want 1", len(table.Rows))
			}
			if diff := cmp.Diff(tc.want, table.Rows[0].Cells); diff != "" {
				t.Errorf("cells (-want +got):\n%s", diff)
			}
			if table.Rows[0].Object.Object != fc {
				t.Errorf("row object is %v, want the FederatedCluster itself", table.Rows[0].Object.Object)
			}
			if len(table.Rows[0].Cells) != len(table.ColumnDefinitions) {
				t.Errorf("%d cells for %d columns", len(table.Rows[0].Cells), len(table.ColumnDefinitions))
			}
		})
	}
}

func TestTableList(t *testing.T) {
	a := validFederatedCluster()
	b := validFederatedCluster()
	b.Name = "member2"
	b.Spec.APIEndpoint = "https://member2.example.com"
	b.Status = secretfed.FederatedClusterStatus{Conditions: []metav1.Condition{cond("Ready", metav1.ConditionFalse, "ClusterNotReachable")}}
	remaining := int64(1)
	list := &secretfed.FederatedClusterList{
		ListMeta: metav1.ListMeta{ResourceVersion: "42", Continue: "next-page", RemainingItemCount: &remaining},
		Items:    []secretfed.FederatedCluster{*a, *b},
	}

	table, err := tableConvertor{}.ConvertToTable(clusterCtx(), list, nil)
	if err != nil {
		t.Fatal(err)
	}
	var got [][]interface{}
	for _, r := range table.Rows {
		got = append(got, r.Cells)
		if _, ok := r.Object.Object.(*secretfed.FederatedCluster); !ok {
			t.Errorf("row object is %T, want *FederatedCluster", r.Object.Object)
		}
	}
	want := [][]interface{}{
		{"member1", "True", "v1.37.2", "<unknown>", "https://10.1.2.3:6443"},
		{"member2", "False (ClusterNotReachable)", "", "<unknown>", "https://member2.example.com"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("rows (-want +got):\n%s", diff)
	}
	gotMeta := metav1.ListMeta{ResourceVersion: table.ResourceVersion, Continue: table.Continue, RemainingItemCount: table.RemainingItemCount}
	if diff := cmp.Diff(list.ListMeta, gotMeta); diff != "" {
		t.Errorf("table list metadata (-want +got):\n%s", diff)
	}
}
