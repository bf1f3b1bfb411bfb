//go:build !coraza

package main

// The plugin.wasm under test is built with the same engine.
var engineBuildTags []string

// The meshaccel engine never sleeps or starts timers: it runs on hosts
// whose poll_oneoff fails.
const engineNeedsPollOneoff = false

const engineRunsOnOlderEnvoy = true
