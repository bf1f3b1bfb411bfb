// Package envoyfilter validates Istio EnvoyFilter objects the way Envoy would see their patches.
package envoyfilter
