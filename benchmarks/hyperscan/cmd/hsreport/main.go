// Command hsreport turns the output of `go test -bench BenchmarkRouteTable ./benchmarks/hyperscan/`
// into the "Hyperscan route matching" section of benchmarks/RESULTS.md and a PNG plot, checking
// the targets: at 5,000 rules Hyperscan at least 100x faster than sequential matching, and at
// most 1 µs per request at 100 rules.
package main

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"image/color"
	"io"
	"log"
	"os"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/meshaccel/meshaccel/benchmarks/resultsmd"
)

const sectionTitle = "## Hyperscan route matching"

var engines = []string{"hyperscan", "sequential", "alternation"}

var engineLabels = map[string]string{
	"hyperscan":   "Hyperscan, one scan (cgo shim)",
	"sequential":  "Go regexp route by route (Envoy's RE2 behaviour)",
	"alternation": "Go regexp, one alternation",
}

// result is one benchmark line.
type result struct {
	rules   int
	engine  string
	metrics map[string]float64 // unit → value: ns/op, cpu-ns/op, compile-s, db-bytes, …
}

var benchLine = regexp.MustCompile(`^BenchmarkRouteTable/rules=(\d+)/engine=(\w+)(?:-\d+)?\s+\d+\s+(.*)$`)

func parse(r io.Reader) ([]result, string, error) {
	var results []result
	var cpu string
	scanner := bufio.NewScanner(r)
	for scanner.Scan() {
		line := scanner.Text()
		if strings.HasPrefix(line, "cpu: ") {
			cpu = strings.TrimPrefix(line, "cpu: ")
		}
		m := benchLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		rules, _ := strconv.Atoi(m[1])
		res := result{rules: rules, engine: m[2], metrics: map[string]float64{}}
		fields := strings.Fields(m[3])
		for i := 0; i+1 < len(fields); i += 2 {
			v, err := strconv.ParseFloat(fields[i], 64)
			if err != nil {
				return nil, "", fmt.Errorf("%q: %w", line, err)
			}
			res.metrics[fields[i+1]] = v
		}
		results = append(results, res)
	}
	if len(results) == 0 {
		return nil, "", errors.New("no BenchmarkRouteTable lines in the input")
	}
	return results, cpu, scanner.Err()
}

func find(results []result, rules int, engine string) (result, bool) {
	for _, r := range results {
		if r.rules == rules && r.engine == engine {
			return r, true
		}
	}
	return result{}, false
}

func ruleCounts(results []result) []int {
	var counts []int
	for _, r := range results {
		if !slices.Contains(counts, r.rules) {
			counts = append(counts, r.rules)
		}
	}
	slices.Sort(counts)
	return counts
}

func formatDuration(ns float64) string {
	switch {
	case ns >= 1e6:
		return fmt.Sprintf("%.2f ms", ns/1e6)
	case ns >= 1e3:
		return fmt.Sprintf("%.2f µs", ns/1e3)
	}
	return fmt.Sprintf("%.0f ns", ns)
}

func formatBytes(b float64) string {
	switch {
	case b >= 1<<20:
		return fmt.Sprintf("%.1f MiB", b/(1<<20))
	case b >= 1<<10:
		return fmt.Sprintf("%.0f KiB", b/(1<<10))
	}
	return fmt.Sprintf("%.0f B", b)
}

func formatSeconds(s float64) string {
	if s < 0.001 {
		return fmt.Sprintf("%.0f µs", s*1e6)
	}
	if s < 1 {
		return fmt.Sprintf("%.0f ms", s*1000)
	}
	return fmt.Sprintf("%.1f s", s)
}

// section renders the RESULTS.md section.
func section(results []result, cpu, command, note, plotPath string, now time.Time) (string, []string) {
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n\n", sectionTitle)
	fmt.Fprintf(&b, "Envoy-style route matching (the first route whose regex matches the whole path wins) over route\n")
	fmt.Fprintf(&b, "tables of realistic regexes (`benchmarks/hyperscan.RouteTable`), 4,096 request paths per table\n")
	fmt.Fprintf(&b, "generated from the routes (nine in ten routed). CPU time per request is process CPU time over\n")
	fmt.Fprintf(&b, "the timed loop divided by requests; the machine is shared, so wall time (ns/op) is noisier.\n\n")
	fmt.Fprintf(&b, "- Command: `%s`\n", command)
	fmt.Fprintf(&b, "- Machine: %s, %d cores (%s/%s)\n", cpu, runtime.NumCPU(), runtime.GOOS, runtime.GOARCH)
	fmt.Fprintf(&b, "- Date: %s\n", now.UTC().Format("2006-01-02"))
	if note != "" {
		fmt.Fprintf(&b, "- %s\n", note)
	}
	fmt.Fprintf(&b, "- Hyperscan compile time is measured when a table's database is first built; later runs load the\n")
	fmt.Fprintf(&b, "  serialized database from `.cache/hyperscan/` (keyed by version, platform and patterns).\n\n")
	fmt.Fprintf(&b, "| rules | engine | CPU / request | wall / request | vs sequential | compile | database |\n")
	fmt.Fprintf(&b, "|---:|---|---:|---:|---:|---:|---:|\n")
	for _, rules := range ruleCounts(results) {
		seq, hasSeq := find(results, rules, "sequential")
		for _, engine := range engines {
			r, ok := find(results, rules, engine)
			if !ok {
				continue
			}
			speedup := "—"
			if hasSeq && engine != "sequential" {
				speedup = formatSpeedup(seq.metrics["cpu-ns/op"] / r.metrics["cpu-ns/op"])
			}
			database := "—"
			if v, ok := r.metrics["db-bytes"]; ok {
				database = formatBytes(v)
			}
			fmt.Fprintf(&b, "| %d | %s | %s | %s | %s | %s | %s |\n", rules, engine, formatDuration(r.metrics["cpu-ns/op"]),
				formatDuration(r.metrics["ns/op"]), speedup, formatSeconds(r.metrics["compile-s"]), database)
		}
	}
	var failures []string
	fmt.Fprintf(&b, "\nTargets:\n\n")
	if h, ok := find(results, 5000, "hyperscan"); ok {
		s, _ := find(results, 5000, "sequential")
		speedup := s.metrics["cpu-ns/op"] / h.metrics["cpu-ns/op"]
		met := speedup >= 100
		fmt.Fprintf(&b, "- 5,000 rules, Hyperscan ≥ 100x faster than sequential: %.0fx — %s\n", speedup, verdict(met))
		if !met {
			failures = append(failures, fmt.Sprintf("5,000 rules: %.0fx < 100x", speedup))
		}
	}
	if h, ok := find(results, 100, "hyperscan"); ok {
		met := h.metrics["cpu-ns/op"] <= 1000
		fmt.Fprintf(&b, "- 100 rules, Hyperscan ≤ 1 µs per request: %s — %s\n", formatDuration(h.metrics["cpu-ns/op"]), verdict(met))
		if !met {
			failures = append(failures, "100 rules: over 1 µs per request")
		}
	}
	fmt.Fprintf(&b, "\n![CPU time per request by route-table size](%s)\n", plotPath)
	return b.String(), failures
}

func formatSpeedup(x float64) string {
	if x < 1 {
		return fmt.Sprintf("%.2gx", x)
	}
	return fmt.Sprintf("%.1fx", x)
}

func verdict(met bool) string {
	if met {
		return "met"
	}
	return "**missed**"
}

func writePlot(results []result, path string) error {
	p := plot.New()
	p.Title.Text = "Route matching: CPU time per request"
	p.X.Label.Text = "routes in the table"
	p.Y.Label.Text = "CPU time per request (ns)"
	p.X.Scale = plot.LogScale{}
	p.Y.Scale = plot.LogScale{}
	p.X.Tick.Marker = plot.LogTicks{Prec: -1}
	p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
	p.Legend.Top = true
	p.Legend.Left = true
	p.Legend.XOffs = vg.Points(16)
	p.Legend.YOffs = -vg.Points(16)
	colors := map[string]color.Color{
		"hyperscan":   color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff},
		"sequential":  color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff},
		"alternation": color.RGBA{R: 0x7f, G: 0x7f, B: 0x7f, A: 0xff},
	}
	for _, engine := range engines {
		var points plotter.XYs
		for _, rules := range ruleCounts(results) {
			if r, ok := find(results, rules, engine); ok && r.metrics["cpu-ns/op"] > 0 {
				points = append(points, plotter.XY{X: float64(rules), Y: r.metrics["cpu-ns/op"]})
			}
		}
		if len(points) == 0 {
			continue
		}
		line, scatter, err := plotter.NewLinePoints(points)
		if err != nil {
			return err
		}
		line.Color = colors[engine]
		line.Width = vg.Points(2)
		scatter.Color = colors[engine]
		scatter.Shape = draw.GlyphDrawer(draw.CircleGlyph{})
		scatter.Radius = vg.Points(3)
		p.Add(line, scatter)
		p.Legend.Add(engineLabels[engine], line, scatter)
	}
	p.Add(plotter.NewGrid())
	return p.Save(8*vg.Inch, 5*vg.Inch, path)
}

func main() {
	in := flag.String("in", "-", "go test -bench output to read (- for standard input)")
	resultsPath := flag.String("results", "benchmarks/RESULTS.md", "results file whose Hyperscan section is rewritten")
	plotPath := flag.String("plot", "benchmarks/hyperscan/route-matching.png", "PNG plot to write")
	plotLink := flag.String("plot-link", "hyperscan/route-matching.png", "plot path as linked from the results file")
	command := flag.String("command", "make bench-hyperscan", "command recorded with the results")
	note := flag.String("note", "", "a line about the run's conditions, recorded with the results")
	flag.Parse()

	var input io.Reader = os.Stdin
	if *in != "-" {
		data, err := os.ReadFile(*in)
		if err != nil {
			log.Fatal(err)
		}
		input = bytes.NewReader(data)
	}
	results, cpu, err := parse(input)
	if err != nil {
		log.Fatal(err)
	}
	if cpu == "" {
		cpu = "unknown CPU"
	}
	text, failures := section(results, cpu, *command, *note, *plotLink, time.Now())
	existing, err := os.ReadFile(*resultsPath)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		log.Fatal(err)
	}
	if err := os.WriteFile(*resultsPath, []byte(resultsmd.ReplaceSection(string(existing), sectionTitle, text)), 0o644); err != nil {
		log.Fatal(err)
	}
	if err := writePlot(results, *plotPath); err != nil {
		log.Fatal(err)
	}
	fmt.Print(text)
	if len(failures) > 0 {
		fmt.Fprintf(os.Stderr, "targets missed: %s\n", strings.Join(failures, "; "))
		os.Exit(1)
	}
}
