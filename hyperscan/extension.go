// Package hyperscan is the Hyperscan extension: Envoy's Hyperscan regex engine
// (envoy.regex_engines.hyperscan) and input matcher (envoy.matching.input_matchers.hyperscan). This
// package is pure Go; the cgo compatibility checker and matcher live in subpackages.
package hyperscan

import (
	"fmt"

	hyperscanenginev3alpha "github.com/envoyproxy/go-control-plane/contrib/envoy/extensions/regex_engines/hyperscan/v3alpha"
	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/meshaccel/meshaccel/extensions/capability"
)

// NodeLabel is published by meshaccel's NodeFeatureRule for x86_64 CPUs with SSSE3.
const NodeLabel = "meshaccel.feature.node.kubernetes.io/hyperscan"

// Reasons returned by Supported.
const (
	ReasonX86SSSE3       = "X86WithSSSE3"
	ReasonArm64          = "Arm64Vectorscan"
	ReasonNoSSSE3        = "NoSSSE3"
	ReasonUnsupportedArc = "UnsupportedArchitecture"
	ReasonUnknownArch    = "UnknownArchitecture"
)

// Extension implements capability.Extension for the Hyperscan regex engine and matcher.
type Extension struct{}

func (Extension) Feature() capability.Feature { return capability.Hyperscan }

func (Extension) EnvoyExtensions() []string { return []string{capability.ExtHyperscanEngine} }

// Supported needs x86_64 with SSSE3 (every x86_64 CPU since 2006; checked when the flags are known),
// or arm64, where Envoy's contrib build uses Vectorscan.
func (Extension) Supported(node *capability.Node) capability.Support {
	switch node.Arch {
	case "amd64":
		if ev, ok := node.FeatureLabels[NodeLabel]; ok && ev.Value == "true" {
			return capability.Supported(ReasonX86SSSE3, "meshaccel's NodeFeatureRule found SSSE3", ev)
		}
		if ev, ok := node.CPUFlags["SSSE3"]; ok {
			return capability.Supported(ReasonX86SSSE3, "x86_64 with SSSE3", node.ArchEvidence, ev)
		}
		if node.CPUFlagsComplete {
			return capability.Unsupported(ReasonNoSSSE3, "CPU lacks SSSE3, which Hyperscan needs", node.ArchEvidence)
		}
		return capability.Supported(ReasonX86SSSE3, "x86_64 (SSSE3 is hidden by NFD's default labels; every x86_64 CPU since 2006 has it)", node.ArchEvidence)
	case "arm64":
		return capability.Supported(ReasonArm64, "arm64: Envoy's contrib build uses Vectorscan", node.ArchEvidence)
	case "":
		return capability.Unsupported(ReasonUnknownArch, "node reports no architecture")
	}
	return capability.Unsupported(ReasonUnsupportedArc, fmt.Sprintf("Hyperscan needs x86_64 or arm64; node is %s", node.Arch), node.ArchEvidence)
}

// BuildBootstrap returns the bootstrap fragment that makes Hyperscan Envoy's default regex engine.
func BuildBootstrap() (*bootstrapv3.Bootstrap, error) {
	typed, err := anypb.New(&hyperscanenginev3alpha.Hyperscan{})
	if err != nil {
		return nil, err
	}
	b := &bootstrapv3.Bootstrap{
		DefaultRegexEngine: &corev3.TypedExtensionConfig{Name: capability.ExtHyperscanEngine, TypedConfig: typed},
	}
	if err := b.ValidateAll(); err != nil {
		return nil, err
	}
	return b, nil
}
