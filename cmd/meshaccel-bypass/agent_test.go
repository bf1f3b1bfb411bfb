package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/meshaccel/meshaccel/bypass"
	"github.com/meshaccel/meshaccel/bypass/bypasstest"
)

// syncLog collects an in-process agent's log.
type syncLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *syncLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *syncLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// wait returns the first submatch of re once the log has a match.
func (l *syncLog) wait(t *testing.T, re *regexp.Regexp, done <-chan error) string {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		if m := re.FindStringSubmatch(l.String()); m != nil {
			return m[len(m)-1]
		}
		select {
		case err := <-done:
			t.Fatalf("the agent exited (%v) before logging %s:\n%s", err, re, l)
		case <-deadline:
			t.Fatalf("the agent did not log %s:\n%s", re, l)
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// startInProcess runs the agent in this process with the given kernel; stop cancels it and
// returns its error.
func startInProcess(t *testing.T, k kernel, args ...string) (log *syncLog, metrics string, stop func() error) {
	t.Helper()
	log = &syncLog{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- runWith(ctx, args, slog.New(slog.NewTextHandler(log, nil)), k) }()
	metrics = log.wait(t, metricsAddrLog, done)
	stopped := false
	stop = func() error {
		if stopped {
			return nil
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(10 * time.Second):
			t.Fatalf("the agent did not stop:\n%s", log)
			return nil
		}
	}
	t.Cleanup(func() { stop() })
	return log, metrics, stop
}

func mustNotLoad(t *testing.T) func(bypass.Config) (*bypass.Bypass, error) {
	return func(bypass.Config) (*bypass.Bypass, error) {
		t.Error("the agent tried to attach on a node that cannot run the bypass")
		return nil, errors.New("must not load")
	}
}

// TestProbeOnlyOnRefusingKernelFakeProbe: this machine's kernel runs the bypass, so a refusing
// kernel is played by the probe. The agent stays up, says why, never attaches even though the
// operator lists the node, and still publishes the cgroup v2 label.
func TestProbeOnlyOnRefusingKernelFakeProbe(t *testing.T) {
	cgroup, err := bypass.Cgroup2Mount()
	if err != nil {
		t.Skipf("skipped: the refusal must come from the kernel probe, and this host has no cgroup v2: %v", err)
	}
	dir := t.TempDir()
	nodes, features := filepath.Join(dir, "nodes"), filepath.Join(dir, bypass.FeatureFileName)
	if err := os.WriteFile(nodes, []byte("node-a\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	refusal := fmt.Errorf("%w: it lacks SK_MSG programs", bypass.ErrUnsupportedKernel)
	log, metrics, stop := startInProcess(t, kernel{probe: func() error { return refusal }, load: mustNotLoad(t)},
		"-cgroup", cgroup, "-metrics-addr", "127.0.0.1:0", "-node-name", "node-a",
		"-enabled-nodes-file", nodes, "-poll-interval", "10ms", "-nfd-features-file", features)

	if health := get(t, "http://"+metrics+"/healthz"); !strings.HasPrefix(health, "ok: probe-only: ") || !strings.Contains(health, "it lacks SK_MSG programs") {
		t.Errorf("/healthz = %q: want ok (so the DaemonSet does not restart it) with the reason", health)
	}
	body := get(t, "http://"+metrics+"/metrics")
	for _, want := range []string{"meshaccel_bypass_supported 0", "meshaccel_bypass_attached 0", "meshaccel_bypass_scrape_errors_total 0"} {
		if !strings.Contains(body, want+"\n") {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if strings.Contains(body, "meshaccel_bypass_paired_connections_total") {
		t.Error("/metrics exports counters of a bypass that is not attached")
	}
	log.wait(t, regexp.MustCompile(`level=WARN msg="probe-only mode: the bypass cannot run on this node; the agent stays up without attaching" reason="kernel cannot run the TCP/IP bypass: it lacks SK_MSG programs"`), nil)
	log.wait(t, regexp.MustCompile(`level=WARN msg="the bypass is enabled for this node, but the node cannot run it" state="node node-a is listed in `), nil)
	if got, _ := os.ReadFile(features); !bytes.Equal(got, bypass.FeatureFile(true)) {
		t.Errorf("feature file %q: the cgroup v2 label does not depend on the kernel", got)
	}
	if err := stop(); err != nil {
		t.Errorf("probe-only agent stopped with %v:\n%s", err, log)
	}
}

// TestProbeOnlyWithoutCgroup2FakeProbe: a -cgroup that is no cgroup v2 (a plain directory here)
// publishes cgroup-v2=false and keeps the agent in probe-only mode, also without the enabled
// nodes file (always-attached mode).
func TestProbeOnlyWithoutCgroup2FakeProbe(t *testing.T) {
	dir := t.TempDir()
	features := filepath.Join(dir, bypass.FeatureFileName)
	if _, err := bypass.WriteFeatureFile(features, true); err != nil { // an earlier boot's result
		t.Fatal(err)
	}
	log, metrics, stop := startInProcess(t, kernel{probe: func() error { return nil }, load: mustNotLoad(t)},
		"-cgroup", dir, "-metrics-addr", "127.0.0.1:0", "-nfd-features-file", features)
	if health := get(t, "http://"+metrics+"/healthz"); !strings.Contains(health, "probe-only: cgroup \""+dir+"\" is not a cgroup v2 filesystem") {
		t.Errorf("/healthz = %q", health)
	}
	if got, _ := os.ReadFile(features); !bytes.Equal(got, bypass.FeatureFile(false)) {
		t.Errorf("feature file %q, want cgroup-v2=false", got)
	}
	if !strings.Contains(get(t, "http://"+metrics+"/metrics"), "meshaccel_bypass_supported 0\n") {
		t.Error("meshaccel_bypass_supported is not 0")
	}
	if err := stop(); err != nil {
		t.Errorf("stopped with %v:\n%s", err, log)
	}
	if !strings.Contains(log.String(), `msg="published the node's cgroup v2 support for NFD" file=`+features+` label=meshaccel.feature.node.kubernetes.io/cgroup-v2 value=false rewritten=true`) {
		t.Errorf("the log does not say what was published:\n%s", log)
	}
}

// TestMissingPrivilegesFailFakeProbe: a probe that fails for another reason than the kernel (the
// loader lacks CAP_BPF) is a deployment error: the agent exits instead of hiding in probe-only.
func TestMissingPrivilegesFailFakeProbe(t *testing.T) {
	denied := fmt.Errorf("probe SOCK_OPS programs: %w (the loader needs CAP_BPF, CAP_NET_ADMIN and CAP_SYS_ADMIN)", syscall.EPERM)
	err := runWith(context.Background(), []string{"-cgroup", t.TempDir(), "-metrics-addr", ""},
		slog.New(slog.DiscardHandler), kernel{probe: func() error { return denied }, load: mustNotLoad(t)})
	if !errors.Is(err, syscall.EPERM) {
		t.Errorf("runWith = %v, want the permission error", err)
	}
}

func TestRemoveDeletesTheFeatureFile(t *testing.T) {
	dir := t.TempDir()
	features := filepath.Join(dir, bypass.FeatureFileName)
	if _, err := bypass.WriteFeatureFile(features, true); err != nil {
		t.Fatal(err)
	}
	err := runWith(context.Background(), []string{"-remove", "-pin-path", filepath.Join(dir, "bpf", "meshaccel"), "-nfd-features-file", features},
		slog.New(slog.DiscardHandler), kernel{probe: bypass.Probe, load: mustNotLoad(t)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(features); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("after -remove the feature file remains (%v)", err)
	}
}

// writeNodes replaces the enabled nodes file at once, as the kubelet swaps a ConfigMap volume.
func writeNodes(t *testing.T, path, content string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// waitAttached waits until the bypass is attached to the cgroup and returns its kernel objects.
func waitAttached(t *testing.T, a *agentProcess, cgroup, pin string) ([]ebpf.ProgramID, []ebpf.MapID) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		progs, maps, err := bypasstest.AttachedObjects(cgroup)
		if _, pinErr := os.Stat(filepath.Join(pin, "cgroup_link")); err == nil && pinErr == nil {
			return progs, maps
		}
		if time.Now().After(deadline) {
			t.Fatalf("the bypass was not attached: %v\n%s", err, a.log)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitDetached waits until nothing of the bypass is attached, pinned or loaded.
func waitDetached(t *testing.T, a *agentProcess, cgroup, pin string, progs []ebpf.ProgramID, maps []ebpf.MapID) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		attached, err := bypasstest.AttachedSockOps(cgroup)
		if err != nil {
			t.Fatal(err)
		}
		_, pinErr := os.Stat(pin)
		if len(attached) == 0 && errors.Is(pinErr, os.ErrNotExist) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not detached: the cgroup carries %v, pin directory %v\n%s", attached, pinErr, a.log)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := bypasstest.WaitGone(progs, maps, 10*time.Second); err != nil {
		t.Fatalf("%v\n%s", err, a.log)
	}
}

// TestAgentFollowsEnabledNodes: the agent attaches while the operator lists its node and detaches
// completely (nothing attached, pinned or loaded) when the node leaves the list or the list goes
// away, and again.
func TestAgentFollowsEnabledNodes(t *testing.T) {
	requireBPF(t)
	cgroup, pin := testEnv(t)
	dir := t.TempDir()
	nodes := filepath.Join(dir, "nodes")
	features := filepath.Join(dir, "features.d", bypass.FeatureFileName)
	if err := os.Mkdir(filepath.Dir(features), 0o755); err != nil {
		t.Fatal(err)
	}
	a := startAgent(t, fmt.Sprintf("-cgroup %s -pin-path %s -mount-bpffs -metrics-addr 127.0.0.1:0 -node-name node-a -enabled-nodes-file %s -poll-interval 20ms -nfd-features-file %s",
		cgroup, pin, nodes, features))
	metrics := "http://" + a.metrics + "/metrics"

	// No list yet: detached from the start, and the node's cgroup v2 is published.
	if health := get(t, "http://"+a.metrics+"/healthz"); !strings.Contains(health, "ok: detached: "+nodes+" does not exist") {
		t.Errorf("/healthz = %q", health)
	}
	if attached, _ := bypasstest.AttachedSockOps(cgroup); len(attached) != 0 {
		t.Errorf("attached %v without being listed", attached)
	}
	if got, _ := os.ReadFile(features); !bytes.Equal(got, bypass.FeatureFile(true)) {
		t.Errorf("feature file %q", got)
	}

	for _, unlist := range []func(){
		func() { writeNodes(t, nodes, "node-0\nnode-ab\n") },
		func() { os.Remove(nodes) },
	} {
		writeNodes(t, nodes, "node-0\nnode-a\n")
		progs, maps := waitAttached(t, a, cgroup, pin)
		if body := get(t, metrics); !strings.Contains(body, "meshaccel_bypass_attached 1\n") || !strings.Contains(body, `meshaccel_bypass_paired_connections_total{path="outbound"} 0`) {
			t.Errorf("attached, but /metrics says:\n%s", body)
		}
		unlist()
		waitDetached(t, a, cgroup, pin, progs, maps)
		if body := get(t, metrics); !strings.Contains(body, "meshaccel_bypass_attached 0\n") || strings.Contains(body, "meshaccel_bypass_paired_connections_total") {
			t.Errorf("detached, but /metrics says:\n%s", body)
		}
	}
	a.stop(t)
	for _, want := range []string{
		`msg="bypass attached" state="node node-a is listed in ` + nodes + `"`,
		`msg="bypass detached; paired connections keep their fast path until they close" state="node node-a is not listed in ` + nodes + `"`,
		`msg="bypass detached; paired connections keep their fast path until they close" state="` + nodes + ` does not exist: no policy enables the bypass on any node"`,
	} {
		if !strings.Contains(a.log.String(), want) {
			t.Errorf("the log lacks %s:\n%s", want, a.log)
		}
	}
}

// TestAgentRemovesLeftoverWhenNotEnabled: a bypass that an agent left attached for its successor
// (-keep-attached) is removed by the successor when the node is no longer enabled; with the node
// still listed the successor adopts it.
func TestAgentRemovesLeftoverWhenNotEnabled(t *testing.T) {
	requireBPF(t)
	cgroup, pin := testEnv(t)
	nodes := filepath.Join(t.TempDir(), "nodes")
	writeNodes(t, nodes, "node-a\n")
	args := fmt.Sprintf("-cgroup %s -pin-path %s -mount-bpffs -metrics-addr 127.0.0.1:0 -node-name node-a -enabled-nodes-file %s -poll-interval 20ms -keep-attached", cgroup, pin, nodes)
	first := startAgent(t, args)
	firstProgs, maps := waitAttached(t, first, cgroup, pin)
	first.stop(t)

	second := startAgent(t, args)
	secondProgs, adopted := waitAttached(t, second, cgroup, pin)
	if !slices.Equal(sharedMaps(t, adopted), sharedMaps(t, maps)) {
		t.Errorf("the successor loaded maps %v instead of adopting %v", adopted, maps)
	}
	second.stop(t)

	writeNodes(t, nodes, "node-b\n")
	third := startAgent(t, args)
	waitDetached(t, third, cgroup, pin, append(firstProgs, secondProgs...), append(maps, adopted...))
	third.stop(t)
	if !strings.Contains(third.log.String(), `msg="removed the bypass an earlier agent left attached; paired connections keep their fast path until they close" state="node node-a is not listed in `) {
		t.Errorf("the log does not say the leftover was removed:\n%s", third.log)
	}
}

// sharedMaps leaves out the read-only data map that each load of the programs has of its own.
func sharedMaps(t *testing.T, ids []ebpf.MapID) []ebpf.MapID {
	t.Helper()
	var shared []ebpf.MapID
	for _, id := range ids {
		m, err := ebpf.NewMapFromID(id)
		if err != nil {
			t.Fatal(err)
		}
		info, err := m.Info()
		m.Close()
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasSuffix(info.Name, ".rodata") {
			shared = append(shared, id)
		}
	}
	slices.Sort(shared)
	return shared
}
