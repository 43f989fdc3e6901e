// Command secretfed-bench is `make bench`: it brings up its own local bed
// (hack/local-up.sh, a host and 3 member kube-apiservers, secretfed behind
// the host's aggregator) on ports of its own, joins the members with the
// real kubectl-secretfed, measures the seven figures of issue 6 — each as a
// ratio against a baseline measured in the same run — and writes
// bench/REPORT.md, one CSV per figure and an SVG of the latency
// distributions.
//
// It is a separate Go module (bench/go.mod, with a replace of the main
// module to ../) so that the plotting library stays out of the server's
// dependencies and `go test ./...` at the root never runs it.
//
//	cd bench && go run . [-scale 0.1] [-figures 1,2,3] [-keep]
//
// BENCH_SCALE (or -scale) multiplies every count (samples, objects);
// the default, 1, is the numbers.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"k8s.io/klog/v2"
)

// Config is the bench's settings, from flags.
type Config struct {
	Repo        string
	Report      string
	Results     string
	Work        string
	Scale       float64
	Figures     map[int]bool
	Keep        bool
	Idle        time.Duration
	Rounds      int
	Concurrency int
	Notes       string
	Secretfed   string
	Fig3QPS     int
	Rerender    string
}

// n scales a count, at least 1.
func (c *Config) n(base int) int {
	return max(1, int(math.Round(float64(base)*c.Scale)))
}

func main() {
	var c Config
	var figs string
	scale := 1.0
	if v := os.Getenv("BENCH_SCALE"); v != "" {
		s, err := strconv.ParseFloat(v, 64)
		if err != nil || s <= 0 {
			fmt.Fprintf(os.Stderr, "BENCH_SCALE=%q: want a positive number\n", v)
			os.Exit(2)
		}
		scale = s
	}
	flag.StringVar(&c.Repo, "repo", "..", "repository root (hack/, bin/)")
	flag.StringVar(&c.Report, "report", "REPORT.md", "the report to write")
	flag.StringVar(&c.Results, "results", "results", "directory for the CSVs and the SVG (linked from the report)")
	flag.StringVar(&c.Work, "work", "out", "scratch directory: the bed, logs, profiles (git-ignored)")
	flag.Float64Var(&c.Scale, "scale", scale, "multiplies every count: samples, objects (env BENCH_SCALE); 1 = the issue's numbers")
	flag.StringVar(&figs, "figures", "1,2,3,4,5,6,7", "figures to measure")
	flag.BoolVar(&c.Keep, "keep", false, "leave the bed running afterwards")
	flag.DurationVar(&c.Idle, "idle", 60*time.Second, "figure 5's idle window")
	flag.IntVar(&c.Rounds, "rounds", 5, "figure 7's rounds over the providers (median taken)")
	flag.IntVar(&c.Concurrency, "concurrency", 16, "client concurrency of figures 3, 5 and 7")
	flag.StringVar(&c.Notes, "notes", "NOTES.md", "hand-written findings included in the report (skipped if missing)")
	flag.IntVar(&c.Fig3QPS, "fig3-member-qps", 500, "figure 3 also measures a pass with secretfed restarted with this --member-qps (burst twice that); 0 skips it")
	flag.StringVar(&c.Rerender, "rerender", "", "write the report again from a finished run's state (out/state.json), e.g. after editing NOTES.md; measures nothing")
	flag.StringVar(&c.Secretfed, "secretfed-bin", "", "secretfed server binary (default: bin/secretfed-apiserver)")
	flag.Parse()
	c.Figures = map[int]bool{}
	for _, f := range strings.Split(figs, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 || n > 7 {
			fmt.Fprintf(os.Stderr, "-figures: %q is not a figure 1..7\n", f)
			os.Exit(2)
		}
		c.Figures[n] = true
	}
	for _, p := range []*string{&c.Repo, &c.Results, &c.Work} {
		abs, err := filepath.Abs(*p)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		*p = abs
	}
	if c.Rerender != "" {
		if err := rerender(&c); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, &c); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "[bench %s] %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

func run(ctx context.Context, c *Config) error {
	for _, d := range []string{c.Results, c.Work, filepath.Join(c.Work, "logs"), filepath.Join(c.Work, "profiles")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	for _, bin := range []string{"kube-apiserver", "kubectl", "etcd", "secretfed-apiserver", "kubectl-secretfed", "kms-test-plugin"} {
		if _, err := os.Stat(filepath.Join(c.Repo, "bin", bin)); err != nil {
			return fmt.Errorf("bin/%s is missing: run `make tools build` (or `make bench`, which does)", bin)
		}
	}
	logFile, err := os.Create(filepath.Join(c.Work, "logs", "bed.log"))
	if err != nil {
		return err
	}
	defer logFile.Close()
	// client-go's own messages (watches re-established across secretfed
	// restarts, and the like) go to a file, not between the bench's lines.
	klogFile, err := os.Create(filepath.Join(c.Work, "logs", "client-go.log"))
	if err != nil {
		return err
	}
	defer klogFile.Close()
	klog.LogToStderr(false)
	klog.SetOutput(klogFile)
	b := &Bed{Repo: c.Repo, Dir: filepath.Join(c.Work, "bed"), LogFile: logFile, SecretfedBin: c.Secretfed}
	if c.Secretfed != "" {
		if b.SecretfedBin, err = filepath.Abs(c.Secretfed); err != nil {
			return err
		}
	}
	r := &Runner{Config: c, Bed: b, Started: time.Now(), StartLoad: loadAvg(), RunID: strconv.FormatInt(time.Now().Unix(), 36),
		Commit: cmdOutput(c.Repo, "git", "describe", "--always", "--dirty")}

	logf("bringing up the bed (3 members) in %s; log %s", b.Dir, logFile.Name())
	t0 := time.Now()
	if err := b.Up(); err != nil {
		return err
	}
	logf("bed up in %s", time.Since(t0).Round(time.Millisecond))
	defer func() {
		if c.Keep {
			logf("-keep: the bed stays up; stop it with LOCAL_DIR=%s hack/local-down.sh --purge", b.Dir)
			return
		}
		logf("stopping the bed")
		if err := b.Down(true); err != nil {
			logf("stopping the bed: %v", err)
		}
	}()

	// Figures 6 and 7 restart secretfed on scratch data directories without
	// its loops; they run first, before the members join the real one.
	for _, n := range []int{6, 7} {
		if c.Figures[n] {
			r.measure(ctx, n)
		}
	}
	if c.Figures[6] || c.Figures[7] {
		if err := b.RestartSecretfed(""); err != nil {
			return fmt.Errorf("restoring secretfed after figures 6/7: %w", err)
		}
	}
	if c.Figures[1] || c.Figures[2] || c.Figures[3] || c.Figures[4] || c.Figures[5] {
		logf("joining %v with kubectl secretfed join", b.Members)
		if err := b.Join(); err != nil {
			return err
		}
		if r.Tracker, err = NewTracker(ctx, b); err != nil {
			return err
		}
		for _, n := range []int{1, 2, 3, 4, 5} {
			if c.Figures[n] && ctx.Err() == nil {
				r.measure(ctx, n)
			}
		}
	}
	r.EndLoad = loadAvg()
	r.Finished = time.Now()
	if err := r.saveState(); err != nil {
		logf("saving the run's state: %v", err)
	}
	return r.writeReport()
}

// state is what a run keeps so that its report can be written again.
type state struct {
	RunID              string
	Commit             string
	Scale              float64
	Started, Finished  time.Time
	StartLoad, EndLoad Load
	Figures            []*Figure
	Series             map[string][]float64
}

func (r *Runner) saveState() error {
	for _, f := range r.Figures {
		if f.Err != nil {
			f.ErrText = f.Err.Error()
		}
	}
	data, err := json.MarshalIndent(state{r.RunID, r.Commit, r.Scale, r.Started, r.Finished, r.StartLoad, r.EndLoad, r.Figures, r.Series}, "", " ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(r.Work, "state.json"), data, 0o644)
}

func rerender(c *Config) error {
	data, err := os.ReadFile(c.Rerender)
	if err != nil {
		return err
	}
	var st state
	if err := json.Unmarshal(data, &st); err != nil {
		return err
	}
	for _, f := range st.Figures {
		if f.ErrText != "" {
			f.Err = errors.New(f.ErrText)
		}
	}
	c.Scale = st.Scale
	r := &Runner{Config: c, RunID: st.RunID, Commit: st.Commit, Started: st.Started, Finished: st.Finished, StartLoad: st.StartLoad, EndLoad: st.EndLoad, Figures: st.Figures, Series: st.Series}
	return r.writeReport()
}

// Runner carries what the figures share.
type Runner struct {
	*Config
	Bed       *Bed
	Tracker   *Tracker
	RunID     string
	Commit    string
	Started   time.Time
	Finished  time.Time
	StartLoad Load
	EndLoad   Load
	Figures   []*Figure
	// Latency samples (ms) kept for the plot and for figure 4's baseline.
	Series map[string][]float64
}

// Figure is one figure's result.
type Figure struct {
	N         int
	Title     string
	Method    string
	Header    []string
	Rows      [][]string
	Targets   []Target
	Notes     []string
	Extra     string // markdown shown after the notes
	CSV       string
	Profiles  []ProfileResult // of the federated phase(s), if taken
	Heap      string          // a heap profile of secretfed (figure 5, at the largest count)
	LoadStart Load
	LoadEnd   Load
	Start     time.Time
	Duration  time.Duration
	Err       error `json:"-"`
	ErrText   string
}

// ProfileResult is what a profiler collected over one phase.
type ProfileResult struct {
	Phase   string
	CPU     string // merged CPU profile, "" if none
	Waits   string // goroutine-state table (markdown)
	Samples int
}

// addProfile stops p and keeps what it collected.
func (f *Figure) addProfile(p *profiler) {
	cpu := p.stop()
	f.Profiles = append(f.Profiles, ProfileResult{Phase: p.name, CPU: cpu, Waits: waitProfile(p.waits, p.samples), Samples: p.samples})
}

// Target is one of the targets with what was measured.
type Target struct {
	What   string
	Value  float64
	Limit  float64
	AtMost bool // the value must be ≤ Limit (else ≥)
	Unit   string
}

func (t Target) Met() bool {
	if math.IsNaN(t.Value) {
		return false
	}
	if t.AtMost {
		return t.Value <= t.Limit
	}
	return t.Value >= t.Limit
}

// Severity is how far a target is missed (1 = on the limit).
func (t Target) Severity() float64 {
	if math.IsNaN(t.Value) {
		return math.Inf(1)
	}
	if t.AtMost {
		if t.Limit == 0 {
			return 1 + t.Value
		}
		return t.Value / t.Limit
	}
	if t.Value == 0 {
		return math.Inf(1)
	}
	return t.Limit / t.Value
}

func (r *Runner) measure(ctx context.Context, n int) {
	fig := &Figure{N: n, LoadStart: loadAvg(), Start: time.Now()}
	logf("figure %d: start (load %s)", n, fig.LoadStart)
	var err error
	switch n {
	case 1:
		err = r.fig1(ctx, fig)
	case 2:
		err = r.fig2(ctx, fig)
	case 3:
		err = r.fig3(ctx, fig)
	case 4:
		err = r.fig4(ctx, fig)
	case 5:
		err = r.fig5(ctx, fig)
	case 6:
		err = r.fig6(ctx, fig)
	case 7:
		err = r.fig7(ctx, fig)
	}
	fig.Err = err
	fig.LoadEnd = loadAvg()
	fig.Duration = time.Since(fig.Start)
	if err != nil {
		logf("figure %d: FAILED after %s: %v", n, fig.Duration.Round(time.Second), err)
	} else {
		logf("figure %d: done in %s (load %s)", n, fig.Duration.Round(time.Second), fig.LoadEnd)
	}
	for _, t := range fig.Targets {
		logf("figure %d: %s = %.3g%s (target %s %.3g%s): %s", n, t.What, t.Value, t.Unit, map[bool]string{true: "≤", false: "≥"}[t.AtMost], t.Limit, t.Unit, metString(t.Met()))
	}
	r.Figures = append(r.Figures, fig)
	sort.Slice(r.Figures, func(i, j int) bool { return r.Figures[i].N < r.Figures[j].N })
}

func metString(met bool) string {
	if met {
		return "met"
	}
	return "MISSED"
}

func (r *Runner) series(name string, v []float64) {
	if r.Series == nil {
		r.Series = map[string][]float64{}
	}
	r.Series[name] = v
}
