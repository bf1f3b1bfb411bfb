package bypass_test

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/meshaccel/meshaccel/bypass"
	"github.com/meshaccel/meshaccel/bypass/bypasstest"
)

// TestUnmatchedTrafficPasses: connections with one end outside the cgroup keep the normal stack
// and lose nothing, and sockets outside the cgroup are never touched.
func TestUnmatchedTrafficPasses(t *testing.T) {
	requireBPF(t)
	cgroupPath, cgroup := testCgroup(t)
	b := loadBypass(t, bypass.Config{CgroupPath: cgroupPath, PinPath: testPinPath(t)})
	sizes := mixedSizes(24, 5)
	for i := range sizes {
		sizes[i]++ // every client sends, so its first acknowledged send releases it
	}

	// This test process is outside the cgroup: its own loopback connections are not seen.
	outsideTraffic := &bypasstest.Traffic{}
	l, err := bypasstest.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	outside := &bypasstest.EchoServer{Listener: l, Traffic: outsideTraffic}
	go outside.Serve()
	w := workload{Sizes: sizes, Parallel: 8, Seed: 11}
	if err := w.run(dialer(l.Addr().(*net.TCPAddr).AddrPort(), outsideTraffic)); err != nil {
		t.Fatal(err)
	}
	if c, err := b.Counters(); err != nil || c != (bypass.Counters{}) {
		t.Fatalf("connections outside the cgroup changed the counters: %+v (%v)", c, err)
	}

	// A client in the cgroup, its server outside: the client joins the table, finds no peer and
	// leaves on its first acknowledged send.
	var dialTraffic bypasstest.Snapshot
	startHelper(t, "dial", helperOptions{cgroup: cgroup}, dialArgs{Target: l.Addr().String(), Workload: w}).receive(&dialTraffic)
	c, err := b.Counters()
	if err != nil {
		t.Fatal(err)
	}
	if c.Released != uint64(len(sizes)) {
		t.Errorf("%d client sockets released, want %d", c.Released, len(sizes))
	}
	if c.PassthroughBytes == 0 || c.PassthroughBytes > dialTraffic.AppBytes {
		t.Errorf("passed %d bytes for clients that wrote %d", c.PassthroughBytes, dialTraffic.AppBytes)
	}
	if dialTraffic.TCPBytes != dialTraffic.AppBytes {
		t.Errorf("clients received %d bytes through TCP, want all %d echoed bytes", dialTraffic.TCPBytes, dialTraffic.AppBytes)
	}

	// A server in the cgroup, its clients outside: the server never joins the table.
	echo := startHelper(t, "echo", helperOptions{cgroup: cgroup}, nil)
	var addr listening
	echo.receive(&addr)
	target, err := netip.ParseAddrPort(addr.Addr)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.run(dialer(target, nil)); err != nil {
		t.Fatal(err)
	}
	echo.send("stop")
	echo.receive(nil)
	after, err := b.Counters()
	if err != nil {
		t.Fatal(err)
	}
	if after.Unmatched != uint64(len(sizes)) {
		t.Errorf("%d server sockets unmatched, want %d", after.Unmatched, len(sizes))
	}
	if after.Sub(c).PassthroughBytes != 0 {
		t.Errorf("server sockets outside the table passed %d bytes through the bypass", after.Sub(c).PassthroughBytes)
	}
	if _, redirected := after.Redirected(); redirected != 0 || after.TableFull != 0 {
		t.Errorf("unmatched traffic was redirected (%d bytes) or hit full tables (%d)", redirected, after.TableFull)
	}
	if err := outside.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestPathsConfig: with the inbound path left out, an application that reads with splice(2) gets
// every byte, while the sidecar hops stay bypassed.
func TestPathsConfig(t *testing.T) {
	requireBPF(t)
	cgroupPath, cgroup := testCgroup(t)
	b := loadBypass(t, bypass.Config{
		CgroupPath: cgroupPath,
		PinPath:    testPinPath(t),
		Paths:      []bypass.Path{bypass.PathOutbound, bypass.PathProxyToProxy},
	})
	sizes := mixedSizes(20, 8)
	for i := range sizes {
		sizes[i]++
	}
	var traffic bypasstest.Snapshot
	startHelper(t, "chain", helperOptions{cgroup: cgroup, netns: true}, chainArgs{
		Workload:     workload{Sizes: sizes, Parallel: 8, Seed: 1},
		SpliceServer: true,
	}).receive(&traffic)
	c, err := b.Counters()
	if err != nil {
		t.Fatal(err)
	}
	n := uint64(len(sizes))
	if c.Paths[bypass.PathOutbound].Connections != n || c.Paths[bypass.PathProxyToProxy].Connections != n {
		t.Errorf("outbound %d, proxy to proxy %d connections paired, want %d each",
			c.Paths[bypass.PathOutbound].Connections, c.Paths[bypass.PathProxyToProxy].Connections, n)
	}
	if c.Paths[bypass.PathInbound].Connections != 0 {
		t.Errorf("inbound: %d connections paired with the path off", c.Paths[bypass.PathInbound].Connections)
	}
	if c.Unmatched != n || c.Released != n {
		t.Errorf("inbound hop: %d servers unmatched and %d clients released, want %d each", c.Unmatched, c.Released, n)
	}
}

// TestDetachLeavesNothing: after Close and once the connections it paired are gone, no program,
// map, attachment or pin of the bypass remains.
func TestDetachLeavesNothing(t *testing.T) {
	requireBPF(t)
	cgroupPath, cgroup := testCgroup(t)
	pin := testPinPath(t)
	b := loadBypass(t, bypass.Config{CgroupPath: cgroupPath, PinPath: pin})
	progs, maps, err := b.ObjectIDs()
	if err != nil {
		t.Fatal(err)
	}
	if got := attachedSockOps(t, cgroupPath); len(got) != 1 || got[0] != progs[0] {
		t.Fatalf("cgroup carries sock_ops programs %v, want [%v]", got, progs[0])
	}
	// Tests of the agent process find the same objects from the kernel alone.
	foundProgs, foundMaps, err := bypasstest.AttachedObjects(cgroupPath)
	if err != nil {
		t.Fatal(err)
	}
	if !sameIDs(foundProgs, progs) || !containsIDs(foundMaps, maps) {
		t.Errorf("found programs %v and maps %v from the cgroup, loaded %v and %v", foundProgs, foundMaps, progs, maps)
	}
	for _, id := range foundMaps {
		if !slices.Contains(maps, id) {
			// The programs' constants (.rodata) live in a map of their own that ObjectIDs omits.
			m, err := ebpf.NewMapFromID(id)
			if err != nil {
				t.Fatal(err)
			}
			info, err := m.Info()
			m.Close()
			if err != nil || !strings.HasSuffix(info.Name, ".rodata") {
				t.Errorf("found map %d (%v, %v) that the bypass did not load", id, info, err)
			}
			maps = append(maps, id)
		}
	}
	var traffic bypasstest.Snapshot
	startHelper(t, "chain", helperOptions{cgroup: cgroup, netns: true}, chainArgs{
		Workload: workload{Sizes: mixedSizes(16, 2), Parallel: 8, Seed: 2},
	}).receive(&traffic)

	if err := b.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if got := attachedSockOps(t, cgroupPath); len(got) != 0 {
		t.Errorf("cgroup still carries sock_ops programs %v", got)
	}
	if _, err := os.Stat(pin); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("pin directory %s still exists (%v)", pin, err)
	}
	waitGone(t, progs, maps)
}

// TestUpgradeKeepsConnections: a second instance adopts the pinned state and swaps the program
// in place; the first one then lets go without detaching; connections opened under the first
// keep working, and keep their fast path even after the last instance detaches.
func TestUpgradeKeepsConnections(t *testing.T) {
	requireBPF(t)
	cgroupPath, cgroup := testCgroup(t)
	cfg := bypass.Config{CgroupPath: cgroupPath, PinPath: testPinPath(t)}
	old := loadBypass(t, cfg)
	oldProgs, oldMaps, err := old.ObjectIDs()
	if err != nil {
		t.Fatal(err)
	}
	const conns = 8
	session := startHelper(t, "session", helperOptions{cgroup: cgroup, netns: true}, sessionArgs{Conns: conns})
	session.receive(nil)
	round := func(seed int) {
		t.Helper()
		session.send(fmt.Sprintf("round %d", seed))
		session.receive(nil)
	}
	round(1)

	upgraded := loadBypass(t, cfg)
	newProgs, newMaps, err := upgraded.ObjectIDs()
	if err != nil {
		t.Fatal(err)
	}
	if got := attachedSockOps(t, cgroupPath); len(got) != 1 || got[0] != newProgs[0] {
		t.Fatalf("after the upgrade the cgroup carries %v, want the new program %v", got, newProgs[0])
	}
	for i := range oldMaps {
		if oldMaps[i] != newMaps[i] {
			t.Fatalf("the upgrade created map %v instead of adopting %v", newMaps[i], oldMaps[i])
		}
	}
	before, _ := upgraded.Counters()
	round(2)
	if err := old.Close(); err != nil {
		t.Fatalf("closing the superseded instance: %v", err)
	}
	if got := attachedSockOps(t, cgroupPath); len(got) != 1 || got[0] != newProgs[0] {
		t.Fatalf("closing the superseded instance left %v attached, want %v", got, newProgs[0])
	}
	round(3)
	var fresh bypasstest.Snapshot
	startHelper(t, "chain", helperOptions{cgroup: cgroup, netns: true}, chainArgs{
		Workload: workload{Sizes: mixedSizes(8, 4), Parallel: 8, Seed: 4},
	}).receive(&fresh)
	during, err := upgraded.Counters()
	if err != nil {
		t.Fatal(err)
	}
	if d := during.Sub(before); d.Paths[bypass.PathOutbound].Bytes == 0 || d.Paths[bypass.PathOutbound].Connections != 8 {
		t.Errorf("under the new instance: %+v; want the old connections redirected and 8 new ones paired", d.Paths[bypass.PathOutbound])
	}

	// Keep a handle on the counters to watch the old connections after the last detach.
	counters, err := ebpf.NewMapFromID(newMaps[len(newMaps)-1]) // ObjectIDs lists the counters last
	if err != nil {
		t.Fatal(err)
	}
	defer counters.Close()
	if err := upgraded.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if got := attachedSockOps(t, cgroupPath); len(got) != 0 {
		t.Fatalf("after the last Close the cgroup carries %v", got)
	}
	detached := readCountersMap(t, counters)
	round(4)
	var session4 bypasstest.Snapshot
	session.send("quit")
	session.receive(&session4)
	final := readCountersMap(t, counters)
	if d := final.Sub(detached); d.Paths[bypass.PathOutbound].Bytes == 0 {
		t.Errorf("connections paired before the detach stopped being redirected: %+v", d)
	}
	checkAccounting(t, final, bypasstest.Snapshot{
		AppBytes: session4.AppBytes + fresh.AppBytes,
		TCPBytes: session4.TCPBytes + fresh.TCPBytes,
	})
	counters.Close()
	waitGone(t, append(oldProgs, newProgs...), newMaps)
}

// TestRestartAdoptsPinnedState: Release leaves the bypass attached with its state; the next
// instance takes it over, counters included.
func TestRestartAdoptsPinnedState(t *testing.T) {
	requireBPF(t)
	cgroupPath, cgroup := testCgroup(t)
	cfg := bypass.Config{CgroupPath: cgroupPath, PinPath: testPinPath(t)}
	first := loadBypass(t, cfg)
	firstProgs, _, err := first.ObjectIDs()
	if err != nil {
		t.Fatal(err)
	}
	startHelper(t, "chain", helperOptions{cgroup: cgroup, netns: true}, chainArgs{
		Workload: workload{Sizes: mixedSizes(4, 6), Parallel: 4, Seed: 6},
	}).receive(nil)
	counted, err := first.Counters()
	if err != nil {
		t.Fatal(err)
	}
	if err := first.Release(); err != nil {
		t.Fatal(err)
	}
	if got := attachedSockOps(t, cgroupPath); len(got) != 1 || got[0] != firstProgs[0] {
		t.Fatalf("after Release the cgroup carries %v, want %v", got, firstProgs[0])
	}
	if _, err := os.Stat(filepath.Join(cfg.PinPath, "bypass_sockets")); err != nil {
		t.Fatalf("after Release: %v", err)
	}
	second := loadBypass(t, cfg)
	adopted, err := second.Counters()
	if err != nil {
		t.Fatal(err)
	}
	if adopted != counted {
		t.Errorf("the restarted instance reads %+v, the first one counted %+v", adopted, counted)
	}
	secondProgs, secondMaps, _ := second.ObjectIDs()
	if err := second.Close(); err != nil {
		t.Fatal(err)
	}
	waitGone(t, append(firstProgs, secondProgs...), secondMaps)
}

func TestLoadRefusesWhatCannotWork(t *testing.T) {
	requireBPF(t)
	_, err := bypass.Load(bypass.Config{CgroupPath: t.TempDir(), PinPath: testPinPath(t), MountBPFFS: true})
	if err == nil || !strings.Contains(err.Error(), "not on a cgroup v2 filesystem") {
		t.Errorf("Load on a plain directory: %v", err)
	}
	cgroupPath, _ := testCgroup(t)
	plain := filepath.Join(t.TempDir(), "meshaccel")
	_, err = bypass.Load(bypass.Config{CgroupPath: cgroupPath, PinPath: plain})
	if err == nil || !strings.Contains(err.Error(), "mount -t bpf") {
		t.Errorf("Load with a pin path outside bpffs: %v", err)
	}
}

func attachedSockOps(t *testing.T, cgroupPath string) []ebpf.ProgramID {
	t.Helper()
	ids, err := bypasstest.AttachedSockOps(cgroupPath)
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

// waitGone waits until the kernel has freed the programs and maps.
func waitGone(t *testing.T, progs []ebpf.ProgramID, maps []ebpf.MapID) {
	t.Helper()
	if err := bypasstest.WaitGone(progs, maps, 15*time.Second); err != nil {
		t.Fatal(err)
	}
}

func readCountersMap(t *testing.T, m *ebpf.Map) bypass.Counters {
	t.Helper()
	c, err := bypass.ReadCounters(m)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func sameIDs[ID ebpf.ProgramID | ebpf.MapID](a, b []ID) bool {
	return len(a) == len(b) && containsIDs(a, b)
}

func containsIDs[ID ebpf.ProgramID | ebpf.MapID](all, some []ID) bool {
	return !slices.ContainsFunc(some, func(id ID) bool { return !slices.Contains(all, id) })
}
