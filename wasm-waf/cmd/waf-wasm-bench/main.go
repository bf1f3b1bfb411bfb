// Command waf-wasm-bench measures the WAF plugin as Envoy's WAMR would run it,
// using wazero as the stand-in: per-request cost in wazero's interpreter
// (closest to WAMR's fast interpreter) and compiler, configure time, linear
// memory over a long run, the deepest Wasm call stack against WAMR's 32 KiB
// operand stack, and module size. Given a second plugin built around
// Coraza, it measures that side by side.
//
//	waf-wasm-bench -wasm plugin.wasm [-coraza plugin-coraza.wasm] [-json out.json]
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/meshaccel/meshaccel/wasm-waf/ruleset"
	"github.com/meshaccel/meshaccel/wasm-waf/wasmhost"
)

func main() {
	wasmPath := flag.String("wasm", "", "plugin.wasm (meshaccel engine); required")
	corazaPath := flag.String("coraza", "", "the plugin built with Coraza, measured side by side (optional)")
	jsonOut := flag.String("json", "", "write the results as JSON to this file")
	shell := flag.Bool("shell", true, "also measure the plugin with a one-rule ruleset (the cost of the plugin shell and Go runtime)")
	withCRS := flag.Bool("crs", true, "measure the plugin with its embedded CRS (false: only -shell and -coraza)")
	shellRules := flag.String("shell-rules", "", "SecLang file that replaces the one-rule ruleset of -shell (to measure what a few rules cost); with -profile, the ruleset profiled")
	requests := flag.Int("requests", 100_000, "requests in the memory run")
	timed := flag.Int("timed", 5_000, "timed requests per traffic kind and runtime")
	corazaRequests := flag.Int("coraza-requests", 10_000, "requests in Coraza's memory run")
	corazaTimed := flag.Int("coraza-timed", 250, "timed Coraza requests per traffic kind and runtime")
	profile := flag.Int("profile", 0, "instead of measuring, print the guest functions that take the most interpreter time in configure and in each kind of request (this many rows)")
	flag.Parse()
	if *wasmPath == "" {
		fmt.Fprintln(os.Stderr, "waf-wasm-bench: -wasm is required")
		os.Exit(2)
	}
	if *profile > 0 {
		var config []byte // the plugin's embedded CRS
		if *shellRules != "" {
			var err error
			if config, err = oneRuleConfig(*shellRules); err != nil {
				fmt.Fprintln(os.Stderr, "waf-wasm-bench:", err)
				os.Exit(1)
			}
		}
		if err := printProfile(os.Stdout, *wasmPath, config, *profile); err != nil {
			fmt.Fprintln(os.Stderr, "waf-wasm-bench:", err)
			os.Exit(1)
		}
		return
	}
	report := Report{Date: time.Now().UTC().Format("2006-01-02"), GoVersion: runtime.Version(), CPU: cpuModel()}
	type plugin struct {
		name, path      string
		config          []byte
		requests, timed int
	}
	var plugins []plugin
	if *withCRS {
		plugins = append(plugins, plugin{"meshaccel", *wasmPath, nil, *requests, *timed})
	}
	if *shell {
		cfg, err := oneRuleConfig(*shellRules)
		if err != nil {
			fmt.Fprintln(os.Stderr, "waf-wasm-bench:", err)
			os.Exit(1)
		}
		plugins = append(plugins, plugin{"meshaccel, one rule", *wasmPath, cfg, *requests, *timed})
	}
	if *corazaPath != "" {
		// Coraza is two orders of magnitude slower interpreted: fewer requests.
		plugins = append(plugins, plugin{"coraza", *corazaPath, nil, *corazaRequests, *corazaTimed})
	}
	for _, p := range plugins {
		res, err := measurePlugin(p.name, p.path, p.config, p.requests, p.timed)
		if err != nil {
			fmt.Fprintf(os.Stderr, "waf-wasm-bench: %s: %v\n", p.name, err)
			os.Exit(1)
		}
		report.Plugins = append(report.Plugins, *res)
	}
	report.writeMarkdown(os.Stdout)
	if *jsonOut != "" {
		b, _ := json.MarshalIndent(report, "", "  ")
		if err := os.WriteFile(*jsonOut, append(b, '\n'), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "waf-wasm-bench:", err)
			os.Exit(1)
		}
	}
}

// Report is the whole measurement.
type Report struct {
	Date, GoVersion, CPU string
	Plugins              []PluginResult
}

// PluginResult is one plugin's numbers.
type PluginResult struct {
	Name        string
	WasmBytes   int64
	OlderEnvoy  bool // the host's poll_oneoff fails, as in older Envoys
	Runtimes    []RuntimeResult
	Memory      MemoryResult
	Depth       DepthResult
	Notes       []string
	ImportsLack []string // imports older Envoy hosts lack
}

// RuntimeResult is per wazero engine (interpreter, compiler).
type RuntimeResult struct {
	Runtime     string
	InitMillis  float64 // instantiate + _initialize
	ConfigMs    float64 // proxy_on_vm_start + proxy_on_configure
	Traffic     []LatencyResult
	MemoryAfter uint64
}

// LatencyResult is one kind of request.
type LatencyResult struct {
	Kind                 string
	N                    int
	P50us, P99us, MeanUs float64
	Blocked, Forwarded   int
}

// MemoryResult samples linear memory during a long run.
type MemoryResult struct {
	Runtime  string
	Requests int
	Samples  []MemorySample
}

// MemorySample is linear memory after Requests requests.
type MemorySample struct {
	Requests int
	Bytes    uint64
}

// DepthResult is the deepest Wasm call stack in each phase.
type DepthResult struct {
	Phases []PhaseDepth
}

// PhaseDepth is one phase's deepest stack.
type PhaseDepth struct {
	Phase         string
	MaxDepth      int
	MaxBytes      int
	DeepestFrames []string
}

// oneRuleConfig is a configuration whose ruleset has a single header rule:
// what remains is the cost of the proxy-wasm shell and the Go runtime. A
// SecLang file given instead replaces that rule.
func oneRuleConfig(file string) ([]byte, error) {
	name, text := "one.conf", `SecRuleEngine On
SecRule REQUEST_URI "@contains UNION SELECT" "id:1,phase:1,t:urlDecodeUni,deny,log"`
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, err
		}
		name, text = file, string(b)
	}
	rs, err := ruleset.CompileString(ruleset.Options{}, name, text)
	if err != nil {
		return nil, err
	}
	artifact, err := rs.MarshalBinary()
	if err != nil {
		return nil, err
	}
	return json.Marshal(map[string]any{"ruleset": artifact})
}

func measurePlugin(name, path string, config []byte, requests, timed int) (*PluginResult, error) {
	wasm, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	ctx := context.Background()
	res := &PluginResult{Name: name, WasmBytes: int64(len(wasm))}
	imports, err := wasmhost.ImportedFunctions(ctx, wasm)
	if err != nil {
		return nil, err
	}
	for _, imp := range wasmhost.DisallowedImports(imports) {
		res.ImportsLack = append(res.ImportsLack, imp.String())
	}
	// A plugin that needs a working poll_oneoff cannot run on older hosts:
	// try them first, and fall back to the full WASI set.
	res.OlderEnvoy = true
	if _, _, err := startVM(ctx, wasm, config, wasmhost.Options{Interpreter: false}); err != nil {
		res.OlderEnvoy = false
		res.Notes = append(res.Notes, "fails to start with an older Envoy's WASI ("+firstLine(err)+"); measured with the full WASI set")
	}
	base := wasmhost.Options{FullWASI: !res.OlderEnvoy}

	for _, interp := range []bool{true, false} {
		opts := base
		opts.Interpreter = interp
		rr, err := measureRuntime(ctx, wasm, config, opts, timed)
		if err != nil {
			return nil, err
		}
		res.Runtimes = append(res.Runtimes, *rr)
	}
	mem, err := measureMemory(ctx, wasm, config, base, requests)
	if err != nil {
		return nil, err
	}
	res.Memory = *mem
	depthOpts := base
	depthOpts.MeasureCallDepth = true
	depth, err := measureDepth(ctx, wasm, config, depthOpts)
	if err != nil {
		return nil, err
	}
	res.Depth = *depth
	return res, nil
}

func firstLine(err error) string {
	s, _, _ := strings.Cut(err.Error(), "\n")
	return s
}

func runtimeName(interp bool) string {
	if interp {
		return "interpreter"
	}
	return "compiler"
}

// startVM compiles, instantiates and configures a VM with the default
// ruleset, returning the time to instantiate and the time to configure.
func startVM(ctx context.Context, wasm, config []byte, opts wasmhost.Options) (*wasmhost.VM, [2]time.Duration, error) {
	var d [2]time.Duration
	rt, err := wasmhost.NewRuntime(ctx, opts)
	if err != nil {
		return nil, d, err
	}
	mod, err := rt.Compile(ctx, wasm)
	if err != nil {
		return nil, d, err
	}
	t0 := time.Now()
	vm, err := mod.NewVM(ctx)
	if err != nil {
		return nil, d, err
	}
	d[0] = time.Since(t0)
	vm.SetProperty([]string{"request", "protocol"}, []byte("HTTP/1.1"))
	t1 := time.Now()
	ok, err := vm.Start(nil, config)
	d[1] = time.Since(t1)
	if err != nil {
		return nil, d, err
	}
	if !ok {
		return nil, d, fmt.Errorf("the plugin rejected the default configuration: %v", vm.Logs())
	}
	vm.LogSink = func(wasmhost.LogLevel, string) {}
	return vm, d, nil
}

type request struct {
	kind    string
	headers [][2]string
	body    []byte
	attack  bool
	// fresh: every request carries a request id and a query value never seen before, as traffic
	// through Envoy does (x-request-id): the plugin's caches by content miss on them.
	fresh bool
}

// freshCount numbers fresh requests across the whole run.
var freshCount uint64

func freshHeaders(headers [][2]string) [][2]string {
	freshCount++
	out := make([][2]string, 0, len(headers)+1)
	for _, h := range headers {
		if h[0] == ":path" {
			h[1] += fmt.Sprintf("&visit=%d", freshCount)
		}
		out = append(out, h)
	}
	return append(out, [2]string{"x-request-id", fmt.Sprintf("%08x-4f1c-4b6e-9d2a-%012x", freshCount*2654435761%(1<<32), freshCount)})
}

var browserHeaders = [][2]string{
	{"user-agent", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"},
	{"accept", "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8"},
	{"accept-language", "en-US,en;q=0.9,de;q=0.8"},
	{"accept-encoding", "gzip, deflate, br"},
	{"cookie", "session=7f3c2a9e41b04d6f8a1e; theme=dark; consent=analytics"},
	{"referer", "https://shop.example/catalog?page=2"},
}

func get(path string) [][2]string {
	return append([][2]string{{":method", "GET"}, {":path", path}, {":authority", "shop.example"}, {":scheme", "https"}}, browserHeaders...)
}

func traffic() []request {
	form := "name=Alice+Example&email=alice%40example.com&rating=5&comment=" +
		strings.Repeat("Great+product%2C+arrived+quickly+and+works+as+described.+", 16)
	post := append([][2]string{{":method", "POST"}, {":path", "/api/reviews"}, {":authority", "shop.example"}, {":scheme", "https"},
		{"content-type", "application/x-www-form-urlencoded"}, {"content-length", fmt.Sprint(len(form))}}, browserHeaders...)
	return []request{
		{kind: "benign GET", headers: get("/products/42?ref=home&sort=price&color=blue")},
		{kind: "benign POST form 1 KiB", headers: post, body: []byte(form)},
		{kind: "SQL injection GET", headers: get("/search?q=1%27%20UNION%20SELECT%20password%20FROM%20users--"), attack: true},
		{kind: "benign GET, new request id and query value", headers: get("/products/42?ref=home&sort=price&color=blue"), fresh: true},
	}
}

// do runs one request through the VM like Envoy and reports whether the
// plugin answered it.
func do(vm *wasmhost.VM, r request) (bool, error) {
	s, err := vm.NewStream()
	if err != nil {
		return false, err
	}
	headers := r.headers
	if r.fresh {
		headers = freshHeaders(headers)
	}
	if _, err := s.RequestHeaders(headers, len(r.body) == 0); err != nil {
		return false, err
	}
	if len(r.body) > 0 && s.LocalResponse() == nil {
		if _, err := s.RequestBody(r.body, true); err != nil {
			return false, err
		}
	}
	blocked := s.LocalResponse() != nil
	return blocked, s.Complete()
}

func measureRuntime(ctx context.Context, wasm, config []byte, opts wasmhost.Options, timed int) (*RuntimeResult, error) {
	vm, d, err := startVM(ctx, wasm, config, opts)
	if err != nil {
		return nil, err
	}
	defer vm.Close()
	rr := &RuntimeResult{Runtime: runtimeName(opts.Interpreter), InitMillis: ms(d[0]), ConfigMs: ms(d[1])}
	for _, r := range traffic() {
		n := timed
		if opts.Interpreter && !strings.HasPrefix(r.kind, "benign GET") {
			n = max(timed/5, min(timed, 200))
		}
		lr := LatencyResult{Kind: r.kind, N: n}
		for i := 0; i < max(n/10, 20); i++ { // warm up: lazy regexes, free lists
			if _, err := do(vm, r); err != nil {
				return nil, err
			}
		}
		lat := make([]time.Duration, n)
		var total time.Duration
		for i := range lat {
			t0 := time.Now()
			blocked, err := do(vm, r)
			lat[i] = time.Since(t0)
			if err != nil {
				return nil, err
			}
			total += lat[i]
			if blocked {
				lr.Blocked++
			} else {
				lr.Forwarded++
			}
		}
		if r.attack && lr.Blocked != n || !r.attack && lr.Forwarded != n {
			return nil, fmt.Errorf("%s: %d blocked, %d forwarded: the verdicts are wrong", r.kind, lr.Blocked, lr.Forwarded)
		}
		slices.Sort(lat)
		lr.P50us, lr.P99us = us(lat[n/2]), us(lat[n*99/100])
		lr.MeanUs = us(total / time.Duration(n))
		rr.Traffic = append(rr.Traffic, lr)
	}
	rr.MemoryAfter = vm.MemoryBytes()
	if n := vm.PollOneoffCalls(); n > 0 {
		return nil, fmt.Errorf("poll_oneoff called %d times", n)
	}
	return rr, nil
}

func measureMemory(ctx context.Context, wasm, config []byte, opts wasmhost.Options, requests int) (*MemoryResult, error) {
	opts.Interpreter = false // the long run only needs the same code, faster
	vm, _, err := startVM(ctx, wasm, config, opts)
	if err != nil {
		return nil, err
	}
	defer vm.Close()
	mr := &MemoryResult{Runtime: runtimeName(opts.Interpreter), Requests: requests}
	mr.Samples = append(mr.Samples, MemorySample{0, vm.MemoryBytes()})
	mix := traffic()
	step := max(requests/20, 1)
	for i := 1; i <= requests; i++ {
		// In ten: seven benign GETs, one with new values, one form POST, one attack.
		r := mix[0]
		switch i % 10 {
		case 3:
			r = mix[1]
		case 5:
			r = mix[3]
		case 7:
			r = mix[2]
		}
		if _, err := do(vm, r); err != nil {
			return nil, fmt.Errorf("request %d: %w", i, err)
		}
		if i%step == 0 {
			mr.Samples = append(mr.Samples, MemorySample{i, vm.MemoryBytes()})
		}
	}
	return mr, nil
}

func measureDepth(ctx context.Context, wasm, config []byte, opts wasmhost.Options) (*DepthResult, error) {
	vm, err := wasmhost.NewStandaloneVM(ctx, wasm, opts)
	if err != nil {
		return nil, err
	}
	defer vm.Close()
	dr := &DepthResult{}
	record := func(phase string) {
		cs := vm.CallStack()
		dr.Phases = append(dr.Phases, PhaseDepth{Phase: phase, MaxDepth: cs.MaxDepth, MaxBytes: cs.MaxBytes, DeepestFrames: cs.DeepestFrames})
		vm.ResetCallStack()
	}
	record("Go runtime start-up (_initialize)")
	vm.SetProperty([]string{"request", "protocol"}, []byte("HTTP/1.1"))
	ok, err := vm.Start(nil, config)
	if err != nil || !ok {
		return nil, errors.Join(err, errors.New("start failed"))
	}
	record("configure")
	vm.LogSink = func(wasmhost.LogLevel, string) {}
	for _, r := range traffic() {
		// The first request of a kind compiles the regexes it needs.
		if _, err := do(vm, r); err != nil {
			return nil, err
		}
		record("first request: " + r.kind)
		// Later ones include allocation slow paths and garbage collections.
		for i := 0; i < depthRequests; i++ {
			if _, err := do(vm, r); err != nil {
				return nil, err
			}
		}
		record(fmt.Sprintf("next %d requests: %s", depthRequests, r.kind))
	}
	return dr, nil
}

// depthRequests per kind of traffic are watched for the deepest stack.
const depthRequests = 500

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
func us(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1000 }

func cpuModel() string {
	data, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return runtime.GOARCH
	}
	for _, line := range strings.Split(string(data), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return fmt.Sprintf("%s, %d cores", strings.TrimSpace(v), runtime.NumCPU())
		}
	}
	return runtime.GOARCH
}

// WAMR's operand stack in Envoy, per VM.
const wamrStackBytes = 32 << 10

func (r *Report) writeMarkdown(w io.Writer) {
	fmt.Fprintf(w, "Machine: %s; %s; %s\n\n", r.CPU, r.GoVersion, r.Date)
	fmt.Fprintln(w, "| plugin | runtime | instantiate + _initialize | configure | request | p50 | p99 | mean |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|")
	for _, p := range r.Plugins {
		for _, rr := range p.Runtimes {
			for i, t := range rr.Traffic {
				init, cfg := "", ""
				if i == 0 {
					init, cfg = fmt.Sprintf("%.0f ms", rr.InitMillis), fmt.Sprintf("%.0f ms", rr.ConfigMs)
				}
				fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s | %s |\n", p.Name, rr.Runtime, init, cfg, t.Kind,
					fmtUs(t.P50us), fmtUs(t.P99us), fmtUs(t.MeanUs))
			}
		}
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| plugin | .wasm size | serves with older hosts' failing poll_oneoff | imports older Envoys lack | linear memory start → after N requests (max) |")
	fmt.Fprintln(w, "|---|---|---|---|---|")
	for _, p := range r.Plugins {
		s := p.Memory.Samples
		peak := uint64(0)
		for _, m := range s {
			peak = max(peak, m.Bytes)
		}
		lack := "none"
		if len(p.ImportsLack) > 0 {
			lack = strings.Join(p.ImportsLack, ", ")
		}
		fmt.Fprintf(w, "| %s | %.1f MiB | %v | %s | %.1f → %.1f MiB after %d (max %.1f MiB) |\n", p.Name, mib(uint64(p.WasmBytes)), p.OlderEnvoy, lack,
			mib(s[0].Bytes), mib(s[len(s)-1].Bytes), p.Memory.Requests, mib(peak))
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "| plugin | phase | max call depth | estimated WAMR stack bytes (of %d) | deepest frames (innermost last) |\n", wamrStackBytes)
	fmt.Fprintln(w, "|---|---|---|---|---|")
	for _, p := range r.Plugins {
		for _, ph := range p.Depth.Phases {
			frames := ph.DeepestFrames
			if len(frames) > 4 {
				frames = append([]string{"…"}, frames[len(frames)-4:]...)
			}
			fmt.Fprintf(w, "| %s | %s | %d | %d | %s |\n", p.Name, ph.Phase, ph.MaxDepth, ph.MaxBytes, strings.Join(frames, " → "))
		}
	}
	for _, p := range r.Plugins {
		for _, n := range p.Notes {
			fmt.Fprintf(w, "\nNote (%s): %s\n", p.Name, n)
		}
	}
}

func fmtUs(v float64) string {
	if v >= 1000 {
		return fmt.Sprintf("%.2f ms", v/1000)
	}
	return fmt.Sprintf("%.0f µs", v)
}

func mib(b uint64) float64 { return float64(b) / (1 << 20) }

// printProfile runs configure and requests of each kind (after warm-up) in the interpreter with the guest profiler and prints the
// functions with the most self time.
func printProfile(w io.Writer, path string, config []byte, rows int) error {
	wasm, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	ctx := context.Background()
	vm, _, err := startVM(ctx, wasm, config, wasmhost.Options{Interpreter: true, Profile: true})
	if err != nil {
		return err
	}
	print := func(title string, requests int) {
		prof := vm.Profile()
		var calls int64
		var self time.Duration
		for _, f := range prof {
			calls += f.Calls
			self += f.Self
		}
		n := int64(requests)
		fmt.Fprintf(w, "\n## %s: %d calls, %.1f ms self time (with the profiler's overhead)\n\n", title, calls/n, ms(self)/float64(n))
		fmt.Fprintln(w, "| function | calls | self ms | % | with callees ms |\n|---|---|---|---|---|")
		for i := 0; i < rows && i < len(prof); i++ {
			f := prof[i]
			fmt.Fprintf(w, "| %s | %d | %.3f | %.1f | %.3f |\n", f.Name, f.Calls/n, ms(f.Self)/float64(n), 100*float64(f.Self)/float64(self), ms(f.Total)/float64(n))
		}
		vm.ResetProfile()
	}
	print("start-up and configure", 1)
	const warmup, profiled = 300, 100
	for _, r := range traffic() {
		for i := 0; i < warmup; i++ {
			if _, err := do(vm, r); err != nil {
				return err
			}
		}
		vm.ResetProfile()
		for i := 0; i < profiled; i++ {
			if _, err := do(vm, r); err != nil {
				return err
			}
		}
		print(fmt.Sprintf("%s (per request, mean of %d after %d)", r.kind, profiled, warmup), profiled)
	}
	return nil
}
