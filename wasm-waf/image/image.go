// Package image packages plugin.wasm as the OCI image Istio's WasmPlugin
// pulls (url: oci://...): one tar+gzip layer
// (application/vnd.oci.image.layer.v1.tar+gzip) holding a single file named
// plugin.wasm. The image is reproducible: the same plugin.wasm always gives
// the same manifest digest, so the digest can pin the plugin in a WasmPlugin
// (sha256) and in reviews.
package image

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/match"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// WasmFileName is the file Istio looks for in the layer.
const WasmFileName = "plugin.wasm"

// epoch is every timestamp in the image, for reproducible digests.
var epoch = time.Unix(0, 0).UTC()

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
	layerBytes, err := wasmLayer(wasm)
	if err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerBytes)), nil
	}, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, fmt.Errorf("image: layer: %w", err)
	}

	base := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	cfg, err := base.ConfigFile()
	if err != nil {
		return nil, err
	}
	cfg = cfg.DeepCopy()
	cfg.Architecture, cfg.OS = "wasm", "wasip1"
	cfg.Created = v1.Time{Time: epoch}
	if base, err = mutate.ConfigFile(base, cfg); err != nil {
		return nil, err
	}
	img, err := mutate.Append(base, mutate.Addendum{
		Layer:     layer,
		MediaType: types.OCILayer,
		History:   v1.History{Created: v1.Time{Time: epoch}, CreatedBy: "meshaccel wasm-image", Comment: WasmFileName},
	})
	if err != nil {
		return nil, fmt.Errorf("image: %w", err)
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

// wasmLayer is the gzipped tar holding plugin.wasm, with fixed metadata.
func wasmLayer(wasm []byte) ([]byte, error) {
	var tarBuf bytes.Buffer
	tw := tar.NewWriter(&tarBuf)
	hdr := &tar.Header{
		Typeflag: tar.TypeReg,
		Name:     WasmFileName,
		Mode:     0o444,
		Size:     int64(len(wasm)),
		ModTime:  epoch,
		Format:   tar.FormatUSTAR,
	}
	if err := tw.WriteHeader(hdr); err != nil {
		return nil, fmt.Errorf("image: tar header: %w", err)
	}
	if _, err := tw.Write(wasm); err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	var gzBuf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&gzBuf, gzip.BestCompression)
	if err != nil {
		return nil, err
	}
	// The gzip header carries no name and a zero modification time.
	if _, err := zw.Write(tarBuf.Bytes()); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return gzBuf.Bytes(), nil
}

// refNameAnnotation names an image in an OCI layout's index.
const refNameAnnotation = "org.opencontainers.image.ref.name"

// WriteLayout writes the image into the OCI layout at dir (created when
// missing), replacing an image of the same ref name.
func (i *Image) WriteLayout(dir, refName string) error {
	p, err := layout.FromPath(dir)
	if err != nil {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("image: OCI layout %s: %w", dir, err)
		}
		if p, err = layout.Write(dir, empty.Index); err != nil {
			return fmt.Errorf("image: OCI layout %s: %w", dir, err)
		}
	}
	anns := map[string]string{refNameAnnotation: refName}
	if err := p.ReplaceImage(i.Image, match.Annotation(refNameAnnotation, refName), layout.WithAnnotations(anns)); err != nil {
		return fmt.Errorf("image: OCI layout %s: %w", dir, err)
	}
	return nil
}

// WriteTarball writes the image as a tarball (the `docker save` format,
// loadable by docker, podman, crane and kind) tagged ref.
func (i *Image) WriteTarball(path, ref string) error {
	tag, err := name.NewTag(ref)
	if err != nil {
		return fmt.Errorf("image: tarball tag %q: %w", ref, err)
	}
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
	}
	tmp := path + ".tmp"
	if err := tarball.WriteToFile(tmp, tag, i.Image); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("image: tarball %s: %w", path, err)
	}
	return os.Rename(tmp, path)
}

// Push uploads the image to ref (registry/repository:tag) with the
// credentials of the default keychain (docker config, credential helpers).
// It returns the pushed reference pinned by digest.
func (i *Image) Push(ref string, opts ...remote.Option) (name.Digest, error) {
	r, err := name.ParseReference(ref)
	if err != nil {
		return name.Digest{}, fmt.Errorf("image: push reference %q: %w", ref, err)
	}
	opts = append([]remote.Option{remote.WithAuthFromKeychain(authn.DefaultKeychain)}, opts...)
	if err := remote.Write(r, i.Image, opts...); err != nil {
		return name.Digest{}, fmt.Errorf("image: pushing %s: %w", r, err)
	}
	return r.Context().Digest(i.Digest.String()), nil
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
