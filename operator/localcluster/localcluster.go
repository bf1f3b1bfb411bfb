// Package localcluster runs a real kube-apiserver and etcd on loopback with every CRD meshaccel reads or
// writes installed: meshaccel's own, Istio's (from the istio.io/api module), NFD's (from the
// node-feature-discovery module) and Intel's QatDevicePlugin (from the device-plugins module). The
// operator's tests, its scale benchmark and `make demo` all run against it.
//
// The binaries come from hack/install-controlplane.sh (built from the Go module proxy into .cache/bin);
// KUBEBUILDER_ASSETS overrides where they are looked up.
package localcluster

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// Cluster is a running local control plane.
type Cluster struct {
	env *envtest.Environment
	// Config is an admin client configuration.
	Config *rest.Config
	// KubeConfig is Config as a kubeconfig file's content.
	KubeConfig []byte
	certDir    string
}

// Options for Start.
type Options struct {
	// AssetsDir holds kube-apiserver and etcd (default: $KUBEBUILDER_ASSETS, else <repo>/.cache/bin).
	AssetsDir string
	// Output, when set, receives the control plane's logs.
	Output *os.File
	// ExtraAPIServerArgs are passed to kube-apiserver as --key=value.
	ExtraAPIServerArgs map[string]string
}

// RepoRoot is the meshaccel repository this package was built from.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// Start starts etcd and kube-apiserver and installs the CRDs. It takes a few seconds.
func Start(opts Options) (*Cluster, error) {
	assets := opts.AssetsDir
	if assets == "" {
		assets = os.Getenv("KUBEBUILDER_ASSETS")
	}
	if assets == "" {
		assets = filepath.Join(RepoRoot(), ".cache", "bin")
	}
	for _, bin := range []string{"kube-apiserver", "etcd"} {
		if _, err := os.Stat(filepath.Join(assets, bin)); err != nil {
			return nil, fmt.Errorf("%s not found in %s: run hack/install-controlplane.sh (it builds the local control plane once, about 10 minutes on 2 cores)", bin, assets)
		}
	}
	crds, err := CRDPaths()
	if err != nil {
		return nil, err
	}
	// A fixed certificate directory survives an API server restart, so clients keep trusting it.
	certDir, err := os.MkdirTemp("", "meshaccel-apiserver-")
	if err != nil {
		return nil, err
	}
	env := &envtest.Environment{
		BinaryAssetsDirectory: assets,
		CRDDirectoryPaths:     crds,
		ErrorIfCRDPathMissing: true,
		// The first start of a fresh etcd on a loaded 2-core machine can take a while.
		ControlPlaneStartTimeout: 60 * time.Second,
		// kube-apiserver drains open watches for tens of seconds on SIGTERM; nothing here needs a
		// graceful stop, so it is killed after a short wait.
		ControlPlaneStopTimeout: stopTimeout,
	}
	api := env.ControlPlane.GetAPIServer()
	api.CertDir = certDir
	if opts.Output != nil {
		api.Out, api.Err = opts.Output, opts.Output
	}
	for k, v := range opts.ExtraAPIServerArgs {
		api.Configure().Set(k, v)
	}
	cfg, err := env.Start()
	if err != nil {
		_ = env.Stop()
		_ = os.RemoveAll(certDir)
		return nil, fmt.Errorf("starting the local control plane: %w", err)
	}
	return &Cluster{env: env, Config: cfg, KubeConfig: env.KubeConfig, certDir: certDir}, nil
}

const stopTimeout = 3 * time.Second

// Stop stops the control plane and removes its data.
func (c *Cluster) Stop() error {
	err := c.env.Stop()
	_ = os.RemoveAll(c.certDir)
	if killed(err) {
		return nil
	}
	return err
}

// killed recognises envtest's report that a process ignored SIGTERM and was killed.
func killed(err error) bool {
	return err != nil && strings.Contains(err.Error(), "timeout waiting for process")
}

// RestartAPIServer stops kube-apiserver (killing it if it does not stop at once, as a crashed server
// would be), waits for down, then starts it again on the same port with the same certificates and
// etcd: clients see an outage, not a new cluster.
func (c *Cluster) RestartAPIServer(down time.Duration) error {
	api := c.env.ControlPlane.GetAPIServer()
	if err := api.Stop(); err != nil && !killed(err) {
		return fmt.Errorf("stopping kube-apiserver: %w", err)
	}
	time.Sleep(down)
	if err := api.Start(); err != nil {
		return fmt.Errorf("starting kube-apiserver again: %w", err)
	}
	return nil
}

// WriteKubeconfig writes the admin kubeconfig to path.
func (c *Cluster) WriteKubeconfig(path string) error {
	return os.WriteFile(path, c.KubeConfig, 0o600)
}

// CRDPaths lists the CRD files to install: meshaccel's generated CRDs and the third-party CRDs shipped
// inside the Go modules meshaccel already depends on (resolved through the module cache, downloading
// the module when needed).
func CRDPaths() ([]string, error) {
	root := RepoRoot()
	istioAPI, err := moduleDir(root, "istio.io/api", "")
	if err != nil {
		return nil, err
	}
	intel, err := moduleDir(root, "github.com/intel/intel-device-plugins-for-kubernetes", "")
	if err != nil {
		return nil, err
	}
	// The NFD CRDs live in the project's root module, not in the api/nfd module meshaccel imports;
	// take the root module at the same version.
	nfdVersion, err := moduleVersion(root, "sigs.k8s.io/node-feature-discovery/api/nfd")
	if err != nil {
		return nil, err
	}
	nfd, err := moduleDir("", "sigs.k8s.io/node-feature-discovery", nfdVersion)
	if err != nil {
		return nil, err
	}
	paths := []string{
		filepath.Join(root, "deploy", "crds", "meshaccel.io_accelerationpolicies.yaml"),
		filepath.Join(istioAPI, "kubernetes", "customresourcedefinitions.gen.yaml"),
		filepath.Join(nfd, "deployment", "base", "nfd-crds", "nfd-api-crds.yaml"),
		filepath.Join(intel, "deployments", "operator", "crd", "bases", "deviceplugin.intel.com_qatdeviceplugins.yaml"),
	}
	for _, p := range paths {
		if _, err := os.Stat(p); err != nil {
			return nil, fmt.Errorf("CRD file missing: %w", err)
		}
	}
	return paths, nil
}

func moduleVersion(dir, module string) (string, error) {
	out, err := goCommand(dir, "list", "-m", "-f", "{{.Version}}", module)
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(out)), nil
}

// moduleDir returns a module's directory in the module cache, downloading it if needed. Without a
// version it uses the version the repository's go.mod selects.
func moduleDir(dir, module, version string) (string, error) {
	if version == "" {
		v, err := moduleVersion(dir, module)
		if err != nil {
			return "", err
		}
		version = v
	}
	out, err := goCommand(dir, "mod", "download", "-json", module+"@"+version)
	if err != nil {
		return "", err
	}
	var info struct{ Dir, Error string }
	if err := json.Unmarshal(out, &info); err != nil {
		return "", fmt.Errorf("go mod download %s@%s: %w", module, version, err)
	}
	if info.Error != "" || info.Dir == "" {
		return "", fmt.Errorf("go mod download %s@%s: %s", module, version, info.Error)
	}
	return info.Dir, nil
}

// goCommand runs the go command in dir, or outside any module when dir is empty (for modules the
// repository does not require).
func goCommand(dir string, args ...string) ([]byte, error) {
	cmd := exec.Command("go", args...)
	cmd.Dir = dir
	if dir == "" {
		cmd.Dir = os.TempDir()
		cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOWORK=off")
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("go %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}
