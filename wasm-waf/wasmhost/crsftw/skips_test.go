package crsftw

import (
	"os"
	"testing"

	"github.com/meshaccel/meshaccel/wasm-waf/crs"
)

// crsSkips is the engine's list of CRS tests that cannot pass against a Go
// net/http server (wasm-waf/crs/skips.yaml), shared with the native run.
func crsSkips(t *testing.T) map[string]string {
	data, err := os.ReadFile("../../crs/skips.yaml")
	if err != nil {
		t.Fatal(err)
	}
	skips, err := crs.LoadSkips(data)
	if err != nil {
		t.Fatal(err)
	}
	out := make(map[string]string, len(skips.Skips))
	for _, sk := range skips.Skips {
		out["^(?:"+sk.Test+")$"] = sk.Reason
	}
	return out
}
