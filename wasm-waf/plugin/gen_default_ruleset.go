//go:build ignore

// gen_default_ruleset writes the plugin's embedded default ruleset: OWASP
// CRS v4 at paranoia level 1, compiled into the ruleset artifact.
package main

import (
	"flag"
	"log"
	"os"

	"github.com/meshaccel/meshaccel/wasm-waf/crs"
)

func main() {
	out := flag.String("o", "default_crs.ruleset", "output file")
	flag.Parse()
	rs, err := crs.Compile(crs.Options{ParanoiaLevel: 1})
	if err != nil {
		log.Fatalf("compiling the default ruleset: %v", err)
	}
	data, err := rs.MarshalBinary()
	if err != nil {
		log.Fatalf("encoding the default ruleset: %v", err)
	}
	if err := os.WriteFile(*out, data, 0o644); err != nil {
		log.Fatal(err)
	}
}
