package main

import (
	"os"
	"sort"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgsvg"
)

type panel struct {
	title  string
	series []string // keys of Runner.Series
	labels []string
}

var panels = []panel{
	{"Figure 1: create latency", []string{"fig1-federated", "fig1-direct"}, []string{"federated", "direct"}},
	{"Figure 2: rotation latency", []string{"fig2-federated", "fig2-direct"}, []string{"federated", "direct"}},
	{"Figure 4: one member stopped", []string{"fig4-stalled", "fig1-federated"}, []string{"member stopped", "figure 1 federated"}},
	{"Figure 6: API calls", []string{"fig6-create-secretfed", "fig6-create-kube-apiserver", "fig6-list-secretfed", "fig6-list-kube-apiserver"},
		[]string{"create secretfed", "create kube-apiserver", "list secretfed", "list kube-apiserver"}},
}

// ecdf returns the empirical distribution function as steps.
func ecdf(xs []float64) plotter.XYs {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	pts := make(plotter.XYs, 0, len(s)+1)
	for i, x := range s {
		if x <= 0 {
			x = 0.001
		}
		if i == 0 {
			pts = append(pts, plotter.XY{X: x, Y: 0})
		}
		pts = append(pts, plotter.XY{X: x, Y: float64(i+1) / float64(len(s))})
	}
	return pts
}

// writePlot draws the latency distributions (empirical CDFs, log time
// axis) of the figures that were measured into one SVG.
func (r *Runner) writePlot(path string) (bool, error) {
	var plots []*plot.Plot
	for _, pn := range panels {
		p := plot.New()
		p.Title.Text = pn.title
		p.X.Label.Text = "latency (ms, log scale)"
		p.Y.Label.Text = "fraction of samples ≤ x"
		p.X.Scale = plot.LogScale{}
		p.X.Tick.Marker = plot.LogTicks{Prec: -1}
		p.Y.Min, p.Y.Max = 0, 1
		p.Legend.Top = false
		p.Legend.Left = false
		p.Legend.YOffs = vg.Points(10)
		added := 0
		for i, key := range pn.series {
			xs := r.Series[key]
			if len(xs) == 0 {
				continue
			}
			line, err := plotter.NewLine(ecdf(xs))
			if err != nil {
				return false, err
			}
			line.StepStyle = plotter.PostStep
			line.Color = plotutil.Color(i)
			line.Dashes = plotutil.Dashes(i)
			line.Width = vg.Points(1.5)
			p.Add(line)
			p.Legend.Add(pn.labels[i], line)
			added++
		}
		if added > 0 {
			p.Add(plotter.NewGrid())
			plots = append(plots, p)
		}
	}
	if len(plots) == 0 {
		return false, nil
	}
	cols := 2
	rows := (len(plots) + cols - 1) / cols
	if len(plots) == 1 {
		cols = 1
	}
	grid := make([][]*plot.Plot, rows)
	for i := range grid {
		grid[i] = make([]*plot.Plot, cols)
		for j := range grid[i] {
			if k := i*cols + j; k < len(plots) {
				grid[i][j] = plots[k]
			}
		}
	}
	c := vgsvg.New(vg.Points(float64(cols)*420), vg.Points(float64(rows)*320))
	dc := draw.New(c)
	tiles := draw.Tiles{Rows: rows, Cols: cols, PadX: vg.Points(20), PadY: vg.Points(20), PadTop: vg.Points(10), PadBottom: vg.Points(10), PadLeft: vg.Points(10), PadRight: vg.Points(10)}
	canvases := plot.Align(grid, tiles, dc)
	for i := range grid {
		for j := range grid[i] {
			if grid[i][j] != nil {
				grid[i][j].Draw(canvases[i][j])
			}
		}
	}
	f, err := os.Create(path)
	if err != nil {
		return false, err
	}
	if _, err := c.WriteTo(f); err != nil {
		f.Close()
		return false, err
	}
	return true, f.Close()
}
