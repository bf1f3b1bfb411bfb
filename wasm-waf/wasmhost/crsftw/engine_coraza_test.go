//go:build coraza

package crsftw

import (
	"testing"

	"github.com/meshaccel/meshaccel/wasm-waf/crs"
)

const engineName = "coraza"

var engineBuildTags = []string{"coraza", "no_fs_access"}

// Coraza, too, runs with an older host's failing poll_oneoff.
const engineNeedsPollOneoff = false

// Coraza compiles the same SecLang inside the VM.
func pluginConfigForCRS(t *testing.T) []byte {
	text, err := crs.Main(crsOptions)
	if err != nil {
		t.Fatal(err)
	}
	return jsonConfig(t, map[string]any{"rules": text})
}
