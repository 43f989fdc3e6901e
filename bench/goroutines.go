package main

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// A CPU profile does not show time spent waiting — for a member's answer, for
// the client-side rate limiter, for secretfed's own API. So the profiler also
// samples secretfed's goroutine dump (/debug/pprof/goroutine?debug=1) every
// second and counts what the propagation loop's workers are doing: a
// poor man's off-CPU profile.

var clientCall = regexp.MustCompile(`gentype\.\(\*Client(?:WithList)?\[\.\.\.\]\)\.(\w+)`)

// classifyGoroutines returns, for one dump, a count per "role: state".
func classifyGoroutines(dump string) map[string]int {
	out := map[string]int{}
	for _, block := range strings.Split(dump, "\n\n") {
		lines := strings.Split(strings.TrimSpace(block), "\n")
		if len(lines) < 2 {
			continue
		}
		head := strings.Fields(lines[0])
		if len(head) < 2 || head[1] != "@" {
			continue
		}
		n, err := strconv.Atoi(head[0])
		if err != nil {
			continue
		}
		var funcs []string
		for _, l := range lines[1:] {
			f := strings.Fields(l)
			if len(f) >= 3 && f[0] == "#" {
				funcs = append(funcs, f[2])
			}
		}
		all := strings.Join(funcs, "\n")
		var role string
		switch {
		case strings.Contains(all, "propagation.(*Controller).processPair"):
			role = "member worker"
		case strings.Contains(all, "propagation.(*Controller).processPlanner"):
			role = "planner"
		default:
			continue
		}
		// The loop's innermost function on the stack: what it was doing.
		where := ""
		for _, f := range funcs {
			if i := strings.Index(f, "propagation.(*Controller)."); i >= 0 {
				where = strings.SplitN(f[i+len("propagation.(*Controller)."):], "+", 2)[0]
				break
			}
		}
		call := ""
		if m := clientCall.FindStringSubmatch(all); m != nil {
			call = m[1]
		}
		var state string
		switch {
		case strings.Contains(all, "workqueue.(*Typed[...]).Get"):
			state = "idle (queue empty)"
		case strings.Contains(all, "sync.runtime_SemacquireMutex") || strings.Contains(all, "sync.runtime_SemacquireRWMutex"):
			state = "waiting for a lock (in " + where + ")"
		case strings.Contains(all, "util/flowcontrol") || strings.Contains(all, "x/time/rate"):
			state = fmt.Sprintf("waiting for the client-side rate limiter (%s in %s)", call, where)
		case strings.Contains(all, "net/http") || strings.Contains(all, "x/net/http2"):
			target := "a member"
			if role == "planner" {
				target = "the secretfed API"
			}
			state = fmt.Sprintf("waiting for %s (%s in %s)", target, call, where)
		default:
			state = "running (in " + where + ")"
		}
		out[role+": "+state] += n
	}
	return out
}

// waitProfile formats aggregated goroutine states as a table, per role.
func waitProfile(counts map[string]int, samples int) string {
	if samples == 0 || len(counts) == 0 {
		return ""
	}
	perRole := map[string]int{}
	for k, v := range counts {
		perRole[strings.SplitN(k, ":", 2)[0]] += v
	}
	keys := make([]string, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		ri, rj := strings.SplitN(keys[i], ":", 2)[0], strings.SplitN(keys[j], ":", 2)[0]
		if ri != rj {
			return ri < rj
		}
		return counts[keys[i]] > counts[keys[j]]
	})
	var b strings.Builder
	fmt.Fprintf(&b, "| worker: state | share of that role's goroutine samples | mean goroutines |\n|---|---|---|\n")
	for _, k := range keys {
		role := strings.SplitN(k, ":", 2)[0]
		fmt.Fprintf(&b, "| %s | %.0f%% | %.1f |\n", k, 100*float64(counts[k])/float64(perRole[role]), float64(counts[k])/float64(samples))
	}
	return b.String()
}
