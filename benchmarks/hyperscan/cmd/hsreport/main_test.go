package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const sampleBench = `goos: linux
cpu: AMD EPYC
BenchmarkRouteTable/rules=100/engine=hyperscan-2    997101    365.1 ns/op    253.1 cpu-ns/op    0.41 compile-s    52000 db-bytes    0 B/op    0 allocs/op
BenchmarkRouteTable/rules=100/engine=sequential-2    77643    7761 ns/op    1791 cpu-ns/op    0.0008 compile-s    0 B/op    0 allocs/op
BenchmarkRouteTable/rules=5000/engine=hyperscan-2    100000    6000 ns/op    5000 cpu-ns/op    16 compile-s    9600000 db-bytes    0 B/op    0 allocs/op
BenchmarkRouteTable/rules=5000/engine=sequential-2    2000    600000 ns/op    400000 cpu-ns/op    0.05 compile-s    0 B/op    0 allocs/op
PASS
`

func TestSectionReportsTableAndTargets(t *testing.T) {
	results, cpu, err := parse(strings.NewReader(sampleBench))
	if err != nil {
		t.Fatal(err)
	}
	if cpu != "AMD EPYC" || len(results) != 4 {
		t.Fatalf("cpu %q, %d results", cpu, len(results))
	}
	text, failures := section(results, cpu, "make bench-hyperscan", "shared machine", "plot.png", time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC))
	for _, want := range []string{
		"## Hyperscan route matching",
		"| 100 | hyperscan | 253 ns | 365 ns | 7.1x | 410 ms | 51 KiB |",
		"| 5000 | sequential | 400.00 µs | 600.00 µs | — | 50 ms | — |",
		"| 100 | sequential | 1.79 µs | 7.76 µs | — | 800 µs | — |",
		"- shared machine",
		"5,000 rules, Hyperscan ≥ 100x faster than sequential: 80x — **missed**",
		"100 rules, Hyperscan ≤ 1 µs per request: 253 ns — met",
		"Date: 2026-01-02",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("section lacks %q:\n%s", want, text)
		}
	}
	if len(failures) != 1 {
		t.Errorf("failures %q", failures)
	}
}

func TestWritePlot(t *testing.T) {
	results, _, err := parse(strings.NewReader(sampleBench))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "plot.png")
	if err := writePlot(results, path); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil || len(data) < 1000 || string(data[1:4]) != "PNG" {
		t.Errorf("not a PNG: %d bytes, %v", len(data), err)
	}
}
