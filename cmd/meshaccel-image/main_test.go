package main

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"debug/elf"
	"encoding/json"
	"errors"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/meshaccel/meshaccel/hyperscan"
)

// releaseImages are the images `make images` builds, with the users the chart runs them as.
var releaseImages = []struct{ name, user, uidGID string }{
	{"meshaccel-operator", "nonroot", "65532:65532"},
	{"meshaccel-bypass", "root", "0:0"},
}

// binariesDir is where `make test-images` links the release binaries and hyperscanprobe, statically.
func binariesDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("MESHACCEL_IMAGE_BINARIES")
	if dir == "" {
		t.Skip("MESHACCEL_IMAGE_BINARIES is not set: `make test-images` builds the static binaries and sets it")
	}
	return dir
}

// runImage runs the command and returns the digest it printed and its whole output.
func runImage(t *testing.T, args ...string) (v1.Hash, string) {
	t.Helper()
	var out bytes.Buffer
	if err := run(args, &out, io.Discard); err != nil {
		t.Fatalf("meshaccel-image %q: %v", args, err)
	}
	for _, line := range strings.Split(out.String(), "\n") {
		if rest, ok := strings.CutPrefix(line, "digest"); ok {
			d, err := v1.NewHash(strings.TrimSpace(rest))
			if err != nil {
				t.Fatalf("digest line %q: %v", line, err)
			}
			return d, out.String()
		}
	}
	t.Fatalf("no digest in the output:\n%s", out.String())
	return v1.Hash{}, ""
}

func TestReleaseBinariesAreFullyStatic(t *testing.T) {
	dir := binariesDir(t)
	for _, binary := range []string{"meshaccel-operator", "meshaccel-bypass", "hyperscanprobe"} {
		f, err := elf.Open(filepath.Join(dir, binary))
		if err != nil {
			t.Fatalf("%s: %v", binary, err)
		}
		defer f.Close()
		if f.Machine != elf.EM_X86_64 {
			t.Errorf("%s: machine %s, want x86-64", binary, f.Machine)
		}
		for _, p := range f.Progs {
			if p.Type == elf.PT_INTERP {
				t.Errorf("%s has a PT_INTERP program header: it needs a dynamic loader", binary)
			}
		}
		needed, err := f.DynString(elf.DT_NEEDED)
		if err != nil || len(needed) > 0 {
			t.Errorf("%s: DT_NEEDED %q (%v), want none", binary, needed, err)
		}
	}
}

func TestReleaseImagesAreReproducibleAndReadBackFromLayoutTarballAndRegistry(t *testing.T) {
	bins := binariesDir(t)
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")

	for _, ri := range releaseImages {
		binary := filepath.Join(bins, ri.name)
		pushRef := host + "/meshaccel/" + ri.name + ":0.1.0"
		first, second := t.TempDir(), t.TempDir()
		digest, out := runImage(t, "-binary", binary, "-version", "0.1.0", "-user", ri.user,
			"-oci-layout", filepath.Join(first, "layout"), "-tarball", filepath.Join(first, "image.tar"), "-push", pushRef)
		again, _ := runImage(t, "-binary", binary, "-version", "0.1.0", "-user", ri.user,
			"-oci-layout", filepath.Join(second, "layout"), "-tarball", filepath.Join(second, "image.tar"), "-tag", pushRef)
		if again != digest {
			t.Errorf("%s: two builds of the same binary: %s, then %s", ri.name, digest, again)
		}
		for _, f := range []string{"image.tar", "layout/index.json"} {
			if a, b := fileSHA256(t, filepath.Join(first, f)), fileSHA256(t, filepath.Join(second, f)); a != b {
				t.Errorf("%s: %s differs between two builds", ri.name, f)
			}
		}
		pinned := host + "/meshaccel/" + ri.name + "@" + digest.String()
		for _, want := range []string{"image    " + pushRef, "pushed   " + pinned} {
			if !strings.Contains(out, want) {
				t.Errorf("%s: output lacks %q:\n%s", ri.name, want, out)
			}
		}

		p, err := layout.FromPath(filepath.Join(first, "layout"))
		if err != nil {
			t.Fatal(err)
		}
		index, err := p.ImageIndex()
		if err != nil {
			t.Fatal(err)
		}
		im, err := index.IndexManifest()
		if err != nil {
			t.Fatal(err)
		}
		if len(im.Manifests) != 1 || im.Manifests[0].Digest != digest ||
			im.Manifests[0].Annotations["org.opencontainers.image.ref.name"] != pushRef {
			t.Errorf("%s: layout index %+v, want one manifest %s named %s", ri.name, im.Manifests, digest, pushRef)
		}
		fromLayout, err := p.Image(digest)
		if err != nil {
			t.Fatalf("%s: the layout lacks %s: %v", ri.name, digest, err)
		}
		checkConfig(t, ri.name, fromLayout, ri.uidGID)

		// The docker-save format keeps the config and the layers, not the OCI manifest.
		tag, _ := name.NewTag(pushRef)
		fromTarball, err := tarball.ImageFromPath(filepath.Join(first, "image.tar"), &tag)
		if err != nil {
			t.Fatalf("%s: tarball tagged %s: %v", ri.name, pushRef, err)
		}
		sameConfigAndLayers(t, ri.name+" tarball", fromTarball, fromLayout)

		for _, ref := range []string{pushRef, pinned} {
			r, err := name.ParseReference(ref)
			if err != nil {
				t.Fatal(err)
			}
			pulled, err := remote.Image(r)
			if err != nil {
				t.Fatalf("pulling %s: %v", ref, err)
			}
			if d, err := pulled.Digest(); err != nil || d != digest {
				t.Errorf("pulled %s: digest %s (%v), want %s", ref, d, err, digest)
			}
			sameConfigAndLayers(t, "pulled "+ref, pulled, fromLayout)
		}
	}
}

func fileSHA256(t *testing.T, path string) [sha256.Size]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(b)
}

func checkConfig(t *testing.T, imageName string, img v1.Image, uidGID string) {
	t.Helper()
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	c := cf.Config
	if cf.OS != "linux" || cf.Architecture != "amd64" || c.User != uidGID ||
		len(c.Entrypoint) != 1 || c.Entrypoint[0] != "/usr/local/bin/"+imageName ||
		c.Labels["org.opencontainers.image.title"] != imageName || c.Labels["org.opencontainers.image.version"] != "0.1.0" {
		t.Errorf("%s: config %s/%s user %q entrypoint %q labels %v; want linux/amd64, %s, [/usr/local/bin/%s], title %s version 0.1.0",
			imageName, cf.OS, cf.Architecture, c.User, c.Entrypoint, c.Labels, uidGID, imageName, imageName)
	}
}

func sameConfigAndLayers(t *testing.T, what string, got, want v1.Image) {
	t.Helper()
	gotConfig, err := got.ConfigName()
	if err != nil {
		t.Fatal(err)
	}
	if wantConfig, _ := want.ConfigName(); gotConfig != wantConfig {
		t.Errorf("%s: config %s, want %s", what, gotConfig, wantConfig)
	}
	gotLayers, err := got.Layers()
	if err != nil {
		t.Fatal(err)
	}
	wantLayers, _ := want.Layers()
	if len(gotLayers) != len(wantLayers) {
		t.Fatalf("%s: %d layers, want %d", what, len(gotLayers), len(wantLayers))
	}
	for i := range wantLayers {
		g, _ := gotLayers[i].Digest()
		w, _ := wantLayers[i].Digest()
		if g != w {
			t.Errorf("%s: layer %d is %s, want %s", what, i, g, w)
		}
	}
}

// unpack writes img's filesystem under dir as a container runtime would, owners and modes
// included.
func unpack(t *testing.T, img v1.Image, dir string) {
	t.Helper()
	rc := mutate.Extract(img)
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, hdr.Name)
		switch hdr.Typeflag {
		case tar.TypeDir:
			err = os.MkdirAll(path, 0o700)
		case tar.TypeReg:
			var data []byte
			if data, err = io.ReadAll(tr); err == nil {
				err = os.WriteFile(path, data, 0o600)
			}
		default:
			t.Fatalf("%s: unexpected tar entry type %c", hdr.Name, hdr.Typeflag)
		}
		if err == nil {
			err = os.Lchown(path, hdr.Uid, hdr.Gid)
		}
		if err == nil {
			err = os.Chmod(path, hdr.FileInfo().Mode())
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

// runInImage runs the image's entrypoint with args in its own root filesystem (chroot), as its
// user, in its working directory, with its environment only.
func runInImage(t *testing.T, img v1.Image, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	unpack(t, img, root)
	uid, gid, ok := strings.Cut(cf.Config.User, ":")
	u, uidErr := strconv.ParseUint(uid, 10, 32)
	g, gidErr := strconv.ParseUint(gid, 10, 32)
	if !ok || uidErr != nil || gidErr != nil {
		t.Fatalf("config user %q is not numeric uid:gid", cf.Config.User)
	}
	cmd := exec.Command(cf.Config.Entrypoint[0], args...)
	cmd.Env = cf.Config.Env
	cmd.Dir = cf.Config.WorkingDir
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Chroot:     root,
		Credential: &syscall.Credential{Uid: uint32(u), Gid: uint32(g), Groups: []uint32{}},
	}
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	return out.String(), errOut.String(), err
}

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("running an image's entrypoint in its root filesystem needs root (chroot, setuid)")
	}
}

func layoutImage(t *testing.T, dir string, digest v1.Hash) v1.Image {
	t.Helper()
	p, err := layout.FromPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	img, err := p.Image(digest)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func TestReleaseImagesRunTheirEntrypointInTheirOwnRootFilesystem(t *testing.T) {
	bins := binariesDir(t)
	needRoot(t)
	for _, ri := range []struct{ name, user, usageMentions string }{
		{"meshaccel-operator", "nonroot", "-regex-checker"},
		{"meshaccel-bypass", "root", "Usage: meshaccel-bypass"},
	} {
		dir := filepath.Join(t.TempDir(), "layout")
		digest, _ := runImage(t, "-binary", filepath.Join(bins, ri.name), "-version", "0.1.0", "-user", ri.user, "-oci-layout", dir)
		img := layoutImage(t, dir, digest)
		stdout, stderr, err := runInImage(t, img, "--help")
		if err != nil {
			t.Errorf("%s --help in its image: %v\n%s%s", ri.name, err, stdout, stderr)
		} else if !strings.Contains(stdout+stderr, ri.usageMentions) {
			t.Errorf("%s --help printed no usage mentioning %q:\n%s%s", ri.name, ri.usageMentions, stdout, stderr)
		}
	}
}

// The operator's Hyperscan checker compiles regexes with Hyperscan and RE2 (C++, linked
// statically): hyperscanprobe, linked the same way, checks three in an image of its own, where
// there is no shared library to fall back on.
func TestStaticHyperscanAndRE2WorkInAnImage(t *testing.T) {
	bins := binariesDir(t)
	needRoot(t)
	dir := filepath.Join(t.TempDir(), "layout")
	digest, _ := runImage(t, "-binary", filepath.Join(bins, "hyperscanprobe"), "-version", "test", "-user", "nonroot", "-oci-layout", dir)
	want := []struct {
		regex      string
		equivalent bool
		kind       hyperscan.DifferenceKind
	}{
		{`\A/api/[^/]+\z`, true, ""},                  // compiled and probed by both engines
		{`(?U)a+b`, false, hyperscan.DiffUnsupported}, // Hyperscan's compile error
		{`(a|b`, false, hyperscan.DiffInvalidRE2},     // RE2's parse error
	}
	args := make([]string, len(want))
	for i, w := range want {
		args[i] = w.regex
	}
	stdout, stderr, err := runInImage(t, layoutImage(t, dir, digest), args...)
	if err != nil {
		t.Fatalf("hyperscanprobe in its image: %v\n%s", err, stderr)
	}
	dec := json.NewDecoder(strings.NewReader(stdout))
	for _, w := range want {
		var v hyperscan.RegexVerdict
		if err := dec.Decode(&v); err != nil {
			t.Fatalf("verdict for %q: %v\n%s", w.regex, err, stdout)
		}
		if v.Regex != w.regex || v.Equivalent != w.equivalent || (w.kind != "" && (len(v.Differences) == 0 || v.Differences[0].Kind != w.kind)) {
			t.Errorf("verdict %+v, want %q equivalent=%v first difference %q", v, w.regex, w.equivalent, w.kind)
		}
	}
}

func TestFlagErrorsNameTheFlagAndValue(t *testing.T) {
	dir := t.TempDir()
	script := filepath.Join(dir, "Run.SH")
	if err := os.WriteFile(script, []byte("#!/bin/sh\necho hello\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	valid := []string{"-binary", script, "-name", "meshaccel-operator", "-version", "0.1.0"}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "-binary is required"},
		{[]string{"-binary", script}, "-version is required"},
		{[]string{"-binary", filepath.Join(dir, "missing"), "-version", "0.1.0"}, "-binary: open " + filepath.Join(dir, "missing")},
		{valid, "-binary " + script + ": not an ELF executable"},
		{[]string{"-binary", script, "-version", "0.1.0"}, `-name "Run.SH" (the -binary file name; set -name): want lowercase`},
		{slices.Concat(valid, []string{"-name", "Operator"}), `-name "Operator": want lowercase`},
		{slices.Concat(valid, []string{"-version", "0.1.0+1"}), `-version "0.1.0+1": want a tag`},
		{slices.Concat(valid, []string{"-user", "65532"}), `-user "65532": want one of the image's accounts: root, nonroot`},
		{slices.Concat(valid, []string{"-push", "registry.example/Meshaccel:0.1.0"}), `-push "registry.example/Meshaccel:0.1.0"`},
		{slices.Concat(valid, []string{"-tag", "meshaccel@sha256:00"}), `-tag "meshaccel@sha256:00"`},
		{slices.Concat(valid, []string{"extra"}), `unexpected arguments ["extra"]`},
	} {
		err := run(tc.args, io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("meshaccel-image %q = %v, want an error containing %q", tc.args, err, tc.want)
		}
	}
}
