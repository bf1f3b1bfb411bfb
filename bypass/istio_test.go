package bypass_test

import (
	"fmt"
	"os/exec"
	"strings"
	"testing"

	"github.com/meshaccel/meshaccel/bypass"
	"github.com/meshaccel/meshaccel/bypass/bypasstest"
)

// The two pods of TestIstioPods, on a veth pair between their network namespaces.
const (
	clientPodIP = "10.77.0.1"
	serverPodIP = "10.77.0.2"
)

func requireTools(t *testing.T, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("skipped: %s is not installed (make test installs it)", tool)
		}
	}
}

// inNetns runs a command in the network namespace of process pid.
func inNetns(t *testing.T, pid int, args ...string) {
	t.Helper()
	cmd := exec.Command("nsenter", append([]string{"-t", fmt.Sprint(pid), "-n", "--"}, args...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("in netns of %d: %s: %v\n%s", pid, strings.Join(args, " "), err, out)
	}
}

// TestIstioPods runs two meshed pods on one node the way Istio wires them: iptables REDIRECTs
// the client app's connection to its sidecar (outbound), that sidecar dials the server pod over
// the pod network and the server pod's iptables REDIRECTs it to its sidecar (proxy to proxy),
// which dials the app from 127.0.0.6 (inbound). The original destination survives both
// redirects (SO_ORIGINAL_DST), and every hop must be paired.
func TestIstioPods(t *testing.T) {
	requireBPF(t)
	requireTools(t, "ip", "iptables", "nsenter")
	cgroupPath, cgroup := testCgroup(t)
	b := loadBypass(t, bypass.Config{CgroupPath: cgroupPath, PinPath: testPinPath(t)})

	sizes := mixedSizes(40, 99)
	server := startHelper(t, "pod-server", helperOptions{cgroup: cgroup, netns: true}, nil)
	client := startHelper(t, "pod-client", helperOptions{cgroup: cgroup, netns: true}, podClientArgs{
		Target:   fmt.Sprintf("%s:%d", serverPodIP, appPort),
		Workload: workload{Sizes: sizes, Parallel: 8, Seed: 3},
	})
	serverPid, clientPid := server.cmd.Process.Pid, client.cmd.Process.Pid

	inNetns(t, clientPid, "ip", "link", "add", "eth0", "type", "veth", "peer", "name", "eth0", "netns", fmt.Sprint(serverPid))
	for pid, ip := range map[int]string{clientPid: clientPodIP, serverPid: serverPodIP} {
		inNetns(t, pid, "ip", "link", "set", "lo", "up")
		inNetns(t, pid, "ip", "addr", "add", ip+"/24", "dev", "eth0")
		inNetns(t, pid, "ip", "link", "set", "eth0", "up")
	}
	// The client pod: the sidecar's own connections (marked) and loopback go out as they are,
	// everything else the app sends goes to the sidecar's outbound capture port.
	inNetns(t, clientPid, "iptables", "-t", "nat", "-A", "OUTPUT", "-p", "tcp", "-m", "mark", "--mark", fmt.Sprint(proxyMark), "-j", "RETURN")
	inNetns(t, clientPid, "iptables", "-t", "nat", "-A", "OUTPUT", "-p", "tcp", "-d", "127.0.0.0/8", "-j", "RETURN")
	inNetns(t, clientPid, "iptables", "-t", "nat", "-A", "OUTPUT", "-p", "tcp", "-j", "REDIRECT", "--to-ports", fmt.Sprint(outboundPort))
	// The server pod: every inbound connection goes to the sidecar's inbound capture port.
	inNetns(t, serverPid, "iptables", "-t", "nat", "-A", "PREROUTING", "-p", "tcp", "-j", "REDIRECT", "--to-ports", fmt.Sprint(inboundPort))

	server.send("go")
	server.receive(nil)
	client.send("go")
	var clientTraffic, serverTraffic bypasstest.Snapshot
	client.receive(&clientTraffic)
	server.send("stop")
	server.receive(&serverTraffic)

	c, err := b.Counters()
	if err != nil {
		t.Fatal(err)
	}
	traffic := bypasstest.Snapshot{
		AppBytes: clientTraffic.AppBytes + serverTraffic.AppBytes,
		TCPBytes: clientTraffic.TCPBytes + serverTraffic.TCPBytes,
	}
	t.Logf("counters: %+v; traffic: %+v", c, traffic)
	for _, p := range []bypass.Path{bypass.PathOutbound, bypass.PathProxyToProxy, bypass.PathInbound} {
		if got := c.Paths[p].Connections; got != uint64(len(sizes)) {
			t.Errorf("%s: %d connections paired, want %d", p, got, len(sizes))
		}
		if c.Paths[p].Bytes == 0 {
			t.Errorf("%s: nothing redirected", p)
		}
	}
	checkAccounting(t, c, traffic)
}
