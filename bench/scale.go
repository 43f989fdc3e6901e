package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

const mib = 1 << 20

// procStart returns when a process started (from /proc).
func procStart(pid int) (time.Time, error) {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return time.Time{}, err
	}
	// Fields after the command name (which is in parentheses).
	rest := string(stat[strings.LastIndexByte(string(stat), ')')+2:])
	fields := strings.Fields(rest)
	if len(fields) < 20 {
		return time.Time{}, fmt.Errorf("short /proc/%d/stat", pid)
	}
	ticks, err := strconv.ParseInt(fields[19], 10, 64) // field 22: starttime
	if err != nil {
		return time.Time{}, err
	}
	ps, err := os.ReadFile("/proc/stat")
	if err != nil {
		return time.Time{}, err
	}
	for _, line := range strings.Split(string(ps), "\n") {
		if v, ok := strings.CutPrefix(line, "btime "); ok {
			btime, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err != nil {
				return time.Time{}, err
			}
			const hz = 100 // USER_HZ on Linux
			return time.Unix(btime, 0).Add(time.Duration(ticks) * time.Second / hz), nil
		}
	}
	return time.Time{}, fmt.Errorf("no btime in /proc/stat")
}

type checkpoint struct {
	count       int
	createSecs  float64
	syncSecs    float64
	rss         int64
	heapInuse   float64
	loadAtPoint Load
}

func sumMap(m map[string]float64) float64 {
	var t float64
	for _, v := range m {
		t += v
	}
	return t
}

func sumInts(m map[string]int) int {
	t := 0
	for _, v := range m {
		t += v
	}
	return t
}

// Figure 5: steady state and restart at scale.
func (r *Runner) fig5(ctx context.Context, fig *Figure) error {
	fig.Title = "Steady state and restart at scale"
	total := r.n(10000)
	points := []int{r.n(1000), r.n(5000), total}
	members := r.Bed.Members
	ns := "bench-f5"
	fig.Method = fmt.Sprintf("%d FederatedSecrets placed on all %d members are created through the host's aggregator by %d concurrent clients, "+
		"in tranches up to %v; after each tranche, once every member holds all of them and every FederatedSecret reports Propagated and "+
		"secretfed's queues are empty, the server's RSS (/proc/<pid>/status VmRSS) and Go heap in use (/metrics) are read after 5 s. "+
		"Then %s idle, then `hack/local-secretfed.sh restart` (graceful stop, start, APIService Available). Member writes are counted "+
		"three ways: the members' own `apiserver_request_total` (POST/PUT/PATCH/DELETE on secrets and namespaces), secretfed's "+
		"`secretfed_member_writes_total`, and changes seen by the bench's watches. The restarted server is in sync when its metrics show "+
		"it has planned every FederatedSecret and checked every (FederatedSecret, member) pair (`workqueue_adds_total` ≥ %d and ≥ %d) "+
		"and both queues are empty; the after-restart write window runs until 30 s after that.",
		total, len(members), r.Concurrency, points, r.Idle, total, total*len(members))
	if err := r.Bed.EnsureNamespace(ctx, ns, true); err != nil {
		return err
	}
	if err := r.quiet(ctx, time.Minute); err != nil {
		return err
	}
	time.Sleep(5 * time.Second)
	rss0, err := r.Bed.SecretfedRSS()
	if err != nil {
		return err
	}
	m0, _ := r.Bed.Metrics(ctx)
	base := checkpoint{rss: rss0, heapInuse: m0.Sum("go_memstats_heap_inuse_bytes", nil), loadAtPoint: loadAvg()}

	var cps []checkpoint
	created := 0
	prof := r.startProfile(ctx, "fig5-create")
	for _, p := range points {
		start := time.Now()
		cw := r.Tracker.ExpectCount(ns, p, members)
		inSync := r.Tracker.ExpectInSync(ns, p)
		from := created
		if err := runConcurrently(ctx, p-from, r.Concurrency, func(i int) error {
			name := fmt.Sprintf("s-%05d", from+i)
			_, err := r.Bed.Secretfed.SecretfedV1alpha1().FederatedSecrets(ns).Create(ctx, r.fedSecret(ns, name, "scale", members), metav1.CreateOptions{})
			return err
		}); err != nil {
			fig.addProfile(prof)
			return fmt.Errorf("creating FederatedSecrets %d..%d: %w", from, p, err)
		}
		created = p
		createdAt := time.Now()
		timeout := 10*time.Minute + time.Duration(p-from)*300*time.Millisecond
		if err := r.Tracker.AwaitCount(ctx, cw, timeout); err != nil {
			fig.addProfile(prof)
			return err
		}
		if err := r.Tracker.AwaitCount(ctx, inSync, timeout); err != nil {
			fig.addProfile(prof)
			return err
		}
		if err := r.quiet(ctx, 10*time.Minute); err != nil {
			fig.addProfile(prof)
			return err
		}
		time.Sleep(5 * time.Second)
		rss, err := r.Bed.SecretfedRSS()
		if err != nil {
			fig.addProfile(prof)
			return err
		}
		m, _ := r.Bed.Metrics(ctx)
		if heap, err := r.Bed.Heap(ctx); err == nil {
			hp := filepath.Join(r.Work, "profiles", fmt.Sprintf("fig5-heap-%d.pb.gz", p))
			if os.WriteFile(hp, heap, 0o644) == nil {
				fig.Heap = hp
			}
		}
		cp := checkpoint{count: p, createSecs: createdAt.Sub(start).Seconds(), syncSecs: inSync.At.Sub(start).Seconds(), rss: rss,
			heapInuse: m.Sum("go_memstats_heap_inuse_bytes", nil), loadAtPoint: loadAvg()}
		cps = append(cps, cp)
		logf("figure 5: %d FederatedSecrets in sync (tranche: creates %.1f s, in sync %.1f s), RSS %.1f MiB", p, cp.createSecs, cp.syncSecs, float64(rss)/mib)
	}
	fig.addProfile(prof)

	// Idle.
	mwBefore, err := r.Bed.MemberWriteRequests(ctx)
	if err != nil {
		return err
	}
	sfBefore, _ := r.Bed.Metrics(ctx)
	chBefore := r.Tracker.Changes()
	logf("figure 5: idle for %s", r.Idle)
	select {
	case <-time.After(r.Idle):
	case <-ctx.Done():
		return ctx.Err()
	}
	mwIdle, err := r.Bed.MemberWriteRequests(ctx)
	if err != nil {
		return err
	}
	sfIdle, _ := r.Bed.Metrics(ctx)
	chIdle := r.Tracker.Changes()
	idleMember := sumMap(mwIdle) - sumMap(mwBefore)
	idleSF := sfIdle.Sum("secretfed_member_writes_total", nil) - sfBefore.Sum("secretfed_member_writes_total", nil)
	idleWatch := sumInts(chIdle) - sumInts(chBefore)

	// Restart.
	oldPid, _ := r.Bed.SecretfedPid()
	logf("figure 5: restarting secretfed (pid %d)", oldPid)
	restartAt := time.Now()
	if err := r.Bed.RestartSecretfed(""); err != nil {
		return err
	}
	servingAt := time.Now()
	newPid, err := r.Bed.SecretfedPid()
	if err != nil {
		return err
	}
	startedAt, err := procStart(newPid)
	if err != nil {
		startedAt = restartAt
	}
	rprof := r.startProfile(ctx, "fig5-restart")
	var syncedAt time.Time
	var lastM Metrics
	deadline := time.Now().Add(15 * time.Minute)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		m, err := r.Bed.Metrics(ctx)
		if err == nil {
			lastM = m
			planned := m.Sum("workqueue_adds_total", map[string]string{"name": "secretfed_propagation"})
			pairs := m.Sum("workqueue_adds_total", map[string]string{"name": "secretfed_member_pairs"})
			depth := m.Sum("workqueue_depth", map[string]string{"name": "secretfed_propagation"}) +
				m.Sum("workqueue_depth", map[string]string{"name": "secretfed_member_pairs"})
			unfinished := m.Sum("workqueue_unfinished_work_seconds", map[string]string{"name": "secretfed_propagation"}) +
				m.Sum("workqueue_unfinished_work_seconds", map[string]string{"name": "secretfed_member_pairs"})
			if planned >= float64(total) && pairs >= float64(total*len(members)) && depth == 0 && unfinished == 0 {
				syncedAt = time.Now()
				break
			}
		}
		time.Sleep(250 * time.Millisecond)
	}
	if syncedAt.IsZero() {
		fig.addProfile(rprof)
		return fmt.Errorf("the restarted server did not check every pair within 15 minutes (last adds: planner %.0f, pairs %.0f)",
			lastM.Sum("workqueue_adds_total", map[string]string{"name": "secretfed_propagation"}),
			lastM.Sum("workqueue_adds_total", map[string]string{"name": "secretfed_member_pairs"}))
	}
	fig.addProfile(rprof)
	logf("figure 5: restarted server in sync %.1f s after the restart began (%.1f s after its process started)", syncedAt.Sub(restartAt).Seconds(), syncedAt.Sub(startedAt).Seconds())
	time.Sleep(30 * time.Second)
	mwAfter, err := r.Bed.MemberWriteRequests(ctx)
	if err != nil {
		return err
	}
	sfAfter, _ := r.Bed.Metrics(ctx)
	chAfter := r.Tracker.Changes()
	restartMember := sumMap(mwAfter) - sumMap(mwIdle)
	restartSF := sfAfter.Sum("secretfed_member_writes_total", nil) // a new process counts from 0
	restartWatch := sumInts(chAfter) - sumInts(chIdle)
	rssAfter, _ := r.Bed.SecretfedRSS()
	stillInSync := r.Tracker.InSync(ns)

	last := cps[len(cps)-1]
	fig.Header = []string{"FederatedSecrets", "tranche: creates s", "tranche: in sync s", "RSS MiB", "RSS per 1,000 MiB", "marginal MiB per 1,000", "Go heap in use MiB", "load"}
	fig.Rows = [][]string{{"0 (before)", "", "", f1(float64(base.rss) / mib), "", "", f1(base.heapInuse / mib), base.loadAtPoint.String()}}
	prev := base
	var marginals []float64
	for _, cp := range cps {
		marg := float64(cp.rss-prev.rss) / mib / (float64(cp.count-prev.count) / 1000)
		marginals = append(marginals, marg)
		fig.Rows = append(fig.Rows, []string{fmt.Sprint(cp.count), f1(cp.createSecs), f1(cp.syncSecs), f1(float64(cp.rss) / mib),
			f1(float64(cp.rss) / mib / (float64(cp.count) / 1000)), f1(marg), f1(cp.heapInuse / mib), cp.loadAtPoint.String()})
		prev = cp
	}
	fig.Rows = append(fig.Rows, []string{fmt.Sprintf("%d, 30 s after restart in sync", total), "", "", f1(float64(rssAfter) / mib), f1(float64(rssAfter) / mib / (float64(total) / 1000)), "", "", loadAvg().String()})

	growth := mathNaN()
	if len(marginals) == 3 && marginals[1] > 0 {
		growth = marginals[2] / marginals[1]
	}
	fig.Notes = append(fig.Notes,
		fmt.Sprintf("Member writes while idle for %s: %.0f requests on the members' own counters, %.0f by secretfed's counter, %d changes seen by the watches.", r.Idle, idleMember, idleSF, idleWatch),
		fmt.Sprintf("Restart: `local-secretfed.sh restart` returned (serving through the host) after %.1f s; the new process (started %.1f s after the restart began, "+
			"i.e. that long for the old one to exit) had checked all %d pairs %.1f s after it started, %.1f s after the restart began. The target is read on the "+
			"restarted server's own time, from its start.",
			servingAt.Sub(restartAt).Seconds(), startedAt.Sub(restartAt).Seconds(), total*len(members), syncedAt.Sub(startedAt).Seconds(), syncedAt.Sub(restartAt).Seconds()),
		fmt.Sprintf("Member writes from the restart until 30 s after it was in sync: %.0f requests on the members' counters, %.0f by the new process's counter, %d changes seen by the watches; %d/%d FederatedSecrets still report Propagated.",
			restartMember, restartSF, restartWatch, stillInSync, total),
		fmt.Sprintf("Linear growth check: marginal RSS per 1,000 FederatedSecrets from %d to %d divided by that from %d to %d = %.2f (≤ 1.25 counts as linear or better; GC timing makes single RSS readings noisy).",
			points[1], points[2], points[0], points[1], growth),
	)
	fig.Targets = []Target{
		{What: "member writes while idle", Value: idleMember + idleSF + float64(idleWatch), Limit: 0, AtMost: true},
		{What: "member writes after restart", Value: restartMember + restartSF + float64(restartWatch), Limit: 0, AtMost: true},
		{What: "restarted server: from its start to all in sync", Value: syncedAt.Sub(startedAt).Seconds(), Limit: 30, AtMost: true, Unit: " s"},
		{What: fmt.Sprintf("RSS at %d", last.count), Value: float64(last.rss) / mib, Limit: 300, AtMost: true, Unit: " MiB"},
		{What: "RSS growth (marginal, last/first segment)", Value: growth, Limit: 1.25, AtMost: true, Unit: "×"},
	}
	fig.CSV = "fig5-scale.csv"
	rows := [][]string{{"0", "", "", fmt.Sprint(base.rss), f1(base.heapInuse), ""}}
	for _, cp := range cps {
		rows = append(rows, []string{fmt.Sprint(cp.count), f3(cp.createSecs), f3(cp.syncSecs), fmt.Sprint(cp.rss), f1(cp.heapInuse), f2(cp.loadAtPoint[0])})
	}
	if err := writeCSV(filepath.Join(r.Results, fig.CSV), []string{"federated_secrets", "tranche_create_s", "tranche_in_sync_s", "rss_bytes", "heap_inuse_bytes", "load1"}, rows); err != nil {
		return err
	}
	return writeCSV(filepath.Join(r.Results, "fig5-writes-restart.csv"), []string{"measure", "value"}, [][]string{
		{"idle_seconds", f1(r.Idle.Seconds())},
		{"idle_member_write_requests", f1(idleMember)},
		{"idle_secretfed_member_writes", f1(idleSF)},
		{"idle_watch_changes", fmt.Sprint(idleWatch)},
		{"restart_serving_s", f3(servingAt.Sub(restartAt).Seconds())},
		{"restart_process_started_s", f3(startedAt.Sub(restartAt).Seconds())},
		{"restart_in_sync_s", f3(syncedAt.Sub(restartAt).Seconds())},
		{"restart_in_sync_after_process_start_s", f3(syncedAt.Sub(startedAt).Seconds())},
		{"restart_member_write_requests", f1(restartMember)},
		{"restart_secretfed_member_writes", f1(restartSF)},
		{"restart_watch_changes", fmt.Sprint(restartWatch)},
		{"rss_after_restart_bytes", fmt.Sprint(rssAfter)},
	})
}
