package bypass_test

import (
	"path/filepath"
	"testing"

	"github.com/cilium/ebpf"

	"github.com/meshaccel/meshaccel/bypass"
	"github.com/meshaccel/meshaccel/bypass/bypasstest"
)

// checkAccounting proves where every byte went: what the applications wrote was either handed to
// the peer socket or counted as passed through, and TCP itself carried exactly the passed bytes.
func checkAccounting(t *testing.T, c bypass.Counters, traffic bypasstest.Snapshot) {
	t.Helper()
	_, redirected := c.Redirected()
	if redirected+c.PassthroughBytes != traffic.AppBytes {
		t.Errorf("applications wrote %d bytes; the bypass redirected %d and passed %d (sum %d)",
			traffic.AppBytes, redirected, c.PassthroughBytes, redirected+c.PassthroughBytes)
	}
	if traffic.TCPBytes != c.PassthroughBytes {
		t.Errorf("TCP sent %d data bytes, but the bypass passed %d bytes to it", traffic.TCPBytes, c.PassthroughBytes)
	}
}

func TestChainDataIntegrity(t *testing.T) {
	requireBPF(t)
	cgroupPath, cgroup := testCgroup(t)
	sizes := mixedSizes(64, 42)
	args := chainArgs{Workload: workload{Sizes: sizes, Parallel: 16, Seed: 7}}

	// Without the bypass every application byte crosses TCP: the accounting itself is sound.
	var baseline bypasstest.Snapshot
	startHelper(t, "chain", helperOptions{cgroup: cgroup, netns: true}, args).receive(&baseline)
	if baseline.AppBytes == 0 || baseline.TCPBytes != baseline.AppBytes {
		t.Fatalf("without the bypass: applications wrote %d bytes, TCP sent %d", baseline.AppBytes, baseline.TCPBytes)
	}

	b := loadBypass(t, bypass.Config{CgroupPath: cgroupPath, PinPath: testPinPath(t)})
	var traffic bypasstest.Snapshot
	startHelper(t, "chain", helperOptions{cgroup: cgroup, netns: true}, args).receive(&traffic)
	c, err := b.Counters()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("counters: %+v; traffic: %+v", c, traffic)
	if traffic.AppBytes != baseline.AppBytes {
		t.Errorf("applications wrote %d bytes with the bypass, %d without", traffic.AppBytes, baseline.AppBytes)
	}
	for _, p := range []bypass.Path{bypass.PathOutbound, bypass.PathProxyToProxy, bypass.PathInbound} {
		if got := c.Paths[p].Connections; got != uint64(len(sizes)) {
			t.Errorf("%s: %d connections paired, want %d", p, got, len(sizes))
		}
		if c.Paths[p].Bytes == 0 {
			t.Errorf("%s: nothing redirected", p)
		}
	}
	if c.Paths[bypass.PathLocal].Connections != 0 {
		t.Errorf("local: %d connections paired with AccelerateLocal off", c.Paths[bypass.PathLocal].Connections)
	}
	checkAccounting(t, c, traffic)
	if _, redirected := c.Redirected(); redirected < traffic.AppBytes/2 {
		t.Errorf("only %d of %d bytes bypassed TCP", redirected, traffic.AppBytes)
	}
}

// TestChainIPv6 runs the chain over IPv6: ::1, and ::6 as the inbound passthrough source.
func TestChainIPv6(t *testing.T) {
	requireBPF(t)
	requireTools(t, "ip")
	cgroupPath, cgroup := testCgroup(t)
	b := loadBypass(t, bypass.Config{CgroupPath: cgroupPath, PinPath: testPinPath(t)})
	sizes := mixedSizes(24, 17)
	var traffic bypasstest.Snapshot
	startHelper(t, "chain", helperOptions{cgroup: cgroup, netns: true}, chainArgs{
		Workload: workload{Sizes: sizes, Parallel: 8, Seed: 17},
		IPv6:     true,
	}).receive(&traffic)
	c, err := b.Counters()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []bypass.Path{bypass.PathOutbound, bypass.PathProxyToProxy, bypass.PathInbound} {
		if got := c.Paths[p].Connections; got != uint64(len(sizes)) {
			t.Errorf("%s: %d connections paired, want %d", p, got, len(sizes))
		}
	}
	checkAccounting(t, c, traffic)
}

// TestChainManyConnections opens a thousand short connections, 64 at a time, through the chain:
// every hop of every one is paired, and the tables are left empty.
func TestChainManyConnections(t *testing.T) {
	requireBPF(t)
	cgroupPath, cgroup := testCgroup(t)
	pin := testPinPath(t)
	b := loadBypass(t, bypass.Config{CgroupPath: cgroupPath, PinPath: pin})
	sizes := make([]int, 1000)
	for i := range sizes {
		sizes[i] = 1 + (i*7919)%8192
	}
	var traffic bypasstest.Snapshot
	startHelper(t, "chain", helperOptions{cgroup: cgroup, netns: true}, chainArgs{
		Workload: workload{Sizes: sizes, Parallel: 64, Seed: 1000},
	}).receive(&traffic)
	c, err := b.Counters()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []bypass.Path{bypass.PathOutbound, bypass.PathProxyToProxy, bypass.PathInbound} {
		if got := c.Paths[p].Connections; got != uint64(len(sizes)) {
			t.Errorf("%s: %d connections paired, want %d", p, got, len(sizes))
		}
	}
	if c.TableFull != 0 {
		t.Errorf("%d table updates refused", c.TableFull)
	}
	checkAccounting(t, c, traffic)
	// Every socket has closed: no client record or peer link may be left behind.
	for _, name := range []string{"bypass_clients", "bypass_links", "bypass_sockets"} {
		if n := pinnedMapEntries(t, filepath.Join(pin, name)); n != 0 {
			t.Errorf("%s keeps %d entries after every connection closed", name, n)
		}
	}
}

func pinnedMapEntries(t *testing.T, path string) int {
	t.Helper()
	m, err := ebpf.LoadPinnedMap(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	var n int
	var key []byte
	it := m.Iterate()
	for it.Next(&key, nil) {
		n++
	}
	if err := it.Err(); err != nil {
		t.Fatalf("iterate %s: %v", path, err)
	}
	return n
}
