package main

import (
	"strconv"
	"strings"
)

// Sample is one line of the Prometheus text format.
type Sample struct {
	Labels map[string]string
	Value  float64
}

// Metrics maps a metric name to its samples.
type Metrics map[string][]Sample

// Sum adds the samples of name whose labels include every pair of match.
func (m Metrics) Sum(name string, match map[string]string) float64 {
	var total float64
	for _, s := range m[name] {
		ok := true
		for k, v := range match {
			ok = ok && s.Labels[k] == v
		}
		if ok {
			total += s.Value
		}
	}
	return total
}

// parseMetrics reads the Prometheus text exposition format, enough for
// counters and gauges (label values without escaped quotes or commas
// inside quotes are all we meet here, but both are handled).
func parseMetrics(body string) Metrics {
	out := Metrics{}
	for _, line := range strings.Split(body, "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		sp := strings.LastIndexByte(line, ' ')
		if sp < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[sp+1:], 64)
		if err != nil {
			continue
		}
		head := line[:sp]
		name, labels := head, map[string]string{}
		if i := strings.IndexByte(head, '{'); i >= 0 {
			name = head[:i]
			labels = parseLabels(strings.TrimSuffix(head[i+1:], "}"))
		}
		out[name] = append(out[name], Sample{Labels: labels, Value: v})
	}
	return out
}

func parseLabels(s string) map[string]string {
	labels := map[string]string{}
	for len(s) > 0 {
		eq := strings.IndexByte(s, '=')
		if eq < 0 || eq+1 >= len(s) || s[eq+1] != '"' {
			break
		}
		key := strings.TrimSpace(s[:eq])
		var val strings.Builder
		i := eq + 2
		for ; i < len(s); i++ {
			if s[i] == '\\' && i+1 < len(s) {
				i++
				val.WriteByte(s[i])
				continue
			}
			if s[i] == '"' {
				break
			}
			val.WriteByte(s[i])
		}
		labels[key] = val.String()
		s = strings.TrimPrefix(s[min(i+1, len(s)):], ",")
	}
	return labels
}
