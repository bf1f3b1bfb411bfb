// Command meshaccel-operator keeps every selected workload's Envoy acceleration matching the hardware
// under it, live. It is a thin main over package operator.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/meshaccel/meshaccel/api/v1alpha1"
	"github.com/meshaccel/meshaccel/extensions/capability"
	"github.com/meshaccel/meshaccel/hyperscan"
	"github.com/meshaccel/meshaccel/hyperscan/regexcompat"
	"github.com/meshaccel/meshaccel/operator"
	"github.com/meshaccel/meshaccel/operator/demo"
)

func main() {
	runCommand := run
	args := os.Args[1:]
	if len(args) > 0 && args[0] == "demo" {
		runCommand, args = runDemo, args[1:]
	}
	if err := runCommand(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return // -help printed the usage: not a failure
		}
		fmt.Fprintln(os.Stderr, "meshaccel-operator:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("meshaccel-operator", flag.ContinueOnError)
	var (
		kubeconfig      = fs.String("kubeconfig", "", "Path to a kubeconfig; empty uses $KUBECONFIG or the in-cluster config.")
		metricsAddr     = fs.String("metrics-bind-address", ":8080", "Address of the Prometheus metrics endpoint (\"0\" disables it).")
		probeAddr       = fs.String("health-probe-bind-address", ":8081", "Address of /healthz and /readyz (\"0\" disables them).")
		pprofAddr       = fs.String("pprof-bind-address", "0", "Address of Go's /debug/pprof endpoints (\"0\" disables them).")
		leaderElect     = fs.Bool("leader-elect", false, "Run only while holding the leader lease, so replicas can stand by.")
		leaderNamespace = fs.String("leader-election-namespace", os.Getenv("POD_NAMESPACE"), "Namespace of the leader lease (default $POD_NAMESPACE).")
		systemNamespace = fs.String("system-namespace", defaultSystemNamespace(), "The operator's own namespace, where cluster-level objects (the bypass node list) are kept (default $POD_NAMESPACE, else meshaccel-system).")
		debounce        = fs.Duration("debounce", 100*time.Millisecond, "How long events are gathered into one reconcile.")
		resync          = fs.Duration("resync-period", 10*time.Minute, "Reconcile this often even without events.")
		concurrency     = fs.Int("apply-concurrency", 8, "Parallel write requests.")
		qps             = fs.Float64("kube-api-qps", 50, "Client-side request rate limit towards the API server.")
		burst           = fs.Int("kube-api-burst", 100, "Client-side request burst towards the API server.")
	)
	decisionInputs := bindDecisionFlags(fs)
	zapOpts := zap.Options{}
	zapOpts.BindFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	logger := zap.New(zap.UseFlagOptions(&zapOpts))
	ctrl.SetLogger(logger)
	klog.SetLogger(logger) // client-go (leader election, reflectors) logs through klog
	log := ctrl.Log.WithName("setup")
	proxy, checker, err := decisionInputs()
	if err != nil {
		return err
	}

	cfg, err := restConfig(*kubeconfig)
	if err != nil {
		return err
	}
	cfg.QPS, cfg.Burst = float32(*qps), *burst
	cfg.UserAgent = "meshaccel-operator"

	mgr, err := operator.NewManager(cfg, operator.ManagerOptions{
		MetricsAddr:             *metricsAddr,
		ProbeAddr:               *probeAddr,
		PprofAddr:               *pprofAddr,
		LeaderElection:          *leaderElect,
		LeaderElectionNamespace: *leaderNamespace,
	})
	if err != nil {
		return err
	}
	if _, err := operator.Setup(mgr, operator.Options{
		DefaultProxy:     proxy,
		SystemNamespace:  *systemNamespace,
		RegexChecker:     checker,
		Debounce:         *debounce,
		ResyncPeriod:     *resync,
		ApplyConcurrency: *concurrency,
	}); err != nil {
		return err
	}
	log.Info("starting", "defaultProxy", proxy.String(), "leaderElection", *leaderElect, "regexChecker", checker != nil)
	// SIGTERM cancels the context: the manager stops its controller, finishes in-flight requests within
	// the graceful shutdown timeout and releases the leader lease.
	return mgr.Start(ctrl.SetupSignalHandler())
}

// bindDecisionFlags registers the flags that shape decisions (the default proxy and the regex checker)
// and returns a function that reads them after parsing.
func bindDecisionFlags(fs *flag.FlagSet) func() (capability.Proxy, hyperscan.RegexChecker, error) {
	var (
		proxyFlavor     = fs.String("proxy-flavor", string(v1alpha1.ProxyIstioProxyV2), "Default proxy flavor: IstioProxyV2, IstioContrib, EnvoyContrib or Custom.")
		proxyVersion    = fs.String("proxy-version", "1.28.2", "Default proxy version (Istio version for Istio flavors, Envoy version for EnvoyContrib).")
		proxyImage      = fs.String("proxy-image", "", "Istio proxy image with contrib extensions to switch workloads to when theirs lacks an extension.")
		proxyExtensions = fs.String("proxy-extensions", "", "Comma-separated Envoy extensions of a Custom proxy.")
		regexChecker    = fs.String("regex-checker", "hyperscan", "Hyperscan compatibility checker: hyperscan, or none to never enable the Hyperscan regex engine.")
	)
	return func() (capability.Proxy, hyperscan.RegexChecker, error) {
		proxy := capability.Proxy{Flavor: v1alpha1.ProxyFlavor(*proxyFlavor), Version: *proxyVersion, Image: *proxyImage}
		if *proxyExtensions != "" {
			proxy.Extensions = strings.Split(*proxyExtensions, ",")
		}
		switch proxy.Flavor {
		case v1alpha1.ProxyIstioProxyV2, v1alpha1.ProxyIstioContrib, v1alpha1.ProxyEnvoyContrib, v1alpha1.ProxyCustom:
		default:
			return proxy, nil, fmt.Errorf("--proxy-flavor %q: want IstioProxyV2, IstioContrib, EnvoyContrib or Custom", *proxyFlavor)
		}
		switch *regexChecker {
		case "hyperscan":
			return proxy, regexcompat.NewChecker(), nil
		case "none":
			return proxy, nil, nil
		}
		return proxy, nil, fmt.Errorf("--regex-checker %q: want hyperscan or none", *regexChecker)
	}
}

// runDemo runs `meshaccel-operator demo`: the operator against a local control plane (or, with
// --kubeconfig, a real cluster), showing what it applies and how it follows a node losing a device.
func runDemo(args []string) error {
	fs := flag.NewFlagSet("meshaccel-operator demo", flag.ContinueOnError)
	kubeconfig := fs.String("kubeconfig", "", "Run against this cluster instead of a local control plane (no node is changed).")
	examples := fs.String("examples", "", "The example cluster to create (default examples/cluster.yaml).")
	verbose := fs.Bool("v", false, "Show the operator's logs.")
	decisionInputs := bindDecisionFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	proxy, checker, err := decisionInputs()
	if err != nil {
		return err
	}
	if *verbose {
		ctrl.SetLogger(zap.New(zap.UseDevMode(true)))
	} else {
		ctrl.SetLogger(logr.Discard())
		klog.SetLogger(logr.Discard())
	}
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	return demo.Run(ctx, demo.Options{Kubeconfig: *kubeconfig, Examples: *examples, DefaultProxy: proxy, RegexChecker: checker})
}

func defaultSystemNamespace() string {
	if ns := os.Getenv("POD_NAMESPACE"); ns != "" {
		return ns
	}
	return "meshaccel-system"
}

func restConfig(kubeconfig string) (*rest.Config, error) {
	if kubeconfig == "" {
		return ctrl.GetConfig()
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("--kubeconfig %s: %w", kubeconfig, err)
	}
	return cfg, nil
}
