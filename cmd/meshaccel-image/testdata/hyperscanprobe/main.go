// Command hyperscanprobe prints the operator's Hyperscan compatibility verdict (Hyperscan and RE2
// through cgo) for each regex argument, one JSON object per line. `make test-images` links it the
// way the operator image's binary is linked, fully static, and the tests run it inside the image's
// root filesystem: the C and C++ libraries the checker needs must all be in the binary.
package main

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/meshaccel/meshaccel/hyperscan/regexcompat"
)

func main() {
	checker := regexcompat.NewChecker()
	out := json.NewEncoder(os.Stdout)
	for _, regex := range os.Args[1:] {
		if err := out.Encode(checker.CheckRegex(regex)); err != nil {
			fmt.Fprintln(os.Stderr, "hyperscanprobe:", err)
			os.Exit(1)
		}
	}
}
