package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/meshaccel/meshaccel/bypass"
	"golang.org/x/sys/unix"
)

// The agent runs as this test binary re-executed, so that it gets real signals.
const agentEnv = "MESHACCEL_BYPASS_AGENT"

func TestMain(m *testing.M) {
	if os.Getenv(agentEnv) != "" {
		os.Args = append([]string{"meshaccel-bypass"}, strings.Fields(os.Getenv(agentEnv))...)
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestParseFlags(t *testing.T) {
	o, err := parseFlags([]string{"-cgroup", "/sys/fs/cgroup/kubepods.slice", "-paths", "outbound, proxy_to_proxy", "-inbound-port", "16006"})
	if err != nil {
		t.Fatal(err)
	}
	if o.cfg.CgroupPath != "/sys/fs/cgroup/kubepods.slice" || o.cfg.InboundCapturePort != 16006 ||
		len(o.cfg.Paths) != 2 || o.cfg.Paths[0] != bypass.PathOutbound || o.cfg.Paths[1] != bypass.PathProxyToProxy {
		t.Errorf("parsed %+v", o.cfg)
	}
	for args, want := range map[string]string{
		"-paths sideways":                `-paths: unknown bypass path "sideways"`,
		"-paths ,":                       "-paths is empty",
		"-outbound-port 70000":           "-outbound-port 70000 is not a TCP port",
		"-inbound-port 0":                "-inbound-port 0 is not a TCP port",
		"-inbound-source-ipv4 127.0.0.x": `-inbound-source-ipv4 "127.0.0.x"`,
		"extra":                          "unexpected arguments",
		"-poll-interval 0s":              "-poll-interval 0s is not positive",
		"-enabled-nodes-file /n":         "set -node-name or NODE_NAME",
		"-enabled-nodes-file /n -node-name $(NODE_NAME)": `-node-name "$(NODE_NAME)" is not a node name`,
		"-cgroup kubepods": `CgroupPath "kubepods" is not absolute`,
	} {
		_, err := parseFlags(strings.Fields(args))
		if err == nil || !errors.Is(err, errUsage) || !strings.Contains(err.Error(), want) {
			t.Errorf("parseFlags(%s) = %v, want a usage error containing %q", args, err, want)
		}
	}
}

func TestParseFlagsNodeName(t *testing.T) {
	t.Setenv("NODE_NAME", "ip-10-0-1-7.ec2.internal")
	o, err := parseFlags([]string{"-enabled-nodes-file", "/etc/meshaccel/bypass/nodes"})
	if err != nil || o.nodeName != "ip-10-0-1-7.ec2.internal" || o.pollInterval != 10*time.Second {
		t.Errorf("node name %q, poll interval %s (%v): want NODE_NAME and 10s", o.nodeName, o.pollInterval, err)
	}
	if o, err = parseFlags([]string{"-enabled-nodes-file", "/n", "-node-name", "node-a"}); err != nil || o.nodeName != "node-a" {
		t.Errorf("-node-name: %q, %v", o.nodeName, err)
	}
	// Without the enabled nodes file the agent needs no node name: it stays always attached.
	t.Setenv("NODE_NAME", "")
	if o, err = parseFlags(nil); err != nil || o.enabledNodesFile != "" {
		t.Errorf("defaults: %+v, %v", o, err)
	}
}

func TestHelpDescribesTheModes(t *testing.T) {
	var out strings.Builder
	_, err := parseFlagsTo(&out, []string{"-h"})
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("-h: %v", err)
	}
	for _, want := range []string{"probe-only mode", "-enabled-nodes-file", "-poll-interval", "-node-name",
		"meshaccel-bypass-nodes", bypass.CgroupV2Label, bypass.NFDFeaturesDir, "Linux 5.10", "SIGTERM"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("--help does not mention %q", want)
		}
	}
}

func requireBPF(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("skipped: the agent needs root (CAP_BPF, CAP_NET_ADMIN, CAP_SYS_ADMIN)")
	}
	if _, err := bypass.Cgroup2Mount(); err != nil {
		t.Skipf("skipped: %v", err)
	}
	if err := bypass.Probe(); err != nil {
		t.Skipf("skipped: %v", err)
	}
}

// testEnv gives the agent a cgroup and a bpf filesystem of the test's own.
func testEnv(t *testing.T) (cgroup, pin string) {
	t.Helper()
	mount, err := bypass.Cgroup2Mount()
	if err != nil {
		t.Skipf("skipped: %v", err)
	}
	cgroup = filepath.Join(mount, fmt.Sprintf("meshaccel-agent-test-%d", os.Getpid()))
	if err := os.Mkdir(cgroup, 0o755); err != nil {
		t.Skipf("skipped: cannot create a cgroup v2: %v", err)
	}
	t.Cleanup(func() { os.Remove(cgroup) })
	root := t.TempDir()
	t.Cleanup(func() {
		var st unix.Statfs_t
		if unix.Statfs(root, &st) == nil && st.Type == unix.BPF_FS_MAGIC {
			unix.Unmount(root, 0)
		}
	})
	return cgroup, filepath.Join(root, "meshaccel")
}

type agentProcess struct {
	cmd     *exec.Cmd
	metrics string
	log     *syncLog
}

var metricsAddrLog = regexp.MustCompile(`msg="serving metrics" addr=(\S+)`)

func startAgent(t *testing.T, args string) *agentProcess {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), agentEnv+"="+args)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	a := &agentProcess{cmd: cmd, log: &syncLog{}}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	lines := bufio.NewScanner(stderr)
	for lines.Scan() {
		fmt.Fprintln(a.log, lines.Text())
		if m := metricsAddrLog.FindStringSubmatch(lines.Text()); m != nil {
			a.metrics = m[1]
			break
		}
	}
	if a.metrics == "" {
		t.Fatalf("the agent did not start serving metrics:\n%s", a.log)
	}
	go func() {
		for lines.Scan() {
			fmt.Fprintln(a.log, lines.Text())
		}
	}()
	return a
}

func (a *agentProcess) stop(t *testing.T) {
	t.Helper()
	if err := a.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- a.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("agent exited with %v:\n%s", err, a.log)
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("agent did not stop on SIGTERM:\n%s", a.log)
	}
}

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s\n%s", url, resp.Status, body)
	}
	return string(body)
}

func TestAgentDetachesOnSIGTERM(t *testing.T) {
	requireBPF(t)
	cgroup, pin := testEnv(t)
	a := startAgent(t, fmt.Sprintf("-cgroup %s -pin-path %s -mount-bpffs -metrics-addr 127.0.0.1:0", cgroup, pin))
	if body := get(t, "http://"+a.metrics+"/healthz"); strings.TrimSpace(body) != "ok" {
		t.Errorf("/healthz: %q", body)
	}
	metrics := get(t, "http://"+a.metrics+"/metrics")
	for _, want := range []string{
		`meshaccel_bypass_paired_connections_total{path="outbound"} 0`,
		`meshaccel_bypass_redirected_bytes_total{path="proxy_to_proxy"} 0`,
		`meshaccel_bypass_passthrough_bytes_total 0`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if _, err := os.Stat(filepath.Join(pin, "cgroup_link")); err != nil {
		t.Fatalf("the agent did not pin its cgroup link: %v", err)
	}
	a.stop(t)
	if _, err := os.Stat(pin); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("after SIGTERM the pin directory remains (%v):\n%s", err, a.log)
	}
}

func TestAgentKeepAttachedThenRemove(t *testing.T) {
	requireBPF(t)
	cgroup, pin := testEnv(t)
	a := startAgent(t, fmt.Sprintf("-cgroup %s -pin-path %s -mount-bpffs -metrics-addr 127.0.0.1:0 -keep-attached", cgroup, pin))
	a.stop(t)
	if _, err := os.Stat(filepath.Join(pin, "cgroup_link")); err != nil {
		t.Fatalf("-keep-attached: the cgroup link is gone after exit: %v\n%s", err, a.log)
	}
	remove := exec.Command(os.Args[0], "-test.run=^$")
	remove.Env = append(os.Environ(), agentEnv+"=-remove -pin-path "+pin)
	if out, err := remove.CombinedOutput(); err != nil {
		t.Fatalf("-remove: %v\n%s", err, out)
	}
	if _, err := os.Stat(pin); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("after -remove the pin directory remains (%v)", err)
	}
}
