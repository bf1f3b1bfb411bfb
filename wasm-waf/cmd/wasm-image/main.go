// Command wasm-image packages plugin.wasm as the OCI image Istio's
// WasmPlugin pulls (one tar+gzip layer holding plugin.wasm), reproducibly,
// and writes it as an OCI layout, a tarball and/or pushes it to a registry.
//
//	wasm-image --wasm plugin.wasm --oci-layout out/layout --tarball out/image.tar --push registry.example/meshaccel/waf:v1
//
// It prints the image digest (the WasmPlugin sha256 for an oci:// url) and
// the sha256 of plugin.wasm.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/meshaccel/meshaccel/wasm-waf/image"
)

const defaultRef = "meshaccel/waf-plugin:latest"

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "wasm-image:", err)
		}
		os.Exit(2)
	}
}

func run(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("wasm-image", flag.ContinueOnError)
	fs.SetOutput(stderr)
	wasmPath := fs.String("wasm", "", "compiled plugin (plugin.wasm); required")
	layoutDir := fs.String("oci-layout", "", "write the image into this OCI layout directory")
	tarballPath := fs.String("tarball", "", "write the image as a tarball (docker save format) to this file")
	pushRef := fs.String("push", "", "push the image to this reference (registry/repository:tag)")
	tag := fs.String("tag", "", "name of the image in the layout and tarball (default: the --push reference, else "+defaultRef+")")
	insecure := fs.Bool("insecure", false, "allow plain HTTP to the --push registry (loopback registries always use HTTP)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if *wasmPath == "" {
		return errors.New("--wasm is required")
	}
	ref := *tag
	if ref == "" {
		ref = defaultRef
		if *pushRef != "" {
			ref = *pushRef
		}
	}
	img, err := image.BuildFile(*wasmPath)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "image digest  %s\n", img.Digest)
	fmt.Fprintf(stdout, "plugin.wasm   sha256:%s (%d bytes)\n", img.WasmSHA256, img.Size)
	if *layoutDir != "" {
		if err := img.WriteLayout(*layoutDir, ref); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "oci layout    %s (%s)\n", *layoutDir, ref)
	}
	if *tarballPath != "" {
		if err := img.WriteTarball(*tarballPath, ref); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "tarball       %s (%s)\n", *tarballPath, ref)
	}
	if *pushRef != "" {
		r, err := image.PushReference(*pushRef, *insecure)
		if err != nil {
			return fmt.Errorf("--push %q: %w", *pushRef, err)
		}
		pinned, err := img.Push(r, remote.WithUserAgent("meshaccel-wasm-image"))
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "pushed        %s\n", pinned)
		fmt.Fprintf(stdout, "wasmplugin    url: oci://%s  sha256: %s\n", r, img.Digest.Hex)
	}
	return nil
}
