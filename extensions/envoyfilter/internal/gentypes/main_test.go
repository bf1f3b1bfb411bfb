package main

import (
	"bytes"
	"os"
	"testing"
)

// The registry must follow go.mod: a go-control-plane upgrade that adds an extension package
// fails here until `go run ./internal/gentypes` is re-run in extensions/envoyfilter.
func TestGeneratedRegistryIsCurrent(t *testing.T) {
	want, err := render()
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile("../../zz_generated_types.go")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("extensions/envoyfilter/zz_generated_types.go is stale: run `go run ./internal/gentypes` in extensions/envoyfilter")
	}
}

func TestWantedKeepsCurrentAPIsAndDropsV2AndServices(t *testing.T) {
	for importPath, keep := range map[string]bool{
		"github.com/envoyproxy/go-control-plane/envoy/config/listener/v3":                                        true,
		"github.com/envoyproxy/go-control-plane/contrib/envoy/extensions/private_key_providers/cryptomb/v3alpha": true,
		"github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/cache_v2/v3":                       true,
		"github.com/envoyproxy/go-control-plane/envoy/annotations":                                               true,
		"github.com/cncf/xds/go/udpa/type/v1":                                                                    true,
		"github.com/cncf/xds/go/xds/type/v3":                                                                     true,
		"github.com/envoyproxy/go-control-plane/envoy/api/v2":                                                    false,
		"github.com/envoyproxy/go-control-plane/envoy/config/filter/http/lua/v2":                                 false,
		"github.com/envoyproxy/go-control-plane/envoy/config/filter/network/mysql_proxy/v1alpha1":                false,
		"github.com/envoyproxy/go-control-plane/envoy/type/matcher":                                              false,
		"github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3":                                      false,
		"github.com/cncf/xds/go/xds/service/orca/v3":                                                             false,
	} {
		if got := wanted(importPath); got != keep {
			t.Errorf("wanted(%s) = %v, want %v", importPath, got, keep)
		}
	}
}
