package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
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
	c := ds.Spec.Template.Spec.Containers[0]
	t.Setenv("NODE_NAME", "") // the agent must get its node name from the pod, not from this test
	args := kubeletArgs(t, c, testNodeName)
	o, err := parseFlags(args)
	if err != nil {
		t.Fatalf("the agent rejects the rendered arguments %q: %v", args, err)
	}
	return &ds, o
}

const testNodeName = "ip-10-0-1-7.ec2.internal"

var envReference = regexp.MustCompile(`\$\(([A-Za-z_][A-Za-z0-9_]*)\)`)

// kubeletArgs expands $(VAR) references in the container's arguments as the kubelet does, from
// the container's env: literal values, and the downward API's spec.nodeName for a pod on node.
// A reference to a variable that is not defined stays as written, as with the kubelet.
func kubeletArgs(t *testing.T, c corev1.Container, node string) []string {
	t.Helper()
	env := map[string]string{}
	for _, e := range c.Env {
		switch {
		case e.ValueFrom == nil:
			env[e.Name] = e.Value
		case e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "spec.nodeName":
			env[e.Name] = node
		default:
			t.Fatalf("env %s: the test does not know how to resolve %+v", e.Name, e.ValueFrom)
		}
	}
	args := make([]string, len(c.Args))
	for i, a := range c.Args {
		args[i] = envReference.ReplaceAllStringFunc(a, func(ref string) string {
			if v, ok := env[ref[2:len(ref)-1]]; ok {
				return v
			}
			return ref
		})
	}
	return args
}

// hostPathOf maps a path inside the agent's container to the volume that holds it: the volume
// and the path relative to the volume's root.
func hostPathOf(t *testing.T, spec corev1.PodSpec, path string) (corev1.Volume, corev1.VolumeMount, string) {
	t.Helper()
	for _, m := range spec.Containers[0].VolumeMounts {
		rel, err := filepath.Rel(m.MountPath, path)
		if err != nil || strings.HasPrefix(rel, "..") {
			continue
		}
		for _, v := range spec.Volumes {
			if v.Name == m.Name {
				return v, m, rel
			}
		}
		t.Fatalf("mount %s has no volume", m.Name)
	}
	t.Fatalf("no volume holds %s", path)
	return corev1.Volume{}, corev1.VolumeMount{}, ""
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

// TestDaemonSetEnabledNodesFromPolicy: by default the agent runs on every Linux node, reads the
// operator's node list from the ConfigMap volume and publishes cgroup v2 into NFD's directory on
// the host.
func TestDaemonSetEnabledNodesFromPolicy(t *testing.T) {
	ds, o := renderDaemonSet(t)
	spec := ds.Spec.Template.Spec
	if len(spec.NodeSelector) != 1 || spec.NodeSelector["kubernetes.io/os"] != "linux" {
		t.Errorf("node selector %v, want every Linux node", spec.NodeSelector)
	}
	if o.nodeName != testNodeName {
		t.Errorf("the agent's node name is %q on node %q: NODE_NAME must come from spec.nodeName", o.nodeName, testNodeName)
	}
	if o.enabledNodesFile == "" {
		t.Fatal("the agent does not read the enabled nodes")
	}
	v, m, key := hostPathOf(t, spec, o.enabledNodesFile)
	if v.ConfigMap == nil || v.ConfigMap.Name != "meshaccel-bypass-nodes" || key != "nodes" {
		t.Errorf("the agent reads %s: key %q of volume %+v; want key nodes of the ConfigMap meshaccel-bypass-nodes", o.enabledNodesFile, key, v)
	} else if v.ConfigMap.Optional == nil || !*v.ConfigMap.Optional || len(v.ConfigMap.Items) != 0 {
		t.Errorf("ConfigMap volume %+v: it must be optional (no policy asks for the bypass yet)", v.ConfigMap)
	}
	if m.SubPath != "" || !m.ReadOnly {
		t.Errorf("mount %+v: a subPath mount never sees updates; the list is read-only", m)
	}

	v, m, name := hostPathOf(t, spec, o.nfdFeaturesFile)
	if v.HostPath == nil || v.HostPath.Path != bypass.NFDFeaturesDir || name != bypass.FeatureFileName {
		t.Errorf("the feature file %s is %q in volume %+v, want %s/%s on the host", o.nfdFeaturesFile, name, v, bypass.NFDFeaturesDir, bypass.FeatureFileName)
	} else if v.HostPath.Type == nil || *v.HostPath.Type != corev1.HostPathDirectoryOrCreate || m.ReadOnly {
		t.Errorf("NFD directory: type %v, read-only %v; the agent must be able to create and write it", v.HostPath.Type, m.ReadOnly)
	}
}

func TestDaemonSetPolicyValues(t *testing.T) {
	ds, o := renderDaemonSet(t,
		"bypass.enabledNodesFromPolicy=false",
		"bypass.nfdFeaturesDir=/var/lib/nfd/features.d/",
		"bypass.nodeSelector.pool=mesh",
	)
	spec := ds.Spec.Template.Spec
	if o.enabledNodesFile != "" {
		t.Errorf("enabledNodesFromPolicy=false: the agent still reads %s", o.enabledNodesFile)
	}
	for _, v := range spec.Volumes {
		if v.ConfigMap != nil {
			t.Errorf("enabledNodesFromPolicy=false still mounts %+v", v)
		}
	}
	if v, _, _ := hostPathOf(t, spec, o.nfdFeaturesFile); v.HostPath == nil || v.HostPath.Path != "/var/lib/nfd/features.d" {
		t.Errorf("feature file %s in %+v", o.nfdFeaturesFile, v)
	}
	if spec.NodeSelector["pool"] != "mesh" {
		t.Errorf("node selector %v", spec.NodeSelector)
	}

	ds, o = renderDaemonSet(t, "bypass.nfdFeaturesDir=")
	if o.nfdFeaturesFile != "" || o.enabledNodesFile == "" {
		t.Errorf(`nfdFeaturesDir="": feature file %q, enabled nodes %q; want none and the default`, o.nfdFeaturesFile, o.enabledNodesFile)
	}
	for _, v := range ds.Spec.Template.Spec.Volumes {
		if v.Name == "nfd-features" {
			t.Errorf(`nfdFeaturesDir="" still mounts %+v`, v)
		}
	}
	for _, dir := range []string{"features.d", "/"} {
		out, err := helmTemplate(t, "bypass.enabled=true", "bypass.nfdFeaturesDir="+dir)
		if err == nil || !strings.Contains(out, fmt.Sprintf("bypass.nfdFeaturesDir %q: must be an absolute directory", dir)) {
			t.Errorf("nfdFeaturesDir=%s rendered (%v):\n%s", dir, err, out)
		}
	}
}
