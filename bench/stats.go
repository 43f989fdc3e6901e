package main

import (
	"encoding/csv"
	"fmt"
	"math"
	"os"
	"sort"
	"time"
)

// Percentile returns the p-th percentile (0..100) of xs by linear
// interpolation between closest ranks; NaN for no samples.
func Percentile(xs []float64, p float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	if len(s) == 1 {
		return s[0]
	}
	pos := p / 100 * float64(len(s)-1)
	lo := int(math.Floor(pos))
	hi := int(math.Ceil(pos))
	return s[lo] + (s[hi]-s[lo])*(pos-float64(lo))
}

// Dist summarises a latency distribution in milliseconds.
type Dist struct {
	N             int
	P50, P90, P99 float64
	Max           float64
}

func NewDist(ms []float64) Dist {
	d := Dist{N: len(ms), P50: Percentile(ms, 50), P90: Percentile(ms, 90), P99: Percentile(ms, 99), Max: Percentile(ms, 100)}
	return d
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// Median of xs.
func Median(xs []float64) float64 { return Percentile(xs, 50) }

func writeCSV(path string, header []string, rows [][]string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := csv.NewWriter(f)
	if err := w.Write(header); err != nil {
		f.Close()
		return err
	}
	if err := w.WriteAll(rows); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func f1(x float64) string { return fmt.Sprintf("%.1f", x) }
func f2(x float64) string { return fmt.Sprintf("%.2f", x) }
func f3(x float64) string { return fmt.Sprintf("%.3f", x) }

// ratio formats a/b as "1.23×".
func ratio(a, b float64) string {
	if b == 0 || math.IsNaN(a) || math.IsNaN(b) {
		return "n/a"
	}
	return fmt.Sprintf("%.2f×", a/b)
}

func mathNaN() float64 { return math.NaN() }

func sortStrings(s []string) { sort.Strings(s) }
