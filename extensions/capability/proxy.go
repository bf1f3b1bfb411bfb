package capability

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/meshaccel/meshaccel/api/v1alpha1"
)

// Envoy extension names meshaccel enables.
const (
	ExtCryptoMB          = "envoy.tls.key_providers.cryptomb"
	ExtQAT               = "envoy.tls.key_providers.qat"
	ExtDLB               = "envoy.network.connection_balance.dlb"
	ExtHyperscanEngine   = "envoy.regex_engines.hyperscan"
	ExtHyperscanMatcher  = "envoy.matching.input_matchers.hyperscan"
	ExtWasm              = "envoy.filters.http.wasm"
	ExtWasmRuntimeWAMR   = "envoy.wasm.runtime.wamr"
	ExtQATZipCompression = "envoy.compression.qatzip.compressor"
)

// Proxy is the Envoy binary a workload runs: its flavor, version and the extensions it contains.
type Proxy struct {
	Flavor  v1alpha1.ProxyFlavor `json:"flavor"`
	Version string               `json:"version,omitempty"`
	// Image, when set, is the Istio proxy image to switch to for extensions the current one lacks.
	Image string `json:"image,omitempty"`
	// Declared extensions of a Custom flavor.
	Extensions []string `json:"extensions,omitempty"`
}

// IsIstio reports whether the proxy carries pilot-agent and Istio's filters, i.e. can be a sidecar.
func (p Proxy) IsIstio() bool {
	return p.Flavor == v1alpha1.ProxyIstioProxyV2 || p.Flavor == v1alpha1.ProxyIstioContrib || p.Flavor == v1alpha1.ProxyCustom
}

func (p Proxy) String() string {
	if p.Version == "" {
		return string(p.Flavor)
	}
	return string(p.Flavor) + " " + p.Version
}

// Has reports whether the proxy binary contains the Envoy extension; when it does not, the returned
// message says why (which versions carry it).
func (p Proxy) Has(extension string) (bool, string) {
	switch p.Flavor {
	case v1alpha1.ProxyCustom:
		if slices.Contains(p.Extensions, extension) {
			return true, "declared in the custom proxy's extension list"
		}
		return false, fmt.Sprintf("%s is not in the custom proxy's declared extensions", extension)
	case v1alpha1.ProxyIstioProxyV2:
		return istioProxyV2Has(p.Version, extension)
	case v1alpha1.ProxyIstioContrib:
		envoyMinor, err := envoyMinorForIstio(p.Version)
		if err != nil {
			return false, err.Error()
		}
		return contribHas(envoyMinor, extension, "Istio contrib proxy "+p.Version)
	case v1alpha1.ProxyEnvoyContrib:
		_, minor, err := parseMinor(p.Version)
		if err != nil {
			return false, fmt.Sprintf("Envoy contrib version %q: %v", p.Version, err)
		}
		return contribHas(minor, extension, "Envoy contrib "+p.Version)
	}
	return false, fmt.Sprintf("unknown proxy flavor %q", p.Flavor)
}

// istioProxyV2Has encodes which contrib extensions Istio's stock proxyv2 links, by Istio version.
func istioProxyV2Has(version, extension string) (bool, string) {
	_, minor, err := parseMinor(version)
	if err != nil {
		return false, fmt.Sprintf("Istio version %q: %v", version, err)
	}
	switch extension {
	case ExtCryptoMB:
		if minor >= 14 {
			return true, "Istio proxyv2 links CryptoMB since 1.14"
		}
		return false, "Istio proxyv2 links CryptoMB only from 1.14"
	case ExtQAT:
		if minor >= 17 && minor <= 28 {
			return true, "Istio proxyv2 links the QAT provider in 1.17–1.28"
		}
		return false, "Istio proxyv2 links the QAT provider only in 1.17–1.28 (absent in " + version + ")"
	case ExtDLB:
		if minor < 28 {
			return true, "Istio proxyv2 links DLB before 1.28"
		}
		return false, "DLB is commented out of Istio proxyv2 from 1.28"
	case ExtHyperscanEngine, ExtHyperscanMatcher, ExtQATZipCompression:
		return false, "Istio's stock proxyv2 never links " + extension + "; use an Istio proxy build with contrib extensions"
	case ExtWasm:
		return true, "every Istio proxy has the Wasm filter"
	case ExtWasmRuntimeWAMR:
		return false, "Istio's stock proxyv2 ships the V8 Wasm runtime, not WAMR"
	}
	return false, extension + " is not known to be in Istio proxyv2"
}

// contribHas covers builds that link all of Envoy's contrib extensions, given the Envoy minor version.
func contribHas(envoyMinor int, extension, what string) (bool, string) {
	switch extension {
	case ExtDLB:
		// DLB was disabled in Envoy (envoy#45568, backported to 1.35) and its dependency removed.
		if envoyMinor >= 35 {
			return false, fmt.Sprintf("DLB is disabled in Envoy 1.35 and later (%s is Envoy 1.%d)", what, envoyMinor)
		}
		return true, what + " links the DLB balancer (experimental)"
	case ExtCryptoMB, ExtQAT, ExtHyperscanEngine, ExtHyperscanMatcher, ExtQATZipCompression, ExtWasm:
		return true, what + " links Envoy's contrib extensions"
	case ExtWasmRuntimeWAMR:
		return false, what + ": WAMR is not in Envoy's release builds; declare it with a Custom proxy"
	}
	return false, extension + " is not an extension meshaccel knows"
}

// envoyMinorForIstio maps an Istio minor release to the Envoy minor it is built on (Istio 1.20 is
// Envoy 1.28 and each Istio minor moves one Envoy minor).
func envoyMinorForIstio(version string) (int, error) {
	_, minor, err := parseMinor(version)
	if err != nil {
		return 0, fmt.Errorf("Istio version %q: %v", version, err)
	}
	if minor < 20 {
		return 0, fmt.Errorf("Istio version %q: contrib builds before Istio 1.20 are not supported", version)
	}
	return minor + 8, nil
}

// ParseVersion checks a MAJOR.MINOR[.PATCH] version and returns its minor number.
func ParseVersion(version string) (minor int, err error) {
	_, minor, err = parseMinor(version)
	return minor, err
}

func parseMinor(version string) (major, minor int, err error) {
	v := strings.TrimPrefix(version, "v")
	if v == "" {
		return 0, 0, fmt.Errorf("version is empty")
	}
	if i := strings.IndexAny(v, "-+"); i >= 0 {
		v = v[:i]
	}
	parts := strings.Split(v, ".")
	if len(parts) < 2 {
		return 0, 0, fmt.Errorf("want MAJOR.MINOR[.PATCH]")
	}
	if major, err = strconv.Atoi(parts[0]); err != nil || major != 1 {
		return 0, 0, fmt.Errorf("want major version 1")
	}
	if minor, err = strconv.Atoi(parts[1]); err != nil || minor < 0 {
		return 0, 0, fmt.Errorf("minor version %q is not a number", parts[1])
	}
	return major, minor, nil
}
