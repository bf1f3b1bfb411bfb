package image

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// testWasm is a valid empty Wasm module followed by a custom section, so
// that different payloads give different modules.
func testWasm(payload string) []byte {
	b := []byte("\x00asm\x01\x00\x00\x00")
	section := append([]byte{byte(len("x"))}, "x"...)
	section = append(section, payload...)
	b = append(b, 0x00, byte(len(section)))
	return append(b, section...)
}

func TestBuildIsReproducible(t *testing.T) {
	wasm := testWasm("plugin v1")
	first, err := Build(wasm)
	if err != nil {
		t.Fatal(err)
	}
	second, err := Build(bytes.Clone(wasm))
	if err != nil {
		t.Fatal(err)
	}
	if first.Digest != second.Digest {
		t.Fatalf("two builds of the same plugin differ: %s vs %s", first.Digest, second.Digest)
	}
	other, err := Build(testWasm("plugin v2"))
	if err != nil {
		t.Fatal(err)
	}
	if other.Digest == first.Digest {
		t.Fatal("a different plugin gave the same digest")
	}

	// The written forms are byte-identical too.
	dirA, dirB := t.TempDir(), t.TempDir()
	for _, dir := range []string{dirA, dirB} {
		if err := first.WriteLayout(filepath.Join(dir, "layout"), "waf:test"); err != nil {
			t.Fatal(err)
		}
		if err := first.WriteTarball(filepath.Join(dir, "image.tar"), "example.com/waf:test"); err != nil {
			t.Fatal(err)
		}
	}
	if a, b := treeDigest(t, dirA), treeDigest(t, dirB); a != b {
		t.Fatalf("layout and tarball differ between identical builds:\n%s\n%s", a, b)
	}
}

func treeDigest(t *testing.T, root string) string {
	t.Helper()
	var sb strings.Builder
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		sum := sha256.Sum256(data)
		sb.WriteString(rel + " " + hex.EncodeToString(sum[:]) + "\n")
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return sb.String()
}

// Istio accepts a Wasm OCI image with exactly one tar+gzip layer holding a
// file named plugin.wasm.
func TestImageHasTheShapeIstioLoads(t *testing.T) {
	wasm := testWasm("shape")
	img, err := Build(wasm)
	if err != nil {
		t.Fatal(err)
	}
	mt, err := img.Image.MediaType()
	if err != nil || mt != types.OCIManifestSchema1 {
		t.Errorf("manifest media type = %q (%v), want %q", mt, err, types.OCIManifestSchema1)
	}
	m, err := img.Image.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	if m.Config.MediaType != types.OCIConfigJSON {
		t.Errorf("config media type = %q", m.Config.MediaType)
	}
	if len(m.Layers) != 1 || m.Layers[0].MediaType != "application/vnd.oci.image.layer.v1.tar+gzip" {
		t.Fatalf("layers = %+v, want one application/vnd.oci.image.layer.v1.tar+gzip layer", m.Layers)
	}
	layers, _ := img.Image.Layers()
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	var names []string
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, hdr.Name)
		data, _ := io.ReadAll(tr)
		if hdr.Name == WasmFileName && !bytes.Equal(data, wasm) {
			t.Error("plugin.wasm in the layer differs from the input")
		}
		if !hdr.ModTime.Equal(Epoch) {
			t.Errorf("%s has mtime %v, want the epoch", hdr.Name, hdr.ModTime)
		}
	}
	if len(names) != 1 || names[0] != WasmFileName {
		t.Errorf("layer entries = %q, want [plugin.wasm]", names)
	}
	sum := sha256.Sum256(wasm)
	if img.WasmSHA256 != hex.EncodeToString(sum[:]) || img.Size != int64(len(wasm)) {
		t.Errorf("WasmSHA256/Size = %s/%d", img.WasmSHA256, img.Size)
	}
}

func TestBuildRejectsNonWasm(t *testing.T) {
	if _, err := Build([]byte("#!/bin/sh\necho")); err == nil || !strings.Contains(err.Error(), "not a WebAssembly module") {
		t.Fatalf("Build(shell script) = %v", err)
	}
}

// A registry reached over plain HTTP under a name that is not loopback's (a registry inside a
// cluster, a lab machine): pushing needs --insecure, and gets through with it. The transport
// takes every connection to the test registry, whatever the name.
func TestPushOverPlainHTTPNeedsInsecure(t *testing.T) {
	srv := httptest.NewServer(registry.New(registry.Logger(nilLogger())))
	defer srv.Close()
	toRegistry := remote.WithTransport(&http.Transport{DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, srv.Listener.Addr().String())
	}})
	img, err := Build(testWasm("insecure"))
	if err != nil {
		t.Fatal(err)
	}
	const ref = "registry.lab.example:5000/meshaccel/waf-plugin:v1"
	secure, err := PushReference(ref, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := img.Push(secure, toRegistry); err == nil {
		t.Fatalf("push to %s over plain HTTP without insecure succeeded; it must insist on TLS", ref)
	}
	insecure, err := PushReference(ref, true)
	if err != nil {
		t.Fatal(err)
	}
	pinned, err := img.Push(insecure, toRegistry)
	if err != nil {
		t.Fatalf("push with insecure: %v", err)
	}
	if pinned.DigestStr() != img.Digest.String() {
		t.Errorf("pushed digest %s, built %s", pinned.DigestStr(), img.Digest)
	}
}

func TestPushAndPullFromRegistry(t *testing.T) {
	srv := httptest.NewServer(registry.New(registry.Logger(nilLogger())))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")

	wasm := testWasm("pushed")
	img, err := Build(wasm)
	if err != nil {
		t.Fatal(err)
	}
	ref := host + "/meshaccel/waf-plugin:v1"
	pushTo, err := PushReference(ref, false)
	if err != nil {
		t.Fatal(err)
	}
	pinned, err := img.Push(pushTo)
	if err != nil {
		t.Fatal(err)
	}
	if pinned.DigestStr() != img.Digest.String() {
		t.Errorf("pushed digest %s, built %s", pinned.DigestStr(), img.Digest)
	}

	for _, r := range []string{ref, pinned.String()} {
		parsed, err := name.ParseReference(r)
		if err != nil {
			t.Fatal(err)
		}
		pulled, err := remote.Image(parsed)
		if err != nil {
			t.Fatalf("pulling %s: %v", r, err)
		}
		d, err := pulled.Digest()
		if err != nil || d != img.Digest {
			t.Fatalf("pulled %s has digest %s (%v), want %s", r, d, err, img.Digest)
		}
		got, err := ExtractWasm(pulled)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, wasm) {
			t.Fatalf("plugin.wasm pulled from %s differs", r)
		}
	}
}

func TestLayoutAndTarballReadBack(t *testing.T) {
	wasm := testWasm("read back")
	img, err := Build(wasm)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	lp := filepath.Join(dir, "layout")
	// Writing twice under the same ref replaces instead of duplicating.
	for i := 0; i < 2; i++ {
		if err := img.WriteLayout(lp, "waf:v1"); err != nil {
			t.Fatal(err)
		}
	}
	p, err := layout.FromPath(lp)
	if err != nil {
		t.Fatal(err)
	}
	idx, err := p.ImageIndex()
	if err != nil {
		t.Fatal(err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(im.Manifests) != 1 || im.Manifests[0].Digest != img.Digest {
		t.Fatalf("layout index = %+v, want one manifest %s", im.Manifests, img.Digest)
	}
	fromLayout, err := p.Image(img.Digest)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := ExtractWasm(fromLayout); err != nil || !bytes.Equal(got, wasm) {
		t.Fatalf("plugin.wasm from the layout: %v", err)
	}

	tb := filepath.Join(dir, "image.tar")
	if err := img.WriteTarball(tb, "example.com/meshaccel/waf-plugin:v1"); err != nil {
		t.Fatal(err)
	}
	tag, _ := name.NewTag("example.com/meshaccel/waf-plugin:v1")
	fromTar, err := tarball.ImageFromPath(tb, &tag)
	if err != nil {
		t.Fatal(err)
	}
	// The docker-save format keeps the config and layer blobs, not the OCI
	// manifest: compare those.
	wantCfg, _ := img.Image.ConfigName()
	if got, _ := fromTar.ConfigName(); got != wantCfg {
		t.Fatalf("tarball config digest %s, want %s", got, wantCfg)
	}
	wantLayers, _ := img.Image.Layers()
	gotLayers, _ := fromTar.Layers()
	if len(gotLayers) != 1 {
		t.Fatalf("tarball has %d layers", len(gotLayers))
	}
	wd, _ := wantLayers[0].Digest()
	if gd, _ := gotLayers[0].Digest(); gd != wd {
		t.Fatalf("tarball layer digest %s, want %s", gd, wd)
	}
	if got, err := ExtractWasm(fromTar); err != nil || !bytes.Equal(got, wasm) {
		t.Fatalf("plugin.wasm from the tarball: %v", err)
	}
}
