// Command meshaccel-image builds the container image of a static meshaccel binary
// (meshaccel-operator, meshaccel-bypass) from scratch, reproducibly, and writes it as an OCI
// layout, a tarball and/or pushes it to a registry. `make images` runs it for both images.
//
//	meshaccel-image -binary .cache/images/bin/meshaccel-operator -version 0.1.0 -user nonroot \
//	    -oci-layout out/layout -tarball out/image.tar -push registry.example/meshaccel/meshaccel-operator:0.1.0
//
// It prints the image reference and its digest.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/meshaccel/meshaccel/internal/containerimage"
	"github.com/meshaccel/meshaccel/wasm-waf/image"
)

// defaultRepositoryPrefix is where the Helm chart and kustomize pull the images from by default,
// so that a loaded tarball (kind load image-archive, docker load) is the image they reference.
const defaultRepositoryPrefix = "ghcr.io/meshaccel/"

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return
		}
		fmt.Fprintln(os.Stderr, "meshaccel-image:", err)
		os.Exit(2)
	}
}

func run(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("meshaccel-image", flag.ContinueOnError)
	fs.SetOutput(stderr)
	binaryPath := fs.String("binary", "", "static linux/amd64 binary to package; required")
	imageName := fs.String("name", "", "image name, also the binary's name in /usr/local/bin (default: the -binary file name)")
	version := fs.String("version", "", "image version: the org.opencontainers.image.version label and the default tag; required")
	user := fs.String("user", "nonroot", "account the entrypoint runs as: nonroot (65532) or root")
	layoutDir := fs.String("oci-layout", "", "write the image into this OCI layout directory")
	tarballPath := fs.String("tarball", "", "write the image as a tarball (docker save format) to this file")
	pushRef := fs.String("push", "", "push the image to this reference (registry/repository:tag)")
	insecure := fs.Bool("insecure", false, "allow plain HTTP to the -push registry (loopback registries always use HTTP)")
	tag := fs.String("tag", "", "name of the image in the layout and tarball (default: the -push reference, else "+defaultRepositoryPrefix+"<name>:<version>)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if *binaryPath == "" {
		return errors.New("-binary is required")
	}
	if *version == "" {
		return errors.New("-version is required")
	}
	nameFromBinary := *imageName == ""
	if nameFromBinary {
		*imageName = filepath.Base(*binaryPath)
	}
	var push name.Reference
	if *pushRef != "" {
		var err error
		if push, err = image.PushReference(*pushRef, *insecure); err != nil {
			return fmt.Errorf("-push %q: %w", *pushRef, err)
		}
	}
	ref := *tag
	switch {
	case ref != "":
		if _, err := name.NewTag(ref); err != nil {
			return fmt.Errorf("-tag %q: %w", ref, err)
		}
	case *pushRef != "":
		ref = *pushRef
	default:
		ref = defaultRepositoryPrefix + *imageName + ":" + *version
	}

	binary, err := os.ReadFile(*binaryPath)
	if err != nil {
		return fmt.Errorf("-binary: %w", err)
	}
	img, err := containerimage.Build(containerimage.Spec{Name: *imageName, Version: *version, User: *user, Binary: binary})
	if err != nil {
		return flagError(err, *binaryPath, nameFromBinary)
	}
	fmt.Fprintf(stdout, "image    %s\n", ref)
	fmt.Fprintf(stdout, "digest   %s\n", img.Digest)
	if *layoutDir != "" {
		if err := image.WriteLayout(img.Image, *layoutDir, ref); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "layout   %s\n", *layoutDir)
	}
	if *tarballPath != "" {
		if err := image.WriteTarball(img.Image, *tarballPath, ref); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "tarball  %s\n", *tarballPath)
	}
	if *pushRef != "" {
		pinned, err := image.Push(img.Image, push, remote.WithUserAgent("meshaccel-image"))
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "pushed   %s\n", pinned)
	}
	return nil
}

// flagError names the flag and value behind an invalid spec field (the Spec fields are named
// after the flags).
func flagError(err error, binaryPath string, nameFromBinary bool) error {
	var invalid *containerimage.SpecError
	if !errors.As(err, &invalid) {
		return err
	}
	switch {
	case invalid.Field == "binary":
		return fmt.Errorf("-binary %s: %s", binaryPath, invalid.Reason)
	case invalid.Field == "name" && nameFromBinary:
		return fmt.Errorf("-name %q (the -binary file name; set -name): %s", invalid.Value, invalid.Reason)
	}
	return fmt.Errorf("-%s %q: %s", invalid.Field, invalid.Value, invalid.Reason)
}
