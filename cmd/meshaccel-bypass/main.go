// Command meshaccel-bypass is the node agent of the eBPF TCP/IP bypass: it attaches the bypass to
// a cgroup v2 (the node's pods), serves its counters as Prometheus metrics and detaches on
// SIGTERM. Paired connections keep their fast path until they close.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/meshaccel/meshaccel/bypass"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
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

type options struct {
	cfg          bypass.Config
	metricsAddr  string
	keepAttached bool
	remove       bool
	probe        bool
}

func parseFlags(args []string) (options, error) {
	var o options
	fs := flag.NewFlagSet("meshaccel-bypass", flag.ContinueOnError)
	fs.StringVar(&o.cfg.CgroupPath, "cgroup", "", "cgroup v2 directory to attach to: the node's pods, e.g. /host/sys/fs/cgroup/kubepods.slice (default: the root of the cgroup v2 mount)")
	fs.StringVar(&o.cfg.PinPath, "pin-path", bypass.DefaultPinPath, "bpffs directory for the pinned maps and cgroup link")
	fs.BoolVar(&o.cfg.MountBPFFS, "mount-bpffs", false, "mount a bpf filesystem on the pin path's parent when none is mounted")
	fs.StringVar(&o.metricsAddr, "metrics-addr", ":9477", "address of the /metrics and /healthz endpoint (empty: none)")
	outbound := fs.Uint("outbound-port", bypass.DefaultOutboundCapturePort, "the sidecar's outbound capture port (Istio 15001)")
	inbound := fs.Uint("inbound-port", bypass.DefaultInboundCapturePort, "the sidecar's inbound capture port (Istio 15006)")
	sourceV4 := fs.String("inbound-source-ipv4", bypass.DefaultInboundSourceIPv4.String(), "address the sidecar dials its app from (Istio InboundPassthroughBindIpv4)")
	sourceV6 := fs.String("inbound-source-ipv6", bypass.DefaultInboundSourceIPv6.String(), "IPv6 address the sidecar dials its app from (Istio InboundPassthroughBindIpv6)")
	paths := fs.String("paths", joinPaths(bypass.DefaultPaths), "comma-separated paths to accelerate: outbound, inbound, proxy_to_proxy, local (leave inbound out on nodes whose apps read sockets with splice(2))")
	fs.BoolVar(&o.keepAttached, "keep-attached", false, "on exit, leave the bypass attached and pinned for the next agent instead of detaching")
	fs.BoolVar(&o.remove, "remove", false, "detach and unpin a bypass left on the node (by a killed agent or an incompatible version), then exit")
	fs.BoolVar(&o.probe, "probe", false, "check that the kernel can run the bypass, then exit")
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
	return o, nil
}

func joinPaths(paths []bypass.Path) string {
	names := make([]string, len(paths))
	for i, p := range paths {
		names[i] = p.String()
	}
	return strings.Join(names, ",")
}

func run(ctx context.Context, args []string, log *slog.Logger) error {
	o, err := parseFlags(args)
	if err != nil {
		return err
	}
	switch {
	case o.probe:
		if err := bypass.Probe(); err != nil {
			return err
		}
		log.Info("the kernel can run the bypass")
		return nil
	case o.remove:
		if err := bypass.Remove(o.cfg.PinPath); err != nil {
			return err
		}
		log.Info("bypass removed", "pinPath", o.cfg.PinPath)
		return nil
	}
	if o.cfg.CgroupPath == "" {
		if o.cfg.CgroupPath, err = bypass.Cgroup2Mount(); err != nil {
			return err
		}
	}
	if err := o.cfg.Validate(); err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}

	b, err := bypass.Load(o.cfg)
	if err != nil {
		return err
	}
	log.Info("bypass attached", "cgroup", o.cfg.CgroupPath, "pinPath", b.Config().PinPath,
		"paths", joinPaths(b.Config().Paths), "outboundPort", b.Config().OutboundCapturePort,
		"inboundPort", b.Config().InboundCapturePort)

	var server *http.Server
	serveErr := make(chan error, 1)
	if o.metricsAddr != "" {
		server, err = serveMetrics(o.metricsAddr, b, log, serveErr)
		if err != nil {
			b.Close()
			return err
		}
	}

	select {
	case <-ctx.Done():
		log.Info("stopping")
	case err = <-serveErr:
		log.Error("metrics endpoint failed", "err", err)
	}
	if server != nil {
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		server.Shutdown(shutdown)
		cancel()
	}
	if o.keepAttached {
		log.Info("leaving the bypass attached for the next agent", "pinPath", b.Config().PinPath)
		return errors.Join(err, b.Release())
	}
	if cerr := b.Close(); cerr != nil {
		return errors.Join(err, cerr)
	}
	log.Info("bypass detached; paired connections keep their fast path until they close")
	return err
}

func serveMetrics(addr string, b *bypass.Bypass, log *slog.Logger, serveErr chan<- error) (*http.Server, error) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(bypass.NewCollector(b.Counters), collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		if _, err := b.Counters(); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("-metrics-addr %q: %w", addr, err)
	}
	server := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	log.Info("serving metrics", "addr", l.Addr().String())
	go func() {
		if err := server.Serve(l); !errors.Is(err, http.ErrServerClosed) {
			serveErr <- err
		}
	}()
	return server, nil
}
