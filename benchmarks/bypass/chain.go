// Package bypassbench measures the eBPF TCP/IP bypass on the data path of a sidecar mesh: one
// request crosses client → outbound sidecar → inbound sidecar → server and back, all on loopback,
// with and without the bypass, in the same run.
package bypassbench

import (
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/meshaccel/meshaccel/bypass"
	"github.com/meshaccel/meshaccel/bypass/bypasstest"
	"golang.org/x/sys/unix"
)

// Env is the benchmark's own cgroup (the process moves into it, so that the bypass sees only
// the benchmark's sockets) and bpf filesystem (so that the node's /sys/fs/bpf is not touched).
type Env struct {
	Cgroup  string
	PinPath string

	home    string // the cgroup the process came from
	bpffs   string
	mounted bool
}

// Setup prepares the environment, or says why the kernel or the privileges do not allow it.
func Setup() (*Env, error) {
	if os.Geteuid() != 0 {
		return nil, errors.New("the bypass needs root (CAP_BPF, CAP_NET_ADMIN, CAP_SYS_ADMIN)")
	}
	if err := bypass.Probe(); err != nil {
		return nil, err
	}
	mount, err := bypass.Cgroup2Mount()
	if err != nil {
		return nil, err
	}
	home, err := bypass.CurrentCgroup2()
	if err != nil {
		return nil, err
	}
	e := &Env{home: home, Cgroup: filepath.Join(mount, fmt.Sprintf("meshaccel-bench-%d", os.Getpid()))}
	if err := os.Mkdir(e.Cgroup, 0o755); err != nil {
		return nil, fmt.Errorf("create benchmark cgroup: %w", err)
	}
	if err := joinCgroup(e.Cgroup); err != nil {
		os.Remove(e.Cgroup)
		return nil, err
	}
	if e.bpffs, err = os.MkdirTemp("", "meshaccel-bench-bpffs-"); err != nil {
		e.Close()
		return nil, err
	}
	if err := unix.Mount("bpf", e.bpffs, "bpf", 0, "mode=0700"); err != nil {
		e.Close()
		return nil, fmt.Errorf("mount a bpf filesystem for the benchmark: %w", err)
	}
	e.mounted = true
	e.PinPath = filepath.Join(e.bpffs, "meshaccel")
	return e, nil
}

func joinCgroup(dir string) error {
	// Every thread of the process moves with it: sockets created from now on belong to dir.
	return os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte(strconv.Itoa(os.Getpid())), 0o644)
}

// Close moves the process back and removes what Setup created.
func (e *Env) Close() error {
	var errs []error
	if e.home != "" {
		errs = append(errs, joinCgroup(e.home))
	}
	errs = append(errs, os.Remove(e.Cgroup))
	if e.mounted {
		errs = append(errs, unix.Unmount(e.bpffs, 0))
	}
	if e.bpffs != "" {
		errs = append(errs, os.Remove(e.bpffs))
	}
	return errors.Join(errs...)
}

// Case is one measured configuration.
type Case struct {
	Conns  int
	Size   int
	Bypass bool
}

func (c Case) Name() string {
	mode := "tcp"
	if c.Bypass {
		mode = "bypass"
	}
	return fmt.Sprintf("conns=%d/msg=%s/mode=%s", c.Conns, sizeName(c.Size), mode)
}

func sizeName(n int) string {
	if n%1024 == 0 {
		return fmt.Sprintf("%dKiB", n/1024)
	}
	return strconv.Itoa(n)
}

// Cases are the benchmark's configurations: 1 and 16 connections, 1 KiB and 64 KiB requests,
// each without and with the bypass.
func Cases() []Case {
	var cases []Case
	for _, conns := range []int{1, 16} {
		for _, size := range []int{1 << 10, 64 << 10} {
			for _, on := range []bool{false, true} {
				cases = append(cases, Case{Conns: conns, Size: size, Bypass: on})
			}
		}
	}
	return cases
}

// Run measures b.N request/response round trips of c.Size bytes each way through a fresh
// sidecar chain, spread over c.Conns connections, and reports the latency percentiles and the
// request rate. With c.Bypass the bypass is loaded before the connections open and every hop
// must be paired.
func Run(b *testing.B, env *Env, c Case) {
	ch, err := bypasstest.StartChain(bypasstest.ChainConfig{})
	if err != nil {
		b.Fatal(err)
	}
	defer func() {
		if err := ch.Close(); err != nil {
			b.Error(err)
		}
	}()
	var bp *bypass.Bypass
	if c.Bypass {
		out, in, _ := ch.Ports()
		bp, err = bypass.Load(bypass.Config{
			CgroupPath:          env.Cgroup,
			PinPath:             env.PinPath,
			OutboundCapturePort: out,
			InboundCapturePort:  in,
		})
		if err != nil {
			b.Fatal(err)
		}
		defer bp.Close()
	}

	conns := make([]*bypasstest.Conn, c.Conns)
	for i := range conns {
		tc, err := bypasstest.Dial(ch.Entry, netip.Addr{}, 0)
		if err != nil {
			b.Fatal(err)
		}
		conns[i] = bypasstest.Account(tc, nil)
	}
	defer func() {
		for _, conn := range conns {
			conn.CloseWrite()
			io.Copy(io.Discard, conn)
			conn.Close()
		}
	}()
	// One round trip each opens every hop behind the sidecars before anything is checked or timed.
	for _, conn := range conns {
		if _, err := pingPong(conn, c.Size, 1, nil); err != nil {
			b.Fatal(err)
		}
	}
	if bp != nil {
		counters, err := bp.Counters()
		if err != nil {
			b.Fatal(err)
		}
		for _, p := range []bypass.Path{bypass.PathOutbound, bypass.PathProxyToProxy, bypass.PathInbound} {
			if got := counters.Paths[p].Connections; got != uint64(c.Conns) {
				b.Fatalf("%s: %d of %d connections paired", p, got, c.Conns)
			}
		}
	}

	latencies := make([][]time.Duration, len(conns))
	share := func(i int) int { return b.N/len(conns) + boolInt(i < b.N%len(conns)) }
	for i := range conns {
		latencies[i] = make([]time.Duration, 0, share(i))
	}
	b.SetBytes(int64(c.Size))
	b.ResetTimer()
	cpuStart := processCPU()
	start := time.Now()
	var wg sync.WaitGroup
	errs := make([]error, len(conns))
	for i, conn := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			latencies[i], errs[i] = pingPong(conn, c.Size, share(i), latencies[i])
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	cpu := processCPU() - cpuStart
	b.StopTimer()
	if err := errors.Join(errs...); err != nil {
		b.Fatal(err)
	}
	all := slices.Concat(latencies...)
	slices.Sort(all)
	b.ReportMetric(float64(percentile(all, 0.50).Nanoseconds())/1e3, "p50-µs")
	b.ReportMetric(float64(percentile(all, 0.99).Nanoseconds())/1e3, "p99-µs")
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "req/s")
	// The whole chain runs in this process, so its CPU time is the chain's cost per request;
	// unlike wall time it does not count the time other work on the machine takes.
	if cpu > 0 {
		b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/req")
	}
	if bp != nil {
		counters, err := bp.Counters()
		if err != nil {
			b.Fatal(err)
		}
		_, redirected := counters.Redirected()
		if total := redirected + counters.PassthroughBytes; total > 0 {
			b.ReportMetric(100*float64(redirected)/float64(total), "%bypassed")
		}
	}
}

// pingPong sends n requests of size bytes, each after the previous response has fully arrived.
func pingPong(c *bypasstest.Conn, size, n int, latencies []time.Duration) ([]time.Duration, error) {
	req := make([]byte, size)
	for i := range req {
		req[i] = byte(i)
	}
	resp := make([]byte, size)
	for range n {
		t0 := time.Now()
		if _, err := c.Write(req); err != nil {
			return latencies, err
		}
		if _, err := io.ReadFull(c, resp); err != nil {
			return latencies, err
		}
		latencies = append(latencies, time.Since(t0))
	}
	if n > 0 && string(resp) != string(req) {
		return latencies, fmt.Errorf("the response on %s differs from the request", c.LocalAddr())
	}
	return latencies, nil
}

// processCPU is the user and system time of the process so far, loopback packet processing that
// runs in its threads included.
func processCPU() time.Duration {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func percentile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(len(sorted)-1, int(q*float64(len(sorted))))]
}

func boolInt(v bool) int {
	if v {
		return 1
	}
	return 0
}

// Describe names the machine for the results.
func Describe() string {
	data, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	for _, line := range strings.Split(string(data), "\n") {
		if name, ok := strings.CutPrefix(line, "model name"); ok {
			return strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(name), ":"))
		}
	}
	return "unknown CPU"
}
