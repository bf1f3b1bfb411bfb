// Command meshaccel-bypass is the node agent of the eBPF TCP/IP bypass: it probes the node,
// publishes whether it has a cgroup v2 as a node label through NFD, attaches the bypass to a
// cgroup v2 (the node's pods) always or only while the operator lists the node, serves its
// counters as Prometheus metrics and detaches on SIGTERM. Paired connections keep their fast path
// until they close. See usage for the modes.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/meshaccel/meshaccel/bypass"
	"k8s.io/apimachinery/pkg/util/validation"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if err := run(ctx, os.Args[1:], log); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return
		}
		log.Error("meshaccel-bypass failed", "err", err)
		if errors.Is(err, errUsage) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

var errUsage = errors.New("usage")

const usage = `Usage: meshaccel-bypass [flags]

The node agent of the meshaccel eBPF TCP/IP bypass: it short-circuits the kernel TCP/IP stack
between the sockets of one node that an Istio sidecar data path connects.

At start the agent probes the node: the kernel's BPF facilities (Linux %[1]s or later) and the
cgroup v2 at -cgroup (on a hybrid host, at its unified/ subdirectory). With -nfd-features-file it
then publishes the cgroup result as the node label

    %[2]s=true|false

through Node Feature Discovery's local feature files (on the host in
%[3]s); the operator reads it, with the node's kernel
version, to decide where the bypass can run.

A node that cannot run the bypass keeps the agent in probe-only mode: it logs why, reports it on
/healthz and as meshaccel_bypass_supported 0, and never attaches, so the DaemonSet does not
crash-loop on such nodes.

Without -enabled-nodes-file the bypass is attached for as long as the agent runs. With it, the
file lists the nodes where the bypass must be active, one name per line (the operator renders it
into the ConfigMap meshaccel-bypass-nodes, key nodes). Every -poll-interval the agent attaches when
-node-name is listed, and detaches when it is not, the file is absent or cannot be read.

SIGTERM detaches (or, with -keep-attached, leaves the bypass pinned for the next agent, which
adopts it without a gap). -remove detaches a bypass left on the node and removes the feature file.

Flags:
`

type options struct {
	cfg              bypass.Config
	metricsAddr      string
	keepAttached     bool
	remove           bool
	probe            bool
	nodeName         string
	enabledNodesFile string
	pollInterval     time.Duration
	nfdFeaturesFile  string
}

func parseFlags(args []string) (options, error) { return parseFlagsTo(os.Stderr, args) }

// parseFlagsTo parses args, writing usage and flag errors to output.
func parseFlagsTo(output io.Writer, args []string) (options, error) {
	var o options
	fs := flag.NewFlagSet("meshaccel-bypass", flag.ContinueOnError)
	fs.SetOutput(output)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), usage, bypass.MinKernel, bypass.CgroupV2Label, bypass.NFDFeaturesDir)
		fs.PrintDefaults()
	}
	fs.StringVar(&o.cfg.CgroupPath, "cgroup", "", "cgroup v2 directory to attach to: the node's pods, e.g. /host/sys/fs/cgroup/kubepods.slice; on a hybrid host a cgroup v1 root whose unified/ is the v2 hierarchy works too (default: the cgroup v2 mount the agent sees)")
	fs.StringVar(&o.cfg.PinPath, "pin-path", bypass.DefaultPinPath, "bpffs directory for the pinned maps and cgroup link")
	fs.BoolVar(&o.cfg.MountBPFFS, "mount-bpffs", false, "mount a bpf filesystem on the pin path's parent when none is mounted")
	fs.StringVar(&o.metricsAddr, "metrics-addr", ":9477", "address of the /metrics and /healthz endpoint (empty: none)")
	outbound := fs.Uint("outbound-port", bypass.DefaultOutboundCapturePort, "the sidecar's outbound capture port (Istio 15001)")
	inbound := fs.Uint("inbound-port", bypass.DefaultInboundCapturePort, "the sidecar's inbound capture port (Istio 15006)")
	sourceV4 := fs.String("inbound-source-ipv4", bypass.DefaultInboundSourceIPv4.String(), "address the sidecar dials its app from (Istio InboundPassthroughBindIpv4)")
	sourceV6 := fs.String("inbound-source-ipv6", bypass.DefaultInboundSourceIPv6.String(), "IPv6 address the sidecar dials its app from (Istio InboundPassthroughBindIpv6)")
	paths := fs.String("paths", joinPaths(bypass.DefaultPaths), "comma-separated paths to accelerate: outbound, inbound, proxy_to_proxy, local (leave inbound out on nodes whose apps read sockets with splice(2))")
	fs.BoolVar(&o.keepAttached, "keep-attached", false, "on exit, leave the bypass attached and pinned for the next agent instead of detaching")
	fs.BoolVar(&o.remove, "remove", false, "detach and unpin a bypass left on the node (by a killed agent or an incompatible version), remove the -nfd-features-file, then exit")
	fs.BoolVar(&o.probe, "probe", false, "check that the kernel can run the bypass, then exit")
	fs.StringVar(&o.nodeName, "node-name", os.Getenv("NODE_NAME"), "this node's name, as listed in -enabled-nodes-file (default: $NODE_NAME)")
	fs.StringVar(&o.enabledNodesFile, "enabled-nodes-file", "", "file listing the nodes where the bypass must be active, one per line, such as the mounted key nodes of the ConfigMap meshaccel-bypass-nodes; absent file: no node (default: none, always attached)")
	fs.DurationVar(&o.pollInterval, "poll-interval", 10*time.Second, "how often to re-read -enabled-nodes-file")
	fs.StringVar(&o.nfdFeaturesFile, "nfd-features-file", "", "NFD local feature file to publish "+bypass.CgroupV2Label+" in, e.g. "+bypass.NFDFeaturesDir+"/"+bypass.FeatureFileName+" as the host sees it (default: none)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return o, err
		}
		return o, fmt.Errorf("%w: %v", errUsage, err)
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("%w: unexpected arguments %q", errUsage, fs.Args())
	}
	for name, port := range map[string]uint{"-outbound-port": *outbound, "-inbound-port": *inbound} {
		if port == 0 || port > 65535 {
			return o, fmt.Errorf("%w: %s %d is not a TCP port", errUsage, name, port)
		}
	}
	o.cfg.OutboundCapturePort, o.cfg.InboundCapturePort = uint16(*outbound), uint16(*inbound)
	var err error
	if o.cfg.InboundSourceIPv4, err = netip.ParseAddr(*sourceV4); err != nil {
		return o, fmt.Errorf("%w: -inbound-source-ipv4 %q: %v", errUsage, *sourceV4, err)
	}
	if o.cfg.InboundSourceIPv6, err = netip.ParseAddr(*sourceV6); err != nil {
		return o, fmt.Errorf("%w: -inbound-source-ipv6 %q: %v", errUsage, *sourceV6, err)
	}
	o.cfg.Paths = []bypass.Path{}
	for _, name := range strings.Split(*paths, ",") {
		if name = strings.TrimSpace(name); name == "" {
			continue
		}
		p, err := bypass.ParsePath(name)
		if err != nil {
			return o, fmt.Errorf("%w: -paths: %v", errUsage, err)
		}
		o.cfg.Paths = append(o.cfg.Paths, p)
	}
	if len(o.cfg.Paths) == 0 {
		return o, fmt.Errorf("%w: -paths is empty: name at least one path", errUsage)
	}
	if o.pollInterval <= 0 {
		return o, fmt.Errorf("%w: -poll-interval %s is not positive", errUsage, o.pollInterval)
	}
	if o.enabledNodesFile != "" {
		if o.nodeName == "" {
			return o, fmt.Errorf("%w: -enabled-nodes-file needs this node's name: set -node-name or NODE_NAME (the downward API's spec.nodeName)", errUsage)
		}
		if errs := validation.IsDNS1123Subdomain(o.nodeName); len(errs) > 0 {
			return o, fmt.Errorf("%w: -node-name %q is not a node name: %s", errUsage, o.nodeName, strings.Join(errs, "; "))
		}
	}
	// The cgroup is a fact of the node, checked when the agent probes it; every other setting is
	// checked here.
	check := o.cfg
	if check.CgroupPath == "" {
		check.CgroupPath = "/sys/fs/cgroup"
	}
	if err := check.Validate(); err != nil {
		return o, fmt.Errorf("%w: %v", errUsage, err)
	}
	return o, nil
}

func joinPaths(paths []bypass.Path) string {
	names := make([]string, len(paths))
	for i, p := range paths {
		names[i] = p.String()
	}
	return strings.Join(names, ",")
}
