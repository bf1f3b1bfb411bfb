package wasmhost

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
)

// BuildPlugin builds the Go package in pkgDir as a wasip1 reactor
// (-buildmode=c-shared), the form Envoy loads, into out.
func BuildPlugin(ctx context.Context, pkgDir, out string, tags ...string) error {
	args := []string{"build", "-buildmode=c-shared", "-trimpath", "-o", out}
	if len(tags) > 0 {
		args = append(args, "-tags="+strings.Join(tags, ","))
	}
	args = append(args, ".")
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = pkgDir
	// GOFLAGS from the repository Makefile carries native-only build tags.
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "GOFLAGS=")
	if outb, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go %s (in %s): %w\n%s", strings.Join(args, " "), pkgDir, err, outb)
	}
	return nil
}
