//go:build coraza

package main

import "testing"

// The plugin.wasm under test is built with the same engine.
var engineBuildTags = []string{"coraza", "no_fs_access"}

// Coraza, too, runs with an older host's failing poll_oneoff.
const engineNeedsPollOneoff = false

// Coraza reads files through package os, which imports WASI functions that
// older Envoy hosts lack.
const engineRunsOnOlderEnvoy = false

// rulesField gives SecLang to Coraza as is: it compiles in the VM.
func rulesField(t *testing.T, rules string) (string, any) { return "rules", rules }

// engineBadConfigs are configurations only this engine rejects.
var engineBadConfigs = []struct{ config, wantLog string }{
	{`{"rules":"SecRule ARGS \"@rx (\" \"id:1,deny\""}`, "compiling rules with Coraza"},
}
