//go:build coraza

package main

// The plugin.wasm under test is built with the same engine.
var engineBuildTags = []string{"coraza", "no_fs_access"}

// Coraza starts Go timers, which make the Go runtime poll with poll_oneoff
// at every garbage collection: it needs a host with a working poll_oneoff.
const engineNeedsPollOneoff = true

// Coraza reads files through package os, which imports WASI functions that
// older Envoy hosts lack.
const engineRunsOnOlderEnvoy = false
