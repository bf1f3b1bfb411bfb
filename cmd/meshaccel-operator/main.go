// Command meshaccel-operator keeps every selected workload's Envoy acceleration matching the hardware
// under it, live. It is a thin main over package operator.
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/meshaccel/meshaccel/api/v1alpha1"
	"github.com/meshaccel/meshaccel/extensions/capability"
	"github.com/meshaccel/meshaccel/hyperscan"
	"github.com/meshaccel/meshaccel/hyperscan/regexcompat"
	"github.com/meshaccel/meshaccel/operator"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
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
		leaderElect     = fs.Bool("leader-elect", false, "Run only while holding the leader lease, so replicas can stand by.")
		leaderNamespace = fs.String("leader-election-namespace", os.Getenv("POD_NAMESPACE"), "Namespace of the leader lease (default $POD_NAMESPACE).")
		proxyFlavor     = fs.String("proxy-flavor", string(v1alpha1.ProxyIstioProxyV2), "Default proxy flavor: IstioProxyV2, IstioContrib, EnvoyContrib or Custom.")
		proxyVersion    = fs.String("proxy-version", "1.28.2", "Default proxy version (Istio version for Istio flavors, Envoy version for EnvoyContrib).")
		proxyImage      = fs.String("proxy-image", "", "Istio proxy image with contrib extensions to switch workloads to when theirs lacks an extension.")
		proxyExtensions = fs.String("proxy-extensions", "", "Comma-separated Envoy extensions of a Custom proxy.")
		regexChecker    = fs.String("regex-checker", "hyperscan", "Hyperscan compatibility checker: hyperscan, or none to never enable the Hyperscan regex engine.")
		debounce        = fs.Duration("debounce", 100*time.Millisecond, "How long events are gathered into one reconcile.")
		resync          = fs.Duration("resync-period", 10*time.Minute, "Reconcile this often even without events.")
		concurrency     = fs.Int("apply-concurrency", 8, "Parallel write requests.")
		qps             = fs.Float64("kube-api-qps", 50, "Client-side request rate limit towards the API server.")
		burst           = fs.Int("kube-api-burst", 100, "Client-side request burst towards the API server.")
	)
	zapOpts := zap.Options{}
	zapOpts.BindFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&zapOpts)))
	log := ctrl.Log.WithName("setup")

	proxy := capability.Proxy{Flavor: v1alpha1.ProxyFlavor(*proxyFlavor), Version: *proxyVersion, Image: *proxyImage}
	if *proxyExtensions != "" {
		proxy.Extensions = strings.Split(*proxyExtensions, ",")
	}
	switch proxy.Flavor {
	case v1alpha1.ProxyIstioProxyV2, v1alpha1.ProxyIstioContrib, v1alpha1.ProxyEnvoyContrib, v1alpha1.ProxyCustom:
	default:
		return fmt.Errorf("--proxy-flavor %q: want IstioProxyV2, IstioContrib, EnvoyContrib or Custom", *proxyFlavor)
	}
	var checker hyperscan.RegexChecker
	switch *regexChecker {
	case "hyperscan":
		checker = regexcompat.NewChecker()
	case "none":
	default:
		return fmt.Errorf("--regex-checker %q: want hyperscan or none", *regexChecker)
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
		LeaderElection:          *leaderElect,
		LeaderElectionNamespace: *leaderNamespace,
	})
	if err != nil {
		return err
	}
	if _, err := operator.Setup(mgr, operator.Options{
		DefaultProxy:     proxy,
		RegexChecker:     checker,
		Debounce:         *debounce,
		ResyncPeriod:     *resync,
		ApplyConcurrency: *concurrency,
	}); err != nil {
		return err
	}
	log.Info("starting", "defaultProxy", proxy.String(), "leaderElection", *leaderElect, "regexChecker", *regexChecker)
	// SIGTERM cancels the context: the manager stops its controller, finishes in-flight requests within
	// the graceful shutdown timeout and releases the leader lease.
	return mgr.Start(ctrl.SetupSignalHandler())
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
