package main

import (
	"bytes"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/meshaccel/meshaccel/wasm-waf/image"
)

func TestWasmImageWritesAndPushes(t *testing.T) {
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	dir := t.TempDir()
	wasmPath := filepath.Join(dir, "plugin.wasm")
	wasm := []byte("\x00asm\x01\x00\x00\x00\x00\x04\x03abc")
	if err := os.WriteFile(wasmPath, wasm, 0o644); err != nil {
		t.Fatal(err)
	}
	ref := strings.TrimPrefix(srv.URL, "http://") + "/meshaccel/waf-plugin:test"
	var out bytes.Buffer
	err := run([]string{
		"--wasm", wasmPath,
		"--oci-layout", filepath.Join(dir, "layout"),
		"--tarball", filepath.Join(dir, "image.tar"),
		"--push", ref,
	}, &out, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	built, err := image.Build(wasm)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"image digest  " + built.Digest.String(),
		"plugin.wasm   sha256:" + built.WasmSHA256,
		"pushed        " + ref[:strings.LastIndex(ref, ":")] + "@" + built.Digest.String(),
		"sha256: " + built.Digest.Hex,
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	for _, p := range []string{"layout/index.json", "image.tar"} {
		if _, err := os.Stat(filepath.Join(dir, p)); err != nil {
			t.Errorf("%s not written: %v", p, err)
		}
	}
	r, _ := name.ParseReference(ref)
	pulled, err := remote.Image(r)
	if err != nil {
		t.Fatal(err)
	}
	if d, _ := pulled.Digest(); d != built.Digest {
		t.Errorf("registry holds %s, want %s", d, built.Digest)
	}
}

func TestWasmImageFlagErrors(t *testing.T) {
	dir := t.TempDir()
	notWasm := filepath.Join(dir, "x.txt")
	_ = os.WriteFile(notWasm, []byte("hello"), 0o644)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "--wasm is required"},
		{[]string{"--wasm", filepath.Join(dir, "missing.wasm")}, "reading the plugin"},
		{[]string{"--wasm", notWasm}, "not a WebAssembly module"},
		{[]string{"--wasm", notWasm, "extra"}, "unexpected arguments"},
	} {
		err := run(tc.args, io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("run(%q) = %v, want an error mentioning %q", tc.args, err, tc.want)
		}
	}
}
