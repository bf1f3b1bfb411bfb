// Command plot draws the WAF-in-Wasm measurements (results.json, written by
// wasm-waf/cmd/waf-wasm-bench) as PNG: interpreted per-request latency
// against the 1 ms target, and linear memory over the long run.
//
//	go run ./benchmarks/waf-wasm/plot -in benchmarks/waf-wasm/results.json -out benchmarks/waf-wasm
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"image/color"
	"log"
	"math"
	"os"
	"path/filepath"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
)

// report mirrors the fields of waf-wasm-bench's JSON that the plots use.
type report struct {
	Date, CPU string
	Plugins   []struct {
		Name     string
		Runtimes []struct {
			Runtime string
			Traffic []struct {
				Kind  string
				P50us float64
			}
		}
		Memory struct {
			Samples []struct {
				Requests int
				Bytes    uint64
			}
		}
	}
}

func main() {
	in := flag.String("in", "benchmarks/waf-wasm/results.json", "waf-wasm-bench JSON results")
	out := flag.String("out", "benchmarks/waf-wasm", "directory for the PNG files")
	flag.Parse()
	data, err := os.ReadFile(*in)
	if err != nil {
		log.Fatal(err)
	}
	var r report
	if err := json.Unmarshal(data, &r); err != nil {
		log.Fatalf("%s: %v", *in, err)
	}
	if err := latencyPlot(&r, filepath.Join(*out, "latency-interpreter.png")); err != nil {
		log.Fatal(err)
	}
	if err := memoryPlot(&r, filepath.Join(*out, "memory.png")); err != nil {
		log.Fatal(err)
	}
}

// latencyPlot: p50 per request kind in wazero's interpreter, one bar group
// per plugin, log scale, with the 1 ms target.
func latencyPlot(r *report, path string) error {
	p := plot.New()
	p.Title.Text = fmt.Sprintf("WAF plugin p50 per request, wazero interpreter (%s, %s)", r.CPU, r.Date)
	// Bars need a linear axis: plot log10(µs) and label the decades.
	p.Y.Label.Text = "p50 (log scale)"
	p.Y.Tick.Marker = plot.ConstantTicks([]plot.Tick{
		{Value: 1, Label: "10 µs"}, {Value: 2, Label: "100 µs"}, {Value: 3, Label: "1 ms"},
		{Value: 4, Label: "10 ms"}, {Value: 5, Label: "100 ms"}, {Value: 6, Label: "1 s"}, {Value: 7, Label: "10 s"},
	})
	p.Y.Min, p.Y.Max = 1, 7
	var kinds []string
	w := vg.Points(14)
	for i, pl := range r.Plugins {
		var values plotter.Values
		for _, rt := range pl.Runtimes {
			if rt.Runtime != "interpreter" {
				continue
			}
			for _, t := range rt.Traffic {
				values = append(values, math.Log10(max(t.P50us, 10)))
				if i == 0 {
					kinds = append(kinds, t.Kind)
				}
			}
		}
		bars, err := plotter.NewBarChart(values, w)
		if err != nil {
			return err
		}
		bars.Color = plotutil.Color(i)
		bars.Offset = vg.Length(i-len(r.Plugins)/2) * w
		p.Add(bars)
		p.Legend.Add(pl.Name, bars)
	}
	target := plotter.NewFunction(func(float64) float64 { return 3 })
	target.Color = color.RGBA{R: 200, A: 255}
	target.Dashes = []vg.Length{vg.Points(4), vg.Points(4)}
	p.Add(target)
	p.Legend.Add("1 ms target", target)
	p.Legend.Top = true
	p.NominalX(kinds...)
	return p.Save(9*vg.Inch, 5*vg.Inch, path)
}

// memoryPlot: linear memory against requests served.
func memoryPlot(r *report, path string) error {
	p := plot.New()
	p.Title.Text = "WAF plugin linear memory over a long run (wazero compiler)"
	p.X.Label.Text = "requests"
	p.Y.Label.Text = "MiB"
	for i, pl := range r.Plugins {
		var pts plotter.XYs
		for _, s := range pl.Memory.Samples {
			pts = append(pts, plotter.XY{X: float64(s.Requests), Y: float64(s.Bytes) / (1 << 20)})
		}
		line, err := plotter.NewLine(pts)
		if err != nil {
			return err
		}
		line.Color = plotutil.Color(i)
		line.Width = vg.Points(2)
		p.Add(line)
		p.Legend.Add(pl.Name, line)
	}
	limit := plotter.NewFunction(func(float64) float64 { return 64 })
	limit.Color = color.RGBA{R: 200, A: 255}
	limit.Dashes = []vg.Length{vg.Points(4), vg.Points(4)}
	p.Add(limit, plotter.NewGrid())
	p.Legend.Add("64 MiB limit", limit)
	p.Legend.Top = true
	p.Legend.Left = true
	p.Y.Min = 0
	return p.Save(8*vg.Inch, 5*vg.Inch, path)
}
