package federatedsecret

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/secretfed/secretfed/pkg/apis/secretfed"
)

// column is the part of a column definition kubectl acts on.
type column struct {
	Name, Type, Format string
	Priority           int32
}

func TestTableColumns(t *testing.T) {
	table, err := tableConvertor{}.ConvertToTable(ctxInNamespace("payments"), validFederatedSecret(), nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []column{
		{Name: "Name", Type: "string", Format: "name"},
		{Name: "Type", Type: "string"},
		{Name: "Clusters", Type: "integer"},
		{Name: "Propagated", Type: "string"},
		{Name: "Age", Type: "string"},
	}
	var got []column
	for _, c := range table.ColumnDefinitions {
		got = append(got, column{Name: c.Name, Type: c.Type, Format: c.Format, Priority: c.Priority})
		if c.Description == "" {
			t.Errorf("column %s has no description (kubectl explain and -o wide users read it)", c.Name)
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("columns (-want +got):\n%s", diff)
	}
}

func withClusters(statuses ...string) func(fs *secretfed.FederatedSecret) {
	return func(fs *secretfed.FederatedSecret) {
		fs.Status.Clusters = nil
		for i, s := range statuses {
			fs.Status.Clusters = append(fs.Status.Clusters, secretfed.ClusterPropagationStatus{
				Name:   string(rune('a'+i)) + "-member",
				Status: secretfed.PropagationStatus(s),
			})
		}
	}
}

func TestTableRow(t *testing.T) {
	threeDaysAgo := metav1.NewTime(time.Now().Add(-72 * time.Hour))
	cases := []struct {
		name   string
		mutate func(fs *secretfed.FederatedSecret)
		want   []interface{}
	}{
		{name: "not yet reconciled", mutate: withClusters(),
			want: []interface{}{"db-creds", "Opaque", int64(0), "0/0", "3d"}},
		{name: "all propagated", mutate: withClusters("Propagated", "Propagated"),
			want: []interface{}{"db-creds", "Opaque", int64(2), "2/2", "3d"}},
		// A cluster waiting for removal has left placement: it is not counted.
		{name: "two propagated, one leaving", mutate: withClusters("Propagated", "WaitingForRemoval", "Propagated"),
			want: []interface{}{"db-creds", "Opaque", int64(2), "2/2", "3d"}},
		// Failures and unknown clusters are placed but not propagated.
		{name: "mixed", mutate: withClusters("Propagated", "ClusterNotFound", "ClusterNotReady", "OverrideFailed", "AlreadyExists"),
			want: []interface{}{"db-creds", "Opaque", int64(5), "1/5", "3d"}},
		{name: "only leaving", mutate: withClusters("WaitingForRemoval", "WaitingForRemoval"),
			want: []interface{}{"db-creds", "Opaque", int64(0), "0/0", "3d"}},
		{name: "TLS secret", mutate: func(fs *secretfed.FederatedSecret) { fs.Spec.Template.Type = "kubernetes.io/tls" },
			want: []interface{}{"db-creds", "kubernetes.io/tls", int64(1), "1/1", "3d"}},
		{name: "no creation time", mutate: func(fs *secretfed.FederatedSecret) { fs.CreationTimestamp = metav1.Time{} },
			want: []interface{}{"db-creds", "Opaque", int64(1), "1/1", "<unknown>"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fs := validFederatedSecret()
			fs.CreationTimestamp = threeDaysAgo
			tc.mutate(fs)
			table, err := tableConvertor{}.ConvertToTable(ctxInNamespace("payments"), fs, nil)
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
			if table.Rows[0].Object.Object != fs {
				t.Errorf("row object is %v, want the FederatedSecret itself (for -o wide and includeObject)", table.Rows[0].Object.Object)
			}
			if len(table.Rows[0].Cells) != len(table.ColumnDefinitions) {
				t.Errorf("%d cells for %d columns", len(table.Rows[0].Cells), len(table.ColumnDefinitions))
			}
		})
	}
}

func TestTableList(t *testing.T) {
	a := validFederatedSecret()
	a.Name = "a"
	withClusters("Propagated", "UpdateFailed")(a)
	b := validFederatedSecret()
	b.Name = "b"
	b.Spec.Template.Type = "kubernetes.io/basic-auth"
	withClusters()(b)
	remaining := int64(4)
	list := &secretfed.FederatedSecretList{
		ListMeta: metav1.ListMeta{ResourceVersion: "42", Continue: "next-page", RemainingItemCount: &remaining},
		Items:    []secretfed.FederatedSecret{*a, *b},
	}

	table, err := tableConvertor{}.ConvertToTable(ctxInNamespace("payments"), list, nil)
	if err != nil {
		t.Fatal(err)
	}
	var got [][]interface{}
	for _, r := range table.Rows {
		got = append(got, r.Cells)
		if _, ok := r.Object.Object.(*secretfed.FederatedSecret); !ok {
			t.Errorf("row object is %T, want *FederatedSecret", r.Object.Object)
		}
	}
	want := [][]interface{}{
		{"a", "Opaque", int64(2), "1/2", "<unknown>"},
		{"b", "kubernetes.io/basic-auth", int64(0), "0/0", "<unknown>"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("rows (-want +got):\n%s", diff)
	}
	gotMeta := metav1.ListMeta{ResourceVersion: table.ResourceVersion, Continue: table.Continue, RemainingItemCount: table.RemainingItemCount}
	if diff := cmp.Diff(list.ListMeta, gotMeta); diff != "" {
		t.Errorf("table list metadata (-want +got):\n%s", diff)
	}

	empty, err := tableConvertor{}.ConvertToTable(ctxInNamespace("payments"), &secretfed.FederatedSecretList{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(empty.Rows) != 0 || len(empty.ColumnDefinitions) != 5 {
		t.Errorf("empty list: %d rows and %d columns, want 0 and 5", len(empty.Rows), len(empty.ColumnDefinitions))
	}
}

func TestTableRejectsOtherObjects(t *testing.T) {
	if _, err := (tableConvertor{}).ConvertToTable(ctxInNamespace("payments"), &runtime.Unknown{}, nil); err == nil {
		t.Error("ConvertToTable accepted an object without metadata")
	}
}
