package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/meshaccel/meshaccel/bypass"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/sys/unix"
)

func run(ctx context.Context, args []string, log *slog.Logger) error {
	return runWith(ctx, args, log, kernel{probe: bypass.Probe, load: bypass.Load})
}

// kernel is what the agent asks of the kernel; tests replace the probe to play a kernel that
// refuses the bypass.
type kernel struct {
	probe func() error
	load  func(bypass.Config) (*bypass.Bypass, error)
}

func runWith(ctx context.Context, args []string, log *slog.Logger, k kernel) error {
	o, err := parseFlags(args)
	if err != nil {
		return err
	}
	switch {
	case o.probe:
		if err := k.probe(); err != nil {
			return err
		}
		log.Info("the kernel can run the bypass", "kernel", kernelRelease())
		return nil
	case o.remove:
		if err := bypass.Remove(o.cfg.PinPath); err != nil {
			return err
		}
		log.Info("bypass removed", "pinPath", o.cfg.PinPath)
		if o.nfdFeaturesFile != "" {
			if err := bypass.RemoveFeatureFile(o.nfdFeaturesFile); err != nil {
				return err
			}
			log.Info("NFD feature file removed", "file", o.nfdFeaturesFile, "label", bypass.CgroupV2Label)
		}
		return nil
	}
	a := &agent{
		opts: o, log: log, kernel: k,
		supported: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "meshaccel", Subsystem: "bypass", Name: "supported",
			Help: "1 when the node can run the bypass, 0 when the agent is in probe-only mode (the log says why).",
		}),
		attached: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "meshaccel", Subsystem: "bypass", Name: "attached",
			Help: "1 while this agent has the bypass attached on the node.",
		}),
	}
	return a.run(ctx)
}

type agent struct {
	opts   options
	log    *slog.Logger
	kernel kernel

	supported, attached prometheus.Gauge

	mu sync.Mutex
	b  *bypass.Bypass
	// refused says why the node cannot run the bypass: the agent is in probe-only mode.
	refused string
	// state says why the bypass is or is not attached, as last logged.
	state string
}

func (a *agent) run(ctx context.Context) error {
	o := &a.opts
	release := kernelRelease()
	a.log.Info("probing the node", "node", o.nodeName, "kernel", release, "cgroup", o.cfg.CgroupPath)

	cgroup, cgroupErr := a.findCgroup()
	if cgroupErr == nil {
		if cgroup != o.cfg.CgroupPath && o.cfg.CgroupPath != "" {
			a.log.Info("the cgroup is the root of a hybrid hierarchy: attaching to its cgroup v2", "configured", o.cfg.CgroupPath, "cgroup", cgroup)
		}
		o.cfg.CgroupPath = cgroup
	}
	if o.nfdFeaturesFile != "" {
		written, err := bypass.WriteFeatureFile(o.nfdFeaturesFile, cgroupErr == nil)
		if err != nil {
			return err
		}
		a.log.Info("published the node's cgroup v2 support for NFD", "file", o.nfdFeaturesFile,
			"label", bypass.CgroupV2Label, "value", cgroupErr == nil, "rewritten", written)
	}
	probeErr := a.kernel.probe()
	switch {
	case probeErr != nil && !errors.Is(probeErr, bypass.ErrUnsupportedKernel):
		return probeErr // missing privileges: a deployment error, not a fact of the node
	case cgroupErr != nil || probeErr != nil:
		a.refuse(errors.Join(cgroupErr, probeErr))
	default:
		a.supported.Set(1)
		a.log.Info("the node can run the bypass", "kernel", release, "cgroup", o.cfg.CgroupPath)
	}

	var tick <-chan time.Time
	var err error
	switch {
	case o.enabledNodesFile != "":
		ticker := time.NewTicker(o.pollInterval)
		defer ticker.Stop()
		tick = ticker.C
		err = a.reconcile(true)
	case a.refusal() == "":
		err = a.attach("always attached: no -enabled-nodes-file")
	}
	if err != nil {
		return errors.Join(err, a.stop())
	}

	// Served once the first state is in place, so that the first scrape and probe see it.
	var server *http.Server
	serveErr := make(chan error, 1)
	if o.metricsAddr != "" {
		if server, err = a.serveMetrics(serveErr); err != nil {
			return errors.Join(err, a.stop())
		}
	}
loop:
	for err == nil {
		select {
		case <-ctx.Done():
			a.log.Info("stopping")
			break loop
		case err = <-serveErr:
			a.log.Error("metrics endpoint failed", "err", err)
		case <-tick:
			err = a.reconcile(false)
		}
	}
	if server != nil {
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		server.Shutdown(shutdown)
		cancel()
	}
	return errors.Join(err, a.stop())
}

// findCgroup resolves the cgroup v2 to attach to; an error says why there is none.
func (a *agent) findCgroup() (string, error) {
	if a.opts.cfg.CgroupPath == "" {
		return bypass.Cgroup2Mount()
	}
	return bypass.FindCgroup2(a.opts.cfg.CgroupPath)
}

// refuse puts the agent in probe-only mode.
func (a *agent) refuse(why error) {
	a.mu.Lock()
	a.refused = why.Error()
	a.mu.Unlock()
	a.supported.Set(0)
	a.log.Warn("probe-only mode: the bypass cannot run on this node; the agent stays up without attaching", "reason", why)
}

func (a *agent) refusal() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.refused
}

// reconcile reads the enabled nodes and attaches or detaches to match; it logs each change of
// state once. A file that cannot be read counts as "not enabled": the normal stack is always safe.
func (a *agent) reconcile(first bool) error {
	o := &a.opts
	listed, err := bypass.NodeEnabled(o.enabledNodesFile, o.nodeName)
	var state string
	switch {
	case err != nil:
		state = fmt.Sprintf("cannot read %s (%v): the node counts as not enabled", o.enabledNodesFile, err)
	case listed:
		state = fmt.Sprintf("node %s is listed in %s", o.nodeName, o.enabledNodesFile)
	default:
		if _, statErr := os.Stat(o.enabledNodesFile); errors.Is(statErr, os.ErrNotExist) {
			state = fmt.Sprintf("%s does not exist: no policy enables the bypass on any node", o.enabledNodesFile)
		} else {
			state = fmt.Sprintf("node %s is not listed in %s", o.nodeName, o.enabledNodesFile)
		}
	}
	a.mu.Lock()
	changed := state != a.state
	a.state = state
	attached := a.b != nil
	refused := a.refused
	a.mu.Unlock()

	switch {
	case refused != "":
		if changed && listed {
			a.log.Warn("the bypass is enabled for this node, but the node cannot run it", "state", state, "reason", refused)
		}
		return nil
	case listed && !attached:
		return a.attach(state)
	case !listed && attached:
		return a.detach(state)
	case !listed && first:
		return a.removeLeftover(state)
	case changed && err != nil:
		a.log.Error("the bypass stays detached", "state", state)
	case changed:
		a.log.Info("the bypass stays "+map[bool]string{true: "attached", false: "detached"}[attached], "state", state)
	}
	return nil
}

// removeLeftover detaches a bypass that an earlier agent left pinned (-keep-attached) when the
// node is no longer enabled.
func (a *agent) removeLeftover(state string) error {
	if _, err := os.Stat(a.opts.cfg.PinPath); errors.Is(err, os.ErrNotExist) {
		a.log.Info("the bypass stays detached", "state", state)
		return nil
	}
	if err := bypass.Remove(a.opts.cfg.PinPath); err != nil {
		return fmt.Errorf("remove the bypass an earlier agent left attached: %w", err)
	}
	a.log.Info("removed the bypass an earlier agent left attached; paired connections keep their fast path until they close",
		"state", state, "pinPath", a.opts.cfg.PinPath)
	return nil
}

func (a *agent) attach(state string) error {
	b, err := a.kernel.load(a.opts.cfg)
	if errors.Is(err, bypass.ErrUnsupportedKernel) {
		a.refuse(err)
		return nil
	}
	if err != nil {
		return err
	}
	a.mu.Lock()
	a.b, a.state = b, state
	a.mu.Unlock()
	a.attached.Set(1)
	cfg := b.Config()
	a.log.Info("bypass attached", "state", state, "cgroup", cfg.CgroupPath, "pinPath", cfg.PinPath,
		"paths", joinPaths(cfg.Paths), "outboundPort", cfg.OutboundCapturePort, "inboundPort", cfg.InboundCapturePort)
	return nil
}

func (a *agent) detach(state string) error {
	a.mu.Lock()
	b := a.b
	a.b = nil
	a.mu.Unlock()
	a.attached.Set(0)
	if err := b.Close(); err != nil {
		return fmt.Errorf("detach the bypass: %w", err)
	}
	a.log.Info("bypass detached; paired connections keep their fast path until they close", "state", state)
	return nil
}

// stop lets go of the bypass on exit: detached, or pinned for the next agent with -keep-attached.
func (a *agent) stop() error {
	a.mu.Lock()
	b := a.b
	a.mu.Unlock()
	if b == nil {
		return nil
	}
	if a.opts.keepAttached {
		a.log.Info("leaving the bypass attached for the next agent", "pinPath", b.Config().PinPath)
		return b.Release()
	}
	return a.detach("the agent is stopping")
}

// counters reads the attached bypass's counters; the lock keeps a detach from closing the maps
// under a scrape.
func (a *agent) counters() (bypass.Counters, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.b == nil {
		return bypass.Counters{}, bypass.ErrNotAttached
	}
	return a.b.Counters()
}

// health is /healthz: ok in every mode the agent means to be in (probe-only and detached are
// states, not failures), an error when the attached bypass's maps cannot be read.
func (a *agent) health() (string, error) {
	_, err := a.counters()
	a.mu.Lock()
	defer a.mu.Unlock()
	switch {
	case a.refused != "":
		return "ok: probe-only: " + a.refused, nil
	case errors.Is(err, bypass.ErrNotAttached):
		return "ok: detached: " + a.state, nil
	case err != nil:
		return "", err
	}
	return "ok", nil
}

func (a *agent) serveMetrics(serveErr chan<- error) (*http.Server, error) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(bypass.NewCollector(a.counters), a.supported, a.attached,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		status, err := a.health()
		if err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, status)
	})
	l, err := net.Listen("tcp", a.opts.metricsAddr)
	if err != nil {
		return nil, fmt.Errorf("-metrics-addr %q: %w", a.opts.metricsAddr, err)
	}
	server := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	a.log.Info("serving metrics", "addr", l.Addr().String())
	go func() {
		if err := server.Serve(l); !errors.Is(err, http.ErrServerClosed) {
			serveErr <- err
		}
	}()
	return server, nil
}

func kernelRelease() string {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return "unknown"
	}
	return unix.ByteSliceToString(u.Release[:])
}
