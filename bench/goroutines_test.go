package main

import (
	"os"
	"testing"
)

func TestClassifyGoroutines(t *testing.T) {
	data, err := os.ReadFile("testdata/goroutines.txt")
	if err != nil {
		t.Skip(err)
	}
	got := classifyGoroutines(string(data))
	for k, v := range got {
		t.Logf("%d %s", v, k)
	}
	if got["member worker: idle (queue empty)"] == 0 {
		t.Errorf("no idle member workers found: %v", got)
	}
}

func TestPercentile(t *testing.T) {
	xs := []float64{5, 1, 4, 2, 3}
	for _, c := range []struct{ p, want float64 }{{0, 1}, {50, 3}, {100, 5}, {25, 2}, {90, 4.6}} {
		if got := Percentile(xs, c.p); got < c.want-1e-9 || got > c.want+1e-9 {
			t.Errorf("Percentile(%v) = %v, want %v", c.p, got, c.want)
		}
	}
}

func TestParseMetrics(t *testing.T) {
	m := parseMetrics(`# HELP x
workqueue_depth{name="secretfed_propagation"} 3
workqueue_depth{name="a,b\"c"} 1
secretfed_member_writes_total{cluster="member1",operation="create"} 10
secretfed_member_writes_total{cluster="member2",operation="create"} 5
go_memstats_heap_inuse_bytes 1.5e+07
`)
	if got := m.Sum("workqueue_depth", map[string]string{"name": "secretfed_propagation"}); got != 3 {
		t.Errorf("depth = %v", got)
	}
	if got := m.Sum("workqueue_depth", map[string]string{"name": `a,b"c`}); got != 1 {
		t.Errorf("escaped label: %v", got)
	}
	if got := m.Sum("secretfed_member_writes_total", nil); got != 15 {
		t.Errorf("writes = %v", got)
	}
	if got := m.Sum("go_memstats_heap_inuse_bytes", nil); got != 1.5e7 {
		t.Errorf("heap = %v", got)
	}
}
