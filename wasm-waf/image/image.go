// Package image packages plugin.wasm as the OCI image Istio's WasmPlugin
// pulls (url: oci://...): one tar+gzip layer
// (application/vnd.oci.image.layer.v1.tar+gzip) holding a single file named
// plugin.wasm. The image is reproducible: the same plugin.wasm always gives
// the same manifest digest, so the digest can pin the plugin in a WasmPlugin
// (sha256) and in reviews.
//
// The generic parts (reproducible layers and configs, OCI layout, tarball,
// push; oci.go) also build the operator and bypass agent images.
package image

import (
	"archive/tar"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// WasmFileName is the file Istio looks for in the layer.
const WasmFileName = "plugin.wasm"

// Image is a built plugin image.
type Image struct {
	// Image is the OCI image.
	Image v1.Image
	// Digest is the manifest digest ("sha256:..."): the value for a
	// WasmPlugin's sha256 field (without the prefix) or an @digest URL.
	Digest v1.Hash
	// WasmSHA256 is the hex sha256 of plugin.wasm, the value a WasmPlugin's
	// sha256 field takes when the module is fetched over http(s).
	WasmSHA256 string
	// Size is the size of plugin.wasm in bytes.
	Size int64
}

// Build packages wasm (the compiled plugin) as an image.
func Build(wasm []byte) (*Image, error) {
	if len(wasm) < 8 || string(wasm[:4]) != "\x00asm" {
		return nil, errors.New("image: the input is not a WebAssembly module (no \\0asm header)")
	}
	layer, err := Layer([]LayerFile{{Path: WasmFileName, Mode: 0o444, Data: wasm}}, gzip.BestCompression)
	if err != nil {
		return nil, err
	}
	img, err := FromLayers(func(cfg *v1.ConfigFile) {
		cfg.Architecture, cfg.OS = "wasm", "wasip1"
	}, mutate.Addendum{
		Layer:   layer,
		History: v1.History{CreatedBy: "meshaccel wasm-image", Comment: WasmFileName},
	})
	if err != nil {
		return nil, err
	}
	img = mutate.Annotations(img, map[string]string{
		"org.opencontainers.image.title":       "meshaccel WAF proxy-wasm plugin",
		"org.opencontainers.image.description": "OWASP CRS compatible web application firewall for Envoy (Istio WasmPlugin)",
	}).(v1.Image)
	digest, err := img.Digest()
	if err != nil {
		return nil, fmt.Errorf("image: digest: %w", err)
	}
	sum := sha256.Sum256(wasm)
	return &Image{Image: img, Digest: digest, WasmSHA256: hex.EncodeToString(sum[:]), Size: int64(len(wasm))}, nil
}

// BuildFile packages the plugin at path.
func BuildFile(path string) (*Image, error) {
	wasm, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("image: reading the plugin: %w", err)
	}
	return Build(wasm)
}

// WriteLayout writes the image into the OCI layout at dir (created when
// missing), replacing an image of the same ref name.
func (i *Image) WriteLayout(dir, refName string) error { return WriteLayout(i.Image, dir, refName) }

// WriteTarball writes the image as a tarball (the `docker save` format,
// loadable by docker, podman, crane and kind) tagged ref.
func (i *Image) WriteTarball(path, ref string) error { return WriteTarball(i.Image, path, ref) }

// Push uploads the image to ref (PushReference) with the credentials of the
// default keychain (docker config, credential helpers). It returns the pushed
// reference pinned by digest.
func (i *Image) Push(ref name.Reference, opts ...remote.Option) (name.Digest, error) {
	return Push(i.Image, ref, opts...)
}

// ExtractWasm returns plugin.wasm from an image built by Build (or any
// single-layer Istio Wasm image).
func ExtractWasm(img v1.Image) ([]byte, error) {
	layers, err := img.Layers()
	if err != nil {
		return nil, err
	}
	if len(layers) != 1 {
		return nil, fmt.Errorf("image: %d layers, want 1", len(layers))
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("image: no %s in the layer", WasmFileName)
		}
		if err != nil {
			return nil, err
		}
		if hdr.Name == WasmFileName {
			return io.ReadAll(tr)
		}
	}
}
