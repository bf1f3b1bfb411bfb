// Package cryptomb is the CryptoMB extension: Envoy's AVX-512 multi-buffer TLS private-key provider
// (envoy.tls.key_providers.cryptomb). It accelerates RSA 1024–4096 and ECDSA P-256 signing.
package cryptomb

import (
	"fmt"
	"strings"
	"time"

	cryptombv3alpha "github.com/envoyproxy/go-control-plane/contrib/envoy/extensions/private_key_providers/cryptomb/v3alpha"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/meshaccel/meshaccel/extensions/capability"
	"github.com/meshaccel/meshaccel/extensions/keyprovider"
)

// RequiredCPUFlags are the flags ipp-crypto's crypto_mb checks before it runs.
var RequiredCPUFlags = []string{"BMI2", "AVX512F", "AVX512DQ", "AVX512BW", "AVX512IFMA", "AVX512VBMI2"}

// NodeLabel is published by meshaccel's NodeFeatureRule when cpu.cpuid has every required flag; the
// rule sees BMI2, which NFD's default labels hide.
const NodeLabel = "meshaccel.feature.node.kubernetes.io/cryptomb"

// Reasons returned by Supported.
const (
	ReasonNodeFeatureRuleLabel = "NodeFeatureRuleLabel"
	ReasonAllCPUFlags          = "AllCPUFlags"
	ReasonNotX86               = "NotX86"
	ReasonBMI2NotVisible       = "BMI2NotVisible"
	ReasonMissingCPUFlags      = "MissingCPUFlags"
)

// Extension implements capability.Extension for CryptoMB.
type Extension struct{}

func (Extension) Feature() capability.Feature { return capability.CryptoMB }

func (Extension) EnvoyExtensions() []string { return []string{capability.ExtCryptoMB} }

// Supported requires all six CPU flags, from meshaccel's NodeFeatureRule label or from the flags
// themselves (raw NodeFeature or NFD labels), and says which source was used.
func (Extension) Supported(node *capability.Node) capability.Support {
	if node.Arch != "" && node.Arch != "amd64" {
		return capability.Unsupported(ReasonNotX86, fmt.Sprintf("CryptoMB needs x86_64 with AVX-512; node is %s", node.Arch), node.ArchEvidence)
	}
	if ev, ok := node.FeatureLabels[NodeLabel]; ok && ev.Value == "true" {
		return capability.Supported(ReasonNodeFeatureRuleLabel,
			"meshaccel's NodeFeatureRule found all of "+strings.Join(RequiredCPUFlags, ", "), ev)
	}
	var missing []string
	var evidence []capability.Evidence
	for _, flag := range RequiredCPUFlags {
		ev, ok := node.CPUFlags[flag]
		if !ok {
			missing = append(missing, flag)
			continue
		}
		evidence = append(evidence, ev)
	}
	switch {
	case len(missing) == 0:
		return capability.Supported(ReasonAllCPUFlags, "CPU has all of "+strings.Join(RequiredCPUFlags, ", "), evidence...)
	case len(missing) == 1 && missing[0] == "BMI2" && !node.CPUFlagsComplete:
		return capability.Unsupported(ReasonBMI2NotVisible,
			"the AVX-512 flags are present but BMI2 is hidden by NFD's default labels; install meshaccel's NodeFeatureRule or publish raw NodeFeature objects",
			evidence...)
	}
	return capability.Unsupported(ReasonMissingCPUFlags, "CPU lacks "+strings.Join(missing, ", "), evidence...)
}

// Build returns the typed Envoy private-key provider. privateKey may be nil: Istio fills it for SDS
// certificates; file-mounted gateway certificates name the key file.
func Build(pollDelay time.Duration, privateKey *corev3.DataSource) (*tlsv3.PrivateKeyProvider, error) {
	if err := keyprovider.ValidatePollDelay(pollDelay); err != nil {
		return nil, err
	}
	return keyprovider.Provider(capability.ExtCryptoMB, &cryptombv3alpha.CryptoMbPrivateKeyMethodConfig{
		PrivateKey: privateKey,
		PollDelay:  durationpb.New(pollDelay),
	})
}
