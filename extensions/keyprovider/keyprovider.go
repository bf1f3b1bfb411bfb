// Package keyprovider holds what the CryptoMB and QAT TLS private-key providers share: the poll-delay
// rule and the typed Envoy and Istio messages that carry a provider.
package keyprovider

import (
	"fmt"
	"time"

	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
	meshconfig "istio.io/api/mesh/v1alpha1"
)

// Poll delay bounds: Envoy rejects less than 1 ms, and Istio keeps only the sub-second part of the
// duration (1s becomes 0, which Envoy then rejects).
const (
	MinPollDelay     = time.Millisecond
	MaxPollDelay     = time.Second // exclusive
	DefaultPollDelay = 10 * time.Millisecond
)

// ValidatePollDelay enforces 1ms <= d < 1s.
func ValidatePollDelay(d time.Duration) error {
	if d < MinPollDelay || d >= MaxPollDelay {
		return fmt.Errorf("pollDelay %s is out of range: must be at least 1ms and less than 1s (Istio keeps only the sub-second part)", d)
	}
	return nil
}

// validatable is implemented by every generated Envoy message.
type validatable interface{ ValidateAll() error }

// Provider wraps a provider-specific config into Envoy's TlsCertificate.private_key_provider and
// validates the whole, nested config included.
func Provider(providerName string, config proto.Message) (*tlsv3.PrivateKeyProvider, error) {
	if v, ok := config.(validatable); ok {
		if err := v.ValidateAll(); err != nil {
			return nil, err
		}
	}
	typed, err := anypb.New(config)
	if err != nil {
		return nil, err
	}
	provider := &tlsv3.PrivateKeyProvider{
		ProviderName: providerName,
		ConfigType:   &tlsv3.PrivateKeyProvider_TypedConfig{TypedConfig: typed},
	}
	if err := provider.ValidateAll(); err != nil {
		return nil, err
	}
	return provider, nil
}

// IstioProxyConfig returns the ProxyConfig that Istio reads from the pod annotation
// proxy.istio.io/config: a private-key provider with fallback off, because Istio's fallback never
// sets TlsCertificate.private_key and so cannot work (istio/istio#54025).
func IstioProxyConfig(provider *meshconfig.PrivateKeyProvider) *meshconfig.ProxyConfig {
	return &meshconfig.ProxyConfig{PrivateKeyProvider: provider}
}

// IstioCryptoMB is the Istio form of the CryptoMB provider.
func IstioCryptoMB(pollDelay time.Duration) *meshconfig.PrivateKeyProvider {
	return &meshconfig.PrivateKeyProvider{Provider: &meshconfig.PrivateKeyProvider_Cryptomb{
		Cryptomb: &meshconfig.PrivateKeyProvider_CryptoMb{PollDelay: durationpb.New(pollDelay), Fallback: wrapperspb.Bool(false)},
	}}
}

// IstioQAT is the Istio form of the QAT provider.
func IstioQAT(pollDelay time.Duration) *meshconfig.PrivateKeyProvider {
	return &meshconfig.PrivateKeyProvider{Provider: &meshconfig.PrivateKeyProvider_Qat{
		Qat: &meshconfig.PrivateKeyProvider_QAT{PollDelay: durationpb.New(pollDelay), Fallback: wrapperspb.Bool(false)},
	}}
}
