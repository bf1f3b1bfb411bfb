package bypass

import (
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func TestNodeSupport(t *testing.T) {
	for _, tc := range []struct {
		kernel string
		v2     bool
		ok     bool
		reason string
	}{
		{"5.10.0-28-amd64", true, true, "at least 5.10"},
		{"5.15.0-1051-azure", true, true, "5.15"},
		{"6.18.44-fc-v669", true, true, "6.18"},
		{"v6.1.0", true, true, "6.1"},
		{"10.0.0", true, true, "10.0"},
		{"5.4.0-1103-aws", true, false, "older than 5.10"},
		{"4.19.112+", true, false, "older than 5.10"},
		{"5.9.16", true, false, "older than 5.10"},
		{"5.15.0", false, false, "cgroup v2"},
		{"", true, false, "not of the form"},
		{"linux", true, false, "not of the form"},
		{"99999999999999999999.1", true, false, "out-of-range"},
	} {
		ok, reason := NodeSupport(tc.kernel, tc.v2)
		if ok != tc.ok || !strings.Contains(reason, tc.reason) {
			t.Errorf("NodeSupport(%q, %v) = %v, %q; want %v and a reason mentioning %q", tc.kernel, tc.v2, ok, reason, tc.ok, tc.reason)
		}
	}
	if _, reason := NodeSupport("5.4.0", true); !strings.Contains(reason, "SK_MSG") {
		t.Errorf("the refusal does not say why 5.10 is needed: %q", reason)
	}
}

func FuzzNodeSupport(f *testing.F) {
	for _, s := range []string{"5.10.0", "4.9", "6.1.0-rc1", "v5.15", "", "5", "5.", ".10", "5.10abc"} {
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, kernel string, v2 bool) {
		ok, reason := NodeSupport(kernel, v2)
		if reason == "" {
			t.Fatal("empty reason")
		}
		if ok && !v2 {
			t.Fatal("supported without cgroup v2")
		}
	})
}

func TestCgroup2MountFrom(t *testing.T) {
	mounts := `tmpfs /sys/fs/cgroup tmpfs rw,relatime,mode=755 0 0
cgroup /sys/fs/cgroup/cpu cgroup rw,relatime,cpu 0 0
cgroup2 /sys/fs/cgroup/uni\040fied cgroup2 rw,relatime 0 0
`
	got, err := cgroup2MountFrom(strings.NewReader(mounts))
	if err != nil || got != "/sys/fs/cgroup/uni fied" {
		t.Errorf("cgroup2MountFrom = %q, %v; want the unescaped hybrid mount", got, err)
	}
	if _, err := cgroup2MountFrom(strings.NewReader("cgroup /sys/fs/cgroup/cpu cgroup rw 0 0\n")); err == nil || !strings.Contains(err.Error(), "no cgroup2") {
		t.Errorf("cgroup v1 only: %v", err)
	}
}

func FuzzUnescapeMountPath(f *testing.F) {
	for _, s := range []string{`/a\040b`, `\`, `\0`, `\777`, `/x\134y`, `\12`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		if got := unescapeMountPath(p); len(got) > len(p) {
			t.Fatalf("unescape grew %q to %q", p, got)
		}
	})
}

func TestConfigValidate(t *testing.T) {
	valid := Config{CgroupPath: "/sys/fs/cgroup/kubepods"}
	if err := valid.Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	for _, tc := range []struct {
		mutate func(*Config)
		want   string
	}{
		{func(c *Config) { c.CgroupPath = "" }, "CgroupPath is empty"},
		{func(c *Config) { c.CgroupPath = "kubepods" }, `CgroupPath "kubepods" is not absolute`},
		{func(c *Config) { c.PinPath = "bpf/meshaccel" }, `PinPath "bpf/meshaccel" is not absolute`},
		{func(c *Config) { c.PinPath = "/meshaccel" }, `PinPath "/meshaccel" must be a directory inside a bpf filesystem`},
		{func(c *Config) { c.InboundCapturePort = 15001 }, "both 15001"},
		{func(c *Config) { c.InboundSourceIPv4 = netip.MustParseAddr("::6") }, "InboundSourceIPv4 ::6 is not an IPv4 address"},
		{func(c *Config) { c.InboundSourceIPv6 = netip.MustParseAddr("127.0.0.6") }, "InboundSourceIPv6 127.0.0.6 is not an IPv6 address"},
		{func(c *Config) { c.InboundSourceIPv6 = netip.MustParseAddr("::ffff:127.0.0.6") }, "is not an IPv6 address"},
		{func(c *Config) { c.Paths = []Path{PathOutbound, 7} }, "Paths has path(7)"},
	} {
		c := valid
		tc.mutate(&c)
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Validate() = %v; want an error containing %q", err, tc.want)
		}
	}
}

func TestPathMaskMatchesTheProgram(t *testing.T) {
	// bpf/bypass.c enables outbound, inbound and proxy to proxy by default, bit (1 << path).
	if got := pathMask(DefaultPaths); got != 0b0111 {
		t.Errorf("default paths mask %04b, want 0111", got)
	}
	if got := pathMask([]Path{PathLocal}); got != 0b1000 {
		t.Errorf("local mask %04b, want 1000", got)
	}
	if n := len(bypassCounters{}.Paired); n != NumPaths {
		t.Errorf("the program counts %d paths, the package knows %d", n, NumPaths)
	}
	spec, err := loadBypass()
	if err != nil {
		t.Fatal(err)
	}
	var mask uint8
	if err := spec.Variables[bypassVarEnabledPaths].Get(&mask); err != nil {
		t.Fatal(err)
	}
	if mask != pathMask(DefaultPaths) {
		t.Errorf("the program's built-in paths %04b differ from DefaultPaths %04b", mask, pathMask(DefaultPaths))
	}
}

func TestParsePath(t *testing.T) {
	for _, p := range Paths {
		got, err := ParsePath(p.String())
		if err != nil || got != p {
			t.Errorf("ParsePath(%q) = %v, %v", p.String(), got, err)
		}
	}
	if _, err := ParsePath("sideways"); err == nil || !strings.Contains(err.Error(), `"sideways"`) {
		t.Errorf("ParsePath(sideways): %v", err)
	}
}

func TestCollector(t *testing.T) {
	counters := Counters{PassthroughBytes: 5, Released: 2}
	counters.Paths[PathProxyToProxy] = PathCounters{Connections: 3, Messages: 7, Bytes: 4096}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(NewCollector(func() (Counters, error) { return counters, nil }))
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	values := map[string]float64{}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			name := f.GetName()
			for _, l := range m.GetLabel() {
				name += "{" + l.GetName() + "=" + l.GetValue() + "}"
			}
			values[name] = m.GetCounter().GetValue()
		}
	}
	for name, want := range map[string]float64{
		"meshaccel_bypass_paired_connections_total{path=proxy_to_proxy}": 3,
		"meshaccel_bypass_redirected_bytes_total{path=proxy_to_proxy}":   4096,
		"meshaccel_bypass_redirected_bytes_total{path=outbound}":         0,
		"meshaccel_bypass_passthrough_bytes_total":                       5,
		"meshaccel_bypass_released_sockets_total":                        2,
		"meshaccel_bypass_scrape_errors_total":                           0,
	} {
		if got, ok := values[name]; !ok || got != want {
			t.Errorf("%s = %v (present %v), want %v", name, got, ok, want)
		}
	}

	failing := NewCollector(func() (Counters, error) { return Counters{}, errors.New("map gone") })
	reg = prometheus.NewPedanticRegistry()
	reg.MustRegister(failing)
	if families, err = reg.Gather(); err != nil {
		t.Fatal(err)
	}
	if len(families) != 1 || families[0].GetName() != "meshaccel_bypass_scrape_errors_total" || families[0].GetMetric()[0].GetCounter().GetValue() != 1 {
		t.Errorf("a failed read should only count a scrape error, got %v", families)
	}

	reg = prometheus.NewPedanticRegistry()
	reg.MustRegister(NewCollector(func() (Counters, error) { return Counters{}, ErrNotAttached }))
	if families, err = reg.Gather(); err != nil {
		t.Fatal(err)
	}
	if len(families) != 1 || families[0].GetMetric()[0].GetCounter().GetValue() != 0 {
		t.Errorf("a detached bypass should export no counters and no scrape error, got %v", families)
	}
}

func TestCountersSub(t *testing.T) {
	var a, b Counters
	a.Paths[PathInbound] = PathCounters{Connections: 5, Messages: 9, Bytes: 100}
	a.PassthroughBytes, a.Unmatched = 10, 4
	b.Paths[PathInbound] = PathCounters{Connections: 2, Messages: 4, Bytes: 40}
	b.PassthroughBytes, b.Unmatched = 3, 1
	d := a.Sub(b)
	if d.Paths[PathInbound] != (PathCounters{3, 5, 60}) || d.PassthroughBytes != 7 || d.Unmatched != 3 {
		t.Errorf("Sub = %+v", d)
	}
	if m, by := a.Redirected(); m != 9 || by != 100 {
		t.Errorf("Redirected = %d, %d", m, by)
	}
}
