package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/secretfed/secretfed/pkg/apis/secretfed/v1alpha1"
)

const sampleTimeout = 60 * time.Second

// payload is the Secret data of every bench object, federated or direct:
// the sample's value plus a few hundred bytes, like a typical credential.
func payload(value string) map[string][]byte {
	return map[string][]byte{
		valueKey:   []byte(value),
		"username": []byte("bench-user"),
		"password": []byte(strings.Repeat("p", 32)),
		"token":    []byte(strings.Repeat("t", 256)),
	}
}

func (r *Runner) labels() map[string]string { return map[string]string{benchLabel: r.RunID} }

// fedSecret is a FederatedSecret placed, by name, in clusters.
func (r *Runner) fedSecret(ns, name, value string, clusters []string) *v1alpha1.FederatedSecret {
	fs := &v1alpha1.FederatedSecret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: r.labels()},
		Spec: v1alpha1.FederatedSecretSpec{
			Template: v1alpha1.SecretTemplate{
				Metadata: v1alpha1.TemplateMetadata{Labels: r.labels()},
				Type:     string(corev1.SecretTypeOpaque),
				Data:     payload(value),
			},
		},
	}
	if clusters != nil {
		fs.Spec.Placement.Clusters = []v1alpha1.ClusterReference{}
		for _, c := range clusters {
			fs.Spec.Placement.Clusters = append(fs.Spec.Placement.Clusters, v1alpha1.ClusterReference{Name: c})
		}
	}
	return fs
}

// directSecret is the Secret a direct write creates in each member: the
// same content as a federated copy, without secretfed's managed label.
func (r *Runner) directSecret(ns, name, value string) *corev1.Secret {
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: r.labels()},
		Type:       corev1.SecretTypeOpaque,
		Data:       payload(value),
	}
}

// sample is one latency measurement.
type sample struct {
	Total     time.Duration
	API       time.Duration // until the write call(s) returned
	PerMember map[string]time.Duration
	Load      float64
}

// timed registers a wait, runs write, and waits for the value in members.
func (r *Runner) timed(key, value string, members []string, write func() error) (sample, error) {
	w := r.Tracker.Expect(key, value, members)
	load := loadAvg()[0]
	start := time.Now()
	if err := write(); err != nil {
		_ = r.Tracker.Await(w, 0)
		return sample{}, err
	}
	api := time.Since(start)
	if err := r.Tracker.Await(w, sampleTimeout); err != nil {
		return sample{}, err
	}
	s := sample{PerMember: map[string]time.Duration{}, Load: load, API: api}
	for m, at := range w.At {
		d := at.Sub(start)
		s.PerMember[m] = d
		s.Total = max(s.Total, d)
	}
	return s, nil
}

// inParallel runs fn for every member at once.
func inParallel(members []string, fn func(m string) error) error {
	var wg sync.WaitGroup
	errs := make([]error, len(members))
	for i, m := range members {
		wg.Go(func() { errs[i] = fn(m) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

func (r *Runner) fedCreate(ctx context.Context, ns, name, value string, members []string) (sample, error) {
	fs := r.fedSecret(ns, name, value, r.Bed.Members)
	return r.timed(ns+"/"+name, value, members, func() error {
		_, err := r.Bed.Secretfed.SecretfedV1alpha1().FederatedSecrets(ns).Create(ctx, fs, metav1.CreateOptions{})
		return err
	})
}

func (r *Runner) directCreate(ctx context.Context, ns, name, value string) (sample, error) {
	return r.timed(ns+"/"+name, value, r.Bed.Members, func() error {
		return inParallel(r.Bed.Members, func(m string) error {
			_, err := r.Bed.Member[m].CoreV1().Secrets(ns).Create(ctx, r.directSecret(ns, name, value), metav1.CreateOptions{})
			return err
		})
	})
}

func dataPatch(value string, federated bool) []byte {
	data := map[string]any{"data": map[string]string{valueKey: base64.StdEncoding.EncodeToString([]byte(value))}}
	if federated {
		data = map[string]any{"spec": map[string]any{"template": data}}
	}
	out, _ := json.Marshal(data)
	return out
}

func (r *Runner) fedRotate(ctx context.Context, ns, name, value string) (sample, error) {
	return r.timed(ns+"/"+name, value, r.Bed.Members, func() error {
		_, err := r.Bed.Secretfed.SecretfedV1alpha1().FederatedSecrets(ns).Patch(ctx, name, types.MergePatchType, dataPatch(value, true), metav1.PatchOptions{})
		return err
	})
}

func (r *Runner) directRotate(ctx context.Context, ns, name, value string) (sample, error) {
	return r.timed(ns+"/"+name, value, r.Bed.Members, func() error {
		return inParallel(r.Bed.Members, func(m string) error {
			_, err := r.Bed.Member[m].CoreV1().Secrets(ns).Patch(ctx, name, types.MergePatchType, dataPatch(value, false), metav1.PatchOptions{})
			return err
		})
	})
}

// latencyFigure runs n interleaved pairs of samples (federated and direct,
// alternating which goes first, so that load from others hits both alike)
// after a few warm-up pairs that are not counted.
func (r *Runner) latencyFigure(ctx context.Context, fig *Figure, n int, fed, direct func(i int) (sample, error)) (fedS, dirS []sample, err error) {
	const warmup = 5
	failures := 0
	for i := -warmup; i < n; i++ {
		if ctx.Err() != nil {
			return nil, nil, ctx.Err()
		}
		order := []bool{true, false}
		if i%2 != 0 {
			order = []bool{false, true}
		}
		for _, isFed := range order {
			var s sample
			var err error
			if isFed {
				s, err = fed(i)
			} else {
				s, err = direct(i)
			}
			if err != nil {
				failures++
				logf("figure %d: sample %d (federated=%v): %v", fig.N, i, isFed, err)
				if failures > max(3, n/10) {
					return nil, nil, fmt.Errorf("too many failed samples, last: %w", err)
				}
				continue
			}
			if i < 0 {
				continue
			}
			if isFed {
				fedS = append(fedS, s)
			} else {
				dirS = append(dirS, s)
			}
		}
		if i >= 0 && (i+1)%50 == 0 {
			logf("figure %d: %d/%d samples", fig.N, i+1, n)
		}
	}
	if failures > 0 {
		fig.Notes = append(fig.Notes, fmt.Sprintf("%d samples failed (timeout %s) and are not counted; see the bench log.", failures, sampleTimeout))
	}
	return fedS, dirS, nil
}

func apis(ss []sample) []float64 {
	out := make([]float64, len(ss))
	for i, s := range ss {
		out[i] = ms(s.API)
	}
	return out
}

func afterAPI(ss []sample) []float64 {
	out := make([]float64, len(ss))
	for i, s := range ss {
		out[i] = ms(s.Total - s.API)
	}
	return out
}

func totals(ss []sample) []float64 {
	out := make([]float64, len(ss))
	for i, s := range ss {
		out[i] = ms(s.Total)
	}
	return out
}

func (r *Runner) latencyCSV(name string, members []string, groups map[string][]sample) (string, error) {
	header := []string{"sample", "mode", "total_ms", "api_ms"}
	for _, m := range members {
		header = append(header, m+"_ms")
	}
	header = append(header, "load1")
	var rows [][]string
	for _, mode := range sortedKeys(groups) {
		for i, s := range groups[mode] {
			row := []string{fmt.Sprint(i), mode, f3(ms(s.Total)), f3(ms(s.API))}
			for _, m := range members {
				if d, ok := s.PerMember[m]; ok {
					row = append(row, f3(ms(d)))
				} else {
					row = append(row, "")
				}
			}
			rows = append(rows, append(row, f2(s.Load)))
		}
	}
	path := filepath.Join(r.Results, name)
	return filepath.Base(path), writeCSV(path, header, rows)
}

func distRow(name string, d Dist) []string {
	return []string{name, fmt.Sprint(d.N), f1(d.P50), f1(d.P90), f1(d.P99), f1(d.Max)}
}

var distHeader = []string{"", "n", "p50 ms", "p90 ms", "p99 ms", "max ms"}

func (r *Runner) latencyResult(fig *Figure, csvName string, fedS, dirS []sample) error {
	fd, dd := NewDist(totals(fedS)), NewDist(totals(dirS))
	fig.Header = distHeader
	fig.Rows = [][]string{
		distRow("federated (secretfed)", fd),
		distRow("direct baseline", dd),
		{"ratio", "", ratio(fd.P50, dd.P50), ratio(fd.P90, dd.P90), ratio(fd.P99, dd.P99), ratio(fd.Max, dd.Max)},
		distRow("… federated: until the API call returned", NewDist(apis(fedS))),
		distRow("… federated: from then to the last member", NewDist(afterAPI(fedS))),
		distRow("… direct: until the API calls returned", NewDist(apis(dirS))),
	}
	fig.Targets = []Target{
		{What: "p50 ratio", Value: fd.P50 / dd.P50, Limit: 1.5, AtMost: true, Unit: "×"},
		{What: "p99 ratio", Value: fd.P99 / dd.P99, Limit: 2, AtMost: true, Unit: "×"},
	}
	var err error
	fig.CSV, err = r.latencyCSV(csvName, r.Bed.Members, map[string][]sample{"federated": fedS, "direct": dirS})
	return err
}

// Figure 1: create latency.
func (r *Runner) fig1(ctx context.Context, fig *Figure) error {
	fig.Title = "Create latency"
	n := r.n(200)
	fedNS, dirNS := "bench-f1-fed", "bench-f1-direct"
	fig.Method = fmt.Sprintf("%d samples (after 5 warm-up pairs). Federated: create a FederatedSecret placed on all %d members through the host's aggregator "+
		"(the path `kubectl` takes); latency = until the watch on every member has delivered the Secret with the sample's value. "+
		"Direct baseline: the client creates the same Secret in every member in parallel; latency = the same watch condition. "+
		"Federated and direct samples alternate (which goes first alternates too), one at a time. The namespaces exist in the members beforehand.",
		n, len(r.Bed.Members))
	for _, ns := range []string{fedNS, dirNS} {
		if err := r.Bed.EnsureNamespace(ctx, ns, true); err != nil {
			return err
		}
	}
	prof := r.startProfile(ctx, "fig1-federated")
	fedS, dirS, err := r.latencyFigure(ctx, fig, n,
		func(i int) (sample, error) {
			return r.fedCreate(ctx, fedNS, fmt.Sprintf("c-%d", i+5), fmt.Sprintf("create-%d", i), r.Bed.Members)
		},
		func(i int) (sample, error) {
			return r.directCreate(ctx, dirNS, fmt.Sprintf("c-%d", i+5), fmt.Sprintf("create-%d", i))
		})
	fig.addProfile(prof)
	if err != nil {
		return err
	}
	r.series("fig1-federated", totals(fedS))
	r.series("fig1-direct", totals(dirS))
	if err := r.latencyResult(fig, "fig1-create-latency.csv", fedS, dirS); err != nil {
		return err
	}
	return r.cleanup(ctx, fedNS, dirNS)
}

// Figure 2: rotation latency.
func (r *Runner) fig2(ctx context.Context, fig *Figure) error {
	fig.Title = "Rotation latency"
	n := r.n(200)
	const objects = 10
	fedNS, dirNS := "bench-f2-fed", "bench-f2-direct"
	fig.Method = fmt.Sprintf("%d FederatedSecrets (placed on all members) and %d direct Secrets per member are created and propagated first; "+
		"then %d samples (after 5 warm-up pairs) rotate them round-robin with a JSON merge patch of `data.v` (federated: "+
		"`spec.template.data.v` through the host's aggregator; direct: the Secret in every member in parallel). Latency = until every "+
		"member's watch has delivered the new value. Samples alternate as in figure 1.", objects, objects, n)
	for _, ns := range []string{fedNS, dirNS} {
		if err := r.Bed.EnsureNamespace(ctx, ns, true); err != nil {
			return err
		}
	}
	for k := 0; k < objects; k++ {
		name := fmt.Sprintf("r-%d", k)
		if _, err := r.fedCreate(ctx, fedNS, name, "init", r.Bed.Members); err != nil {
			return err
		}
		if _, err := r.directCreate(ctx, dirNS, name, "init"); err != nil {
			return err
		}
	}
	if err := r.quiet(ctx, 2*time.Minute); err != nil {
		return err
	}
	prof := r.startProfile(ctx, "fig2-federated")
	fedS, dirS, err := r.latencyFigure(ctx, fig, n,
		func(i int) (sample, error) {
			return r.fedRotate(ctx, fedNS, fmt.Sprintf("r-%d", (i+objects)%objects), fmt.Sprintf("rot-%d", i))
		},
		func(i int) (sample, error) {
			return r.directRotate(ctx, dirNS, fmt.Sprintf("r-%d", (i+objects)%objects), fmt.Sprintf("rot-%d", i))
		})
	fig.addProfile(prof)
	if err != nil {
		return err
	}
	r.series("fig2-federated", totals(fedS))
	r.series("fig2-direct", totals(dirS))
	if err := r.latencyResult(fig, "fig2-rotation-latency.csv", fedS, dirS); err != nil {
		return err
	}
	return r.cleanup(ctx, fedNS, dirNS)
}

// runConcurrently runs items 0..n-1 on workers goroutines.
func runConcurrently(ctx context.Context, n, workers int, fn func(i int) error) error {
	next := make(chan int)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	for w := 0; w < workers; w++ {
		wg.Go(func() {
			for i := range next {
				if err := fn(i); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
				}
			}
		})
	}
	for i := 0; i < n && ctx.Err() == nil; i++ {
		mu.Lock()
		failed := first != nil
		mu.Unlock()
		if failed {
			break
		}
		next <- i
	}
	close(next)
	wg.Wait()
	if first == nil {
		first = ctx.Err()
	}
	return first
}

// Figure 3: throughput.
func (r *Runner) fig3(ctx context.Context, fig *Figure) error {
	fig.Title = "Throughput"
	n := r.n(1000)
	members := r.Bed.Members
	total := n * len(members)
	fedNS, dirNS := "bench-f3-fed", "bench-f3-direct"
	fig.Method = fmt.Sprintf("Direct baseline: the %d member Secrets (%d names × %d members) created directly by %d concurrent clients. "+
		"Federated: %d FederatedSecrets placed on all members created through the host's aggregator by %d concurrent clients. "+
		"Both: time from the first request until every member's watch has delivered all %d of its Secrets; throughput = member Secrets per second. "+
		"The baseline runs first. Also shown: when every FederatedSecret reported Propagated.",
		total, n, len(members), r.Concurrency, n, r.Concurrency, n)
	for _, ns := range []string{fedNS, dirNS} {
		if err := r.Bed.EnsureNamespace(ctx, ns, true); err != nil {
			return err
		}
	}
	timeout := 15*time.Minute + time.Duration(total)*200*time.Millisecond

	cw := r.Tracker.ExpectCount(dirNS, n, members)
	cnt0 := r.Bed.Counters(ctx)
	cpu0 := r.Bed.CPU()
	start := time.Now()
	if err := runConcurrently(ctx, total, r.Concurrency, func(i int) error {
		m := members[i%len(members)]
		name := fmt.Sprintf("t-%d", i/len(members))
		_, err := r.Bed.Member[m].CoreV1().Secrets(dirNS).Create(ctx, r.directSecret(dirNS, name, "t"), metav1.CreateOptions{})
		return err
	}); err != nil {
		return fmt.Errorf("direct creates: %w", err)
	}
	if err := r.Tracker.AwaitCount(ctx, cw, timeout); err != nil {
		return err
	}
	dirT := cw.At.Sub(start)
	dirCPU := cpuDelta(cpu0, r.Bed.CPU())
	dirCnt := r.Bed.Counters(ctx).Sub(cnt0)
	logf("figure 3: direct %d Secrets in %s", total, dirT.Round(time.Millisecond))
	if err := r.cleanup(ctx, "", dirNS); err != nil {
		return err
	}

	prof := r.startProfile(ctx, "fig3-federated")
	cnt0 = r.Bed.Counters(ctx)
	cpu0 = r.Bed.CPU()
	fed, err := r.throughputPass(ctx, fedNS, n, timeout)
	fedCPU := cpuDelta(cpu0, r.Bed.CPU())
	fedCnt := r.Bed.Counters(ctx).Sub(cnt0)
	fig.addProfile(prof)
	if err != nil {
		return fmt.Errorf("federated: %w", err)
	}
	if err := r.cleanup(ctx, fedNS, ""); err != nil {
		return err
	}
	logf("figure 3: federated %d Secrets in %s (all Propagated after %s)", total, fed.members.Round(time.Millisecond), fed.inSync.Round(time.Millisecond))

	dirRate, fedRate := float64(total)/dirT.Seconds(), float64(total)/fed.members.Seconds()
	fig.Header = []string{"", "member Secrets", "seconds", "member Secrets/s", "ratio to direct"}
	fig.Rows = [][]string{
		{"direct baseline", fmt.Sprint(total), f2(dirT.Seconds()), f1(dirRate), ""},
		{"federated (secretfed, default flags)", fmt.Sprint(total), f2(fed.members.Seconds()), f1(fedRate), ratio(fedRate, dirRate)},
	}
	fig.Notes = append(fig.Notes, fmt.Sprintf("The %d FederatedSecret creates returned after %.2f s (%.1f/s, i.e. %.1f member Secrets/s worth); all reported Propagated after %.2f s.",
		n, fed.api.Seconds(), float64(n)/fed.api.Seconds(), float64(total)/fed.api.Seconds(), fed.inSync.Seconds()))
	csvRows := [][]string{
		{"direct", "", fmt.Sprint(total), fmt.Sprint(r.Concurrency), f3(dirT.Seconds()), f2(dirRate), f3(dirT.Seconds()), ""},
		{"federated", "", fmt.Sprint(total), fmt.Sprint(r.Concurrency), f3(fed.members.Seconds()), f2(fedRate), f3(fed.api.Seconds()), f3(fed.inSync.Seconds())},
	}

	cpuCols := []string{"direct", "federated (default flags)"}
	cpus := []map[string]float64{dirCPU, fedCPU}
	cnts := []Counters{dirCnt, fedCnt}
	durs := []time.Duration{dirT, fed.inSync}

	// The same with the member rate limit raised: what the default costs.
	if r.Fig3QPS > 0 {
		args := fmt.Sprintf("--member-qps=%d --member-burst=%d", r.Fig3QPS, 2*r.Fig3QPS)
		qpsNS := "bench-f3-fed-qps"
		if err := r.Bed.EnsureNamespace(ctx, qpsNS, true); err != nil {
			return err
		}
		err := r.Bed.RestartSecretfed(args)
		var q throughput
		if err == nil {
			// Warm up the new process's member clients and caches.
			if _, err = r.throughputPass(ctx, qpsNS+"-warm", 5, timeout); err == nil {
				err = r.cleanup(ctx, qpsNS+"-warm", "")
			}
		}
		var qCPU map[string]float64
		var qCnt Counters
		if err == nil {
			prof := r.startProfile(ctx, "fig3-federated-member-qps")
			cnt0 := r.Bed.Counters(ctx)
			cpu0 := r.Bed.CPU()
			q, err = r.throughputPass(ctx, qpsNS, n, timeout)
			qCPU = cpuDelta(cpu0, r.Bed.CPU())
			qCnt = r.Bed.Counters(ctx).Sub(cnt0)
			fig.addProfile(prof)
		}
		if err == nil {
			err = r.cleanup(ctx, qpsNS, "")
		}
		if err2 := r.Bed.RestartSecretfed(""); err == nil {
			err = err2
		}
		if err != nil {
			return fmt.Errorf("federated with %s: %w", args, err)
		}
		qRate := float64(total) / q.members.Seconds()
		logf("figure 3: federated with %s: %d Secrets in %s", args, total, q.members.Round(time.Millisecond))
		fig.Rows = append(fig.Rows, []string{"federated with `" + args + "` (not the default)", fmt.Sprint(total), f2(q.members.Seconds()), f1(qRate), ratio(qRate, dirRate)})
		csvRows = append(csvRows, []string{"federated", args, fmt.Sprint(total), fmt.Sprint(r.Concurrency), f3(q.members.Seconds()), f2(qRate), f3(q.api.Seconds()), f3(q.inSync.Seconds())})
		fig.Notes = append(fig.Notes, fmt.Sprintf("The last row is a second federated pass after restarting secretfed with `%s` (and a warm-up); the target is read on the default flags.", args))
		cpuCols = append(cpuCols, "federated, "+args)
		cpus = append(cpus, qCPU)
		cnts = append(cnts, qCnt)
		durs = append(durs, q.inSync)
	}
	fig.Extra = cpuTable(cpuCols, cpus, durs, total) + "\n" + counterTable(cpuCols, cnts, n)
	fig.Targets = []Target{{What: "throughput ratio", Value: fedRate / dirRate, Limit: 0.5, Unit: "×"}}
	fig.CSV = "fig3-throughput.csv"
	return writeCSV(filepath.Join(r.Results, fig.CSV), []string{"mode", "flags", "member_secrets", "concurrency", "seconds", "member_secrets_per_s", "api_seconds", "all_propagated_seconds"}, csvRows)
}

type throughput struct{ members, api, inSync time.Duration }

// throughputPass creates n FederatedSecrets placed on every member in ns at
// the bench's concurrency and times them.
func (r *Runner) throughputPass(ctx context.Context, ns string, n int, timeout time.Duration) (throughput, error) {
	members := r.Bed.Members
	if err := r.Bed.EnsureNamespace(ctx, ns, true); err != nil {
		return throughput{}, err
	}
	cw := r.Tracker.ExpectCount(ns, n, members)
	inSync := r.Tracker.ExpectInSync(ns, n)
	start := time.Now()
	err := runConcurrently(ctx, n, r.Concurrency, func(i int) error {
		_, err := r.Bed.Secretfed.SecretfedV1alpha1().FederatedSecrets(ns).Create(ctx, r.fedSecret(ns, fmt.Sprintf("t-%d", i), "t", members), metav1.CreateOptions{})
		return err
	})
	apiDone := time.Since(start)
	if err == nil {
		err = r.Tracker.AwaitCount(ctx, cw, timeout)
	}
	if err == nil {
		err = r.Tracker.AwaitCount(ctx, inSync, 5*time.Minute)
	}
	if err != nil {
		return throughput{}, err
	}
	return throughput{members: cw.At.Sub(start), api: apiDone, inSync: inSync.At.Sub(start)}, nil
}

// Figure 4: a stalled member.
func (r *Runner) fig4(ctx context.Context, fig *Figure) error {
	fig.Title = "Stalled member"
	n := r.n(200)
	members := r.Bed.Members
	stalled := members[len(members)-1]
	healthy := members[:len(members)-1]
	ns := "bench-f4"
	fig.Method = fmt.Sprintf("`%s`'s kube-apiserver is frozen with SIGSTOP (it accepts connections and never answers, like a hung machine). "+
		"%d FederatedSecrets placed on all %d members are created one at a time as in figure 1; latency = until the watches on the healthy members "+
		"(%s) have delivered the value. The first %d samples run while secretfed still believes `%s` Ready (its requests there hang until "+
		"`--member-request-timeout`, 10 s); the rest after its health probes marked it Ready=False (3 failed probes, ~30 s). "+
		"Baseline: figure 1's federated p99. After SIGCONT the stalled member's catch-up time is measured too.",
		stalled, n, len(members), strings.Join(healthy, ", "), n/2, stalled)
	if err := r.Bed.EnsureNamespace(ctx, ns, true); err != nil {
		return err
	}
	// Warm-up with every member healthy.
	for i := 0; i < 3; i++ {
		if _, err := r.fedCreate(ctx, ns, fmt.Sprintf("w-%d", i), "w", members); err != nil {
			return err
		}
	}
	if err := r.Bed.F.Signal(stalled, syscall.SIGSTOP); err != nil {
		return err
	}
	stoppedAt := time.Now()
	resumed := false
	resume := func() error {
		if resumed {
			return nil
		}
		resumed = true
		return r.Bed.F.Signal(stalled, syscall.SIGCONT)
	}
	defer func() { _ = resume() }()

	prof := r.startProfile(ctx, "fig4-federated")
	var phaseA, phaseB []sample
	take := func(from, to int, into *[]sample) error {
		for i := from; i < to; i++ {
			s, err := r.fedCreate(ctx, ns, fmt.Sprintf("s-%d", i), fmt.Sprintf("stall-%d", i), healthy)
			if err != nil {
				return err
			}
			*into = append(*into, s)
		}
		return nil
	}
	err := take(0, n/2, &phaseA)
	phaseAEnd := time.Since(stoppedAt)
	var markedAfter time.Duration
	if err == nil {
		deadline := time.Now().Add(2 * time.Minute)
		for r.Tracker.Ready(stalled) && time.Now().Before(deadline) {
			time.Sleep(200 * time.Millisecond)
		}
		markedAfter = time.Since(stoppedAt)
		if r.Tracker.Ready(stalled) {
			err = fmt.Errorf("%s was not marked Ready=False within 2 minutes of SIGSTOP", stalled)
		}
	}
	if err == nil {
		err = take(n/2, n, &phaseB)
	}
	fig.addProfile(prof)
	if err != nil {
		return err
	}
	// Catch-up after SIGCONT.
	cw := r.Tracker.ExpectCount(ns, n+3, []string{stalled})
	if err := resume(); err != nil {
		return err
	}
	contAt := time.Now()
	catchUp := "not within 5 minutes"
	if err := r.Tracker.AwaitCount(ctx, cw, 5*time.Minute); err == nil {
		catchUp = fmt.Sprintf("%.1f s", cw.At.Sub(contAt).Seconds())
	}

	all := append(append([]sample{}, phaseA...), phaseB...)
	r.series("fig4-stalled", totals(all))
	d, da, db := NewDist(totals(all)), NewDist(totals(phaseA)), NewDist(totals(phaseB))
	base, ok := r.Series["fig1-federated"]
	fig.Header = distHeader
	fig.Rows = [][]string{
		distRow("stalled member, all samples", d),
		distRow(fmt.Sprintf("… while believed Ready (the first %.1f s after SIGSTOP)", phaseAEnd.Seconds()), da),
		distRow("… after Ready=False", db),
	}
	b := Dist{P99: mathNaN()}
	if ok {
		b = NewDist(base)
		fig.Rows = append(fig.Rows, distRow("baseline: figure 1 federated", b),
			[]string{"ratio (all samples)", "", ratio(d.P50, b.P50), ratio(d.P90, b.P90), ratio(d.P99, b.P99), ratio(d.Max, b.Max)})
	} else {
		fig.Notes = append(fig.Notes, "Figure 1 was not run, so there is no baseline.")
	}
	fig.Targets = []Target{{What: "p99 ratio to figure 1", Value: d.P99 / b.P99, Limit: 1.2, AtMost: true, Unit: "×"}}
	fig.Notes = append(fig.Notes, fmt.Sprintf("secretfed marked %s Ready=False %.1f s after SIGSTOP; after SIGCONT it held all %d Secrets after %s.",
		stalled, markedAfter.Seconds(), n+3, catchUp))
	var err2 error
	fig.CSV, err2 = r.latencyCSV("fig4-stalled-member.csv", healthy, map[string][]sample{"a-believed-ready": phaseA, "b-not-ready": phaseB})
	if err2 != nil {
		return err2
	}
	return r.cleanup(ctx, ns, "")
}

// cleanup deletes the bench's FederatedSecrets in fedNS and Secrets in
// dirNS, waits until the members hold none of them, and until secretfed's
// queues are empty, so that no figure pays for the previous one.
func (r *Runner) cleanup(ctx context.Context, fedNS, dirNS string) error {
	sel := metav1.ListOptions{LabelSelector: benchLabel}
	if fedNS != "" {
		fss := r.Bed.SecretfedDirect.SecretfedV1alpha1().FederatedSecrets(fedNS)
		if err := fss.DeleteCollection(ctx, metav1.DeleteOptions{}, sel); err != nil {
			return fmt.Errorf("deleting FederatedSecrets in %s: %w", fedNS, err)
		}
	}
	if dirNS != "" {
		if err := inParallel(r.Bed.Members, func(m string) error {
			return r.Bed.Member[m].CoreV1().Secrets(dirNS).DeleteCollection(ctx, metav1.DeleteOptions{}, sel)
		}); err != nil {
			return err
		}
	}
	deadline := time.Now().Add(10 * time.Minute)
	for {
		left := 0
		for _, m := range r.Bed.Members {
			for _, ns := range []string{fedNS, dirNS} {
				if ns != "" {
					left += r.Tracker.Present(m, ns)
				}
			}
		}
		if fedNS != "" {
			l, err := r.Bed.SecretfedDirect.SecretfedV1alpha1().FederatedSecrets(fedNS).List(ctx, metav1.ListOptions{Limit: 1})
			if err != nil && !apierrors.IsNotFound(err) {
				return err
			}
			if err == nil {
				left += len(l.Items)
			}
		}
		if left == 0 {
			break
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("cleanup of %s %s: %d objects left after 10 minutes", fedNS, dirNS, left)
		}
		time.Sleep(250 * time.Millisecond)
	}
	return r.quiet(ctx, 5*time.Minute)
}

// quiet waits until secretfed's planner and member queues are empty.
func (r *Runner) quiet(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	calm := 0
	for calm < 4 {
		m, err := r.Bed.Metrics(ctx)
		if err == nil && m.Sum("workqueue_depth", map[string]string{"name": "secretfed_propagation"}) == 0 &&
			m.Sum("workqueue_depth", map[string]string{"name": "secretfed_member_pairs"}) == 0 {
			calm++
		} else {
			calm = 0
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("secretfed's queues did not drain within %s", timeout)
		}
		time.Sleep(250 * time.Millisecond)
	}
	return nil
}

// profiler collects consecutive 5-second CPU profiles of secretfed while a
// phase runs; stop merges them with `go tool pprof -proto`.
type profiler struct {
	r     *Runner
	name  string
	stopC chan struct{}
	done  chan struct{}
	files []string
	// Goroutine-state samples (see goroutines.go).
	waits     map[string]int
	samples   int
	waitsDone chan struct{}
}

func (r *Runner) startProfile(ctx context.Context, name string) *profiler {
	p := &profiler{r: r, name: name, stopC: make(chan struct{}), done: make(chan struct{}), waits: map[string]int{}, waitsDone: make(chan struct{})}
	go func() {
		defer close(p.waitsDone)
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			select {
			case <-p.stopC:
				return
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			dump, err := r.Bed.Goroutines(ctx)
			if err != nil {
				continue
			}
			p.samples++
			for k, v := range classifyGoroutines(string(dump)) {
				p.waits[k] += v
			}
		}
	}()
	go func() {
		defer close(p.done)
		for i := 0; ; i++ {
			select {
			case <-p.stopC:
				return
			case <-ctx.Done():
				return
			default:
			}
			data, err := r.Bed.Profile(ctx, 5*time.Second)
			if err != nil {
				logf("profile %s: %v", name, err)
				time.Sleep(time.Second)
				continue
			}
			f := filepath.Join(r.Work, "profiles", fmt.Sprintf("%s-%02d.pb.gz", name, i))
			if os.WriteFile(f, data, 0o644) == nil {
				p.files = append(p.files, f)
			}
		}
	}()
	return p
}

// stop ends the profile and returns the merged CPU profile's path; the
// goroutine states are in p.waits.
func (p *profiler) stop() string {
	close(p.stopC)
	<-p.done
	<-p.waitsDone
	if len(p.files) == 0 {
		return ""
	}
	out := filepath.Join(p.r.Work, "profiles", p.name+".pb.gz")
	f, err := os.Create(out)
	if err != nil {
		return ""
	}
	defer f.Close()
	cmd := exec.Command("go", append([]string{"tool", "pprof", "-proto"}, p.files...)...)
	cmd.Stdout = f
	if err := cmd.Run(); err != nil {
		logf("merging profiles of %s: %v", p.name, err)
		return ""
	}
	for _, x := range p.files {
		_ = os.Remove(x)
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sortStrings(out)
	return out
}

// cpuTable shows the CPU seconds each process of the bed used during each
// pass (until everything was in sync), and per 1,000 member Secrets: on
// this machine every process shares the same 2 cores, so a pass that uses
// the cores fully cannot go faster than its CPU allows.
func cpuTable(cols []string, cpus []map[string]float64, durs []time.Duration, secrets int) string {
	var rows []string
	comps := map[string]bool{}
	for _, c := range cpus {
		for k := range c {
			comps[k] = true
		}
	}
	names := make([]string, 0, len(comps))
	for k := range comps {
		names = append(names, k)
	}
	sortStrings(names)
	var b strings.Builder
	b.WriteString("CPU seconds used per process during each pass (/proc/<pid>/stat utime+stime; 2 cores = 2 CPU seconds per second):\n\n")
	b.WriteString("| process |")
	for _, c := range cols {
		b.WriteString(" " + c + " |")
	}
	b.WriteString("\n|---|")
	for range cols {
		b.WriteString("---|")
	}
	b.WriteString("\n")
	totals := make([]float64, len(cols))
	for _, n := range names {
		row := "| " + n + " |"
		for i, c := range cpus {
			row += " " + f2(c[n]) + " |"
			totals[i] += c[n]
		}
		rows = append(rows, row)
	}
	b.WriteString(strings.Join(rows, "\n") + "\n| **all** |")
	for _, t := range totals {
		b.WriteString(" **" + f2(t) + "** |")
	}
	b.WriteString("\n| all, per 1,000 member Secrets |")
	for _, t := range totals {
		b.WriteString(" " + f2(t/float64(secrets)*1000) + " |")
	}
	b.WriteString("\n| mean cores busy (pass until in sync) |")
	for i, t := range totals {
		b.WriteString(" " + f2(t/durs[i].Seconds()) + " |")
	}
	b.WriteString("\n")
	return b.String()
}

// counterTable shows the requests each pass cost, per FederatedSecret
// (n of them; for the direct pass, per name created in every member).
func counterTable(cols []string, cnts []Counters, n int) string {
	keys := map[string]bool{}
	for _, c := range cnts {
		for k, v := range c {
			if v != 0 {
				keys[k] = true
			}
		}
	}
	names := make([]string, 0, len(keys))
	for k := range keys {
		names = append(names, k)
	}
	sortStrings(names)
	var b strings.Builder
	fmt.Fprintf(&b, "Requests per pass, divided by the %d FederatedSecrets (direct: by the %d names, each created in every member); from secretfed's and the members' `apiserver_request_total` and secretfed's workqueue metrics:\n\n| counter |", n, n)
	for _, c := range cols {
		b.WriteString(" " + c + " |")
	}
	b.WriteString("\n|---|")
	for range cols {
		b.WriteString("---|")
	}
	b.WriteString("\n")
	for _, k := range names {
		b.WriteString("| " + k + " |")
		for _, c := range cnts {
			b.WriteString(" " + f2(c[k]/float64(n)) + " |")
		}
		b.WriteString("\n")
	}
	return b.String()
}
