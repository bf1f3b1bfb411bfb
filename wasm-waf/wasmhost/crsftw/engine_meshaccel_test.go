//go:build !coraza

package crsftw

import (
	"testing"

	"github.com/meshaccel/meshaccel/wasm-waf/crs"
)

const engineName = "meshaccel"

var engineBuildTags []string

const engineNeedsPollOneoff = false

// The ruleset is compiled on the host and shipped as an artifact, as in
// production.
func pluginConfigForCRS(t *testing.T) []byte {
	rs, err := crs.Compile(crsOptions)
	if err != nil {
		t.Fatal(err)
	}
	artifact, err := rs.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return jsonConfig(t, map[string]any{"ruleset": artifact})
}
