package bypassbench

import (
	"fmt"
	"os"
	"sync"
	"testing"
)

var (
	setupOnce sync.Once
	env       *Env
	setupErr  error
)

// TestMain undoes the environment that the benchmarks set up on first use (plain `go test`
// runs no benchmark and sets up nothing).
func TestMain(m *testing.M) {
	code := m.Run()
	if env != nil {
		if err := env.Close(); err != nil {
			fmt.Fprintln(os.Stderr, "benchmark cleanup:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// BenchmarkSidecarChain: request/response through client → outbound sidecar → inbound sidecar →
// server on loopback, over the normal TCP stack and with the bypass.
func BenchmarkSidecarChain(b *testing.B) {
	setupOnce.Do(func() { env, setupErr = Setup() })
	if setupErr != nil {
		b.Skipf("skipped: %v", setupErr)
	}
	for _, c := range Cases() {
		b.Run(c.Name(), func(b *testing.B) { Run(b, env, c) })
	}
}
