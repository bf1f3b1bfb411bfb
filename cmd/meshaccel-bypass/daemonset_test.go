package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/meshaccel/meshaccel/bypass"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

const daemonSetTemplate = "../../deploy/helm/meshaccel/templates/bypass-daemonset.yaml"

// findHelm returns helm from PATH or the project's tool cache (make puts .cache/bin on PATH).
func findHelm(t *testing.T) string {
	t.Helper()
	if helm, err := exec.LookPath("helm"); err == nil {
		return helm
	}
	helm, err := filepath.Abs("../../.cache/bin/helm")
	if err == nil {
		_, err = os.Stat(helm)
	}
	if err != nil {
		t.Skip("skipped: helm is not installed")
	}
	return helm
}

// helmTemplate renders the DaemonSet template in a chart of its own (so that it is tested apart
// from the rest of the chart) with the given --set values.
func helmTemplate(t *testing.T, sets ...string) (string, error) {
	t.Helper()
	helm := findHelm(t)
	chart := t.TempDir()
	tmpl, err := os.ReadFile(daemonSetTemplate)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(chart, "templates"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(chart, "templates", "bypass-daemonset.yaml"), tmpl, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(chart, "Chart.yaml"), []byte("apiVersion: v2\nname: meshaccel\nversion: 0.3.0\nappVersion: \"0.3.0\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{"template", "mesh", chart, "--namespace", "meshaccel-system"}
	for _, s := range sets {
		args = append(args, "--set", s)
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(helm, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stderr.String(), err
	}
	return stdout.String(), nil
}

// renderDaemonSet renders, decodes strictly into a DaemonSet and checks that the agent accepts
// the arguments the template gives it.
func renderDaemonSet(t *testing.T, sets ...string) (*appsv1.DaemonSet, options) {
	t.Helper()
	out, err := helmTemplate(t, append([]string{"bypass.enabled=true"}, sets...)...)
	if err != nil {
		t.Fatalf("helm template: %v\n%s", err, out)
	}
	var ds appsv1.DaemonSet
	body := out[strings.Index(out, "apiVersion:"):]
	if err := yaml.UnmarshalStrict([]byte(body), &ds); err != nil {
		t.Fatalf("the rendered DaemonSet does not decode: %v\n%s", err, out)
	}
	if len(ds.Spec.Template.Spec.Containers) != 1 {
		t.Fatalf("want one container, got %d", len(ds.Spec.Template.Spec.Containers))
	}
	o, err := parseFlags(ds.Spec.Template.Spec.Containers[0].Args)
	if err != nil {
		t.Fatalf("the agent rejects the rendered arguments %q: %v", ds.Spec.Template.Spec.Containers[0].Args, err)
	}
	return &ds, o
}

func TestDaemonSetDefaults(t *testing.T) {
	ds, o := renderDaemonSet(t)
	spec := ds.Spec.Template.Spec
	c := spec.Containers[0]
	if ds.Kind != "DaemonSet" || ds.Namespace != "meshaccel-system" || ds.Name != "mesh-bypass" {
		t.Errorf("rendered %s %s/%s", ds.Kind, ds.Namespace, ds.Name)
	}
	if spec.HostNetwork {
		t.Error("the agent does not need the host network")
	}
	if c.SecurityContext == nil || c.SecurityContext.Privileged != nil && *c.SecurityContext.Privileged {
		t.Error("by default the agent runs with capabilities, not privileged")
	}
	caps := c.SecurityContext.Capabilities
	for _, want := range []corev1.Capability{"BPF", "NET_ADMIN", "SYS_ADMIN"} {
		if caps == nil || !slices.Contains(caps.Add, want) {
			t.Errorf("capability %s is not added", want)
		}
	}
	if o.cfg.CgroupPath != "/host/sys/fs/cgroup" || o.cfg.PinPath != bypass.DefaultPinPath || o.cfg.MountBPFFS {
		t.Errorf("agent config %+v", o.cfg)
	}
	if !slices.Equal(o.cfg.Paths, bypass.DefaultPaths) || o.cfg.OutboundCapturePort != 15001 || o.cfg.InboundCapturePort != 15006 {
		t.Errorf("paths %v, ports %d/%d", o.cfg.Paths, o.cfg.OutboundCapturePort, o.cfg.InboundCapturePort)
	}
	if len(c.Ports) != 1 || c.Ports[0].ContainerPort != 9477 || o.metricsAddr != ":9477" {
		t.Errorf("metrics port %v, agent address %q", c.Ports, o.metricsAddr)
	}
	mounts := map[string]corev1.VolumeMount{}
	for _, m := range c.VolumeMounts {
		mounts[m.Name] = m
	}
	hostPaths := map[string]string{}
	for _, v := range spec.Volumes {
		if v.HostPath != nil {
			hostPaths[v.Name] = v.HostPath.Path
		}
	}
	if hostPaths["bpffs"] != "/sys/fs/bpf" || mounts["bpffs"].MountPath != "/sys/fs/bpf" {
		t.Errorf("bpffs: host %q mounted at %q", hostPaths["bpffs"], mounts["bpffs"].MountPath)
	}
	if hostPaths["cgroup"] != "/sys/fs/cgroup" || !strings.HasPrefix(o.cfg.CgroupPath, mounts["cgroup"].MountPath) {
		t.Errorf("cgroup: host %q mounted at %q, agent attaches to %q", hostPaths["cgroup"], mounts["cgroup"].MountPath, o.cfg.CgroupPath)
	}
	if u := ds.Spec.UpdateStrategy.RollingUpdate; u == nil || u.MaxSurge == nil || u.MaxSurge.IntValue() != 1 {
		t.Errorf("update strategy %+v: the new agent should start before the old one stops", ds.Spec.UpdateStrategy)
	}
}

func TestDaemonSetValues(t *testing.T) {
	ds, o := renderDaemonSet(t,
		"bypass.mountBPFFS=true",
		"bypass.cgroupPath=/sys/fs/cgroup/unified",
		"bypass.paths={outbound,proxy_to_proxy}",
		"bypass.inboundPort=16006",
		"bypass.metricsPort=9900",
		"bypass.image.repository=registry.example/bypass",
		"bypass.image.tag=v9",
	)
	c := ds.Spec.Template.Spec.Containers[0]
	if !o.cfg.MountBPFFS || c.SecurityContext.Privileged == nil || !*c.SecurityContext.Privileged {
		t.Error("mountBPFFS needs the flag and a privileged container")
	}
	for _, m := range c.VolumeMounts {
		if m.Name == "bpffs" && (m.MountPropagation == nil || *m.MountPropagation != corev1.MountPropagationBidirectional) {
			t.Error("mountBPFFS needs bidirectional propagation so the mount outlives the pod")
		}
	}
	if o.cfg.CgroupPath != "/host/sys/fs/cgroup/unified" {
		t.Errorf("cgroup %q", o.cfg.CgroupPath)
	}
	if !slices.Equal(o.cfg.Paths, []bypass.Path{bypass.PathOutbound, bypass.PathProxyToProxy}) || o.cfg.InboundCapturePort != 16006 {
		t.Errorf("paths %v, inbound port %d", o.cfg.Paths, o.cfg.InboundCapturePort)
	}
	if o.metricsAddr != ":9900" || c.Ports[0].ContainerPort != 9900 {
		t.Errorf("metrics %q, port %d", o.metricsAddr, c.Ports[0].ContainerPort)
	}
	if c.Image != "registry.example/bypass:v9" {
		t.Errorf("image %q", c.Image)
	}
}

func TestDaemonSetGatedAndChecked(t *testing.T) {
	out, err := helmTemplate(t)
	if err != nil {
		t.Fatalf("helm template: %v\n%s", err, out)
	}
	if strings.Contains(out, "DaemonSet") {
		t.Errorf("rendered without bypass.enabled:\n%s", out)
	}
	out, err = helmTemplate(t, "bypass.enabled=true", "bypass.cgroupPath=/var/run/cgroup")
	if err == nil || !strings.Contains(out, `bypass.cgroupPath "/var/run/cgroup"`) {
		t.Errorf("a cgroup path outside /sys/fs/cgroup rendered (%v):\n%s", err, out)
	}
}

// TestDaemonSetInTheChart renders the whole meshaccel chart with the bypass on.
func TestDaemonSetInTheChart(t *testing.T) {
	chart := "../../deploy/helm/meshaccel"
	if _, err := os.Stat(filepath.Join(chart, "Chart.yaml")); err != nil {
		t.Skipf("skipped: the chart has no Chart.yaml yet (%v)", err)
	}
	out, err := exec.Command(findHelm(t), "template", "mesh", chart, "--namespace", "meshaccel-system", "--set", "bypass.enabled=true").CombinedOutput()
	if err != nil {
		t.Fatalf("helm template: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "# Source: meshaccel/templates/bypass-daemonset.yaml\napiVersion: apps/v1\nkind: DaemonSet") {
		t.Errorf("the chart does not render the bypass DaemonSet:\n%s", out)
	}
}
