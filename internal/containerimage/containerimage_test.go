package containerimage

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// helloBinary builds testdata/hello once per test process with the given cgo setting and extra
// go build flags, and returns its bytes.
var helloBinary = func() func(t *testing.T, cgo string, flags ...string) []byte {
	var mu sync.Mutex
	built := map[string][]byte{}
	return func(t *testing.T, cgo string, flags ...string) []byte {
		t.Helper()
		mu.Lock()
		defer mu.Unlock()
		key := cgo + " " + strings.Join(flags, " ")
		if b, ok := built[key]; ok {
			return b
		}
		out := filepath.Join(t.TempDir(), "hello")
		args := append([]string{"build", "-trimpath", "-o", out}, flags...)
		cmd := exec.Command("go", append(args, "./testdata/hello")...)
		cmd.Env = append(os.Environ(), "CGO_ENABLED="+cgo, "GOOS=linux", "GOARCH=amd64", "GOFLAGS=")
		if msg, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build testdata/hello (CGO_ENABLED=%s %s): %v\n%s", cgo, flags, err, msg)
		}
		b, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		built[key] = b
		return b
	}
}()

func staticHello(t *testing.T) []byte { return helloBinary(t, "0") }

func build(t *testing.T, spec Spec) *Image {
	t.Helper()
	img, err := Build(spec)
	if err != nil {
		t.Fatalf("Build(%s, %s, %s): %v", spec.Name, spec.Version, spec.User, err)
	}
	return img
}

func TestSameInputsGiveTheSameDigestAndAnyChangeAnother(t *testing.T) {
	binary := staticHello(t)
	spec := Spec{Name: "meshaccel-operator", Version: "0.1.0", User: "nonroot", Binary: binary}
	first := build(t, spec)
	again := spec
	again.Binary = bytes.Clone(binary)
	if second := build(t, again); second.Digest != first.Digest {
		t.Fatalf("two builds of the same spec: %s, then %s", first.Digest, second.Digest)
	}

	// Bytes after the section headers leave the ELF valid.
	otherBinary := append(bytes.Clone(binary), 0)
	seen := map[v1.Hash]string{first.Digest: "the spec"}
	for what, changed := range map[string]Spec{
		"another binary":  {Name: spec.Name, Version: spec.Version, User: spec.User, Binary: otherBinary},
		"another version": {Name: spec.Name, Version: "0.1.1", User: spec.User, Binary: binary},
		"another user":    {Name: spec.Name, Version: spec.Version, User: "root", Binary: binary},
		"another name":    {Name: "meshaccel-bypass", Version: spec.Version, User: spec.User, Binary: binary},
	} {
		d := build(t, changed).Digest
		if prev, dup := seen[d]; dup {
			t.Errorf("%s gives the digest of %s (%s)", what, prev, d)
		}
		seen[d] = what
	}
}

func TestConfigRunsTheBinaryAsTheChosenUserOnLinuxAmd64(t *testing.T) {
	for _, tc := range []struct{ user, want string }{{"nonroot", "65532:65532"}, {"root", "0:0"}} {
		img := build(t, Spec{Name: "meshaccel-bypass", Version: "1.2.3-rc.1", User: tc.user, Binary: staticHello(t)})
		cf, err := img.Image.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		if cf.OS != "linux" || cf.Architecture != "amd64" {
			t.Errorf("platform %s/%s, want linux/amd64", cf.OS, cf.Architecture)
		}
		if !cf.Created.Time.Equal(time.Unix(0, 0)) {
			t.Errorf("created %v, want the Unix epoch", cf.Created.Time)
		}
		c := cf.Config
		if len(c.Entrypoint) != 1 || c.Entrypoint[0] != "/usr/local/bin/meshaccel-bypass" || len(c.Cmd) != 0 {
			t.Errorf("entrypoint %q cmd %q, want [/usr/local/bin/meshaccel-bypass] and no cmd", c.Entrypoint, c.Cmd)
		}
		if c.User != tc.want {
			t.Errorf("user %s: config user %q, want %q", tc.user, c.User, tc.want)
		}
		if c.WorkingDir != "/" || len(c.Env) != 1 || c.Env[0] != "PATH=/usr/local/bin" {
			t.Errorf("working dir %q env %q, want / and [PATH=/usr/local/bin]", c.WorkingDir, c.Env)
		}
		wantLabels := map[string]string{
			"org.opencontainers.image.title":   "meshaccel-bypass",
			"org.opencontainers.image.version": "1.2.3-rc.1",
			"org.opencontainers.image.source":  "https://github.com/meshaccel/meshaccel",
		}
		if len(c.Labels) != len(wantLabels) {
			t.Errorf("labels %v, want %v", c.Labels, wantLabels)
		}
		for k, v := range wantLabels {
			if c.Labels[k] != v {
				t.Errorf("label %s = %q, want %q", k, c.Labels[k], v)
			}
		}
		if mt, _ := img.Image.MediaType(); mt != types.OCIManifestSchema1 {
			t.Errorf("manifest media type %s, want %s", mt, types.OCIManifestSchema1)
		}
		if len(cf.History) != 2 || len(cf.RootFS.DiffIDs) != 2 {
			t.Errorf("%d history entries and %d diff ids, want 2 layers", len(cf.History), len(cf.RootFS.DiffIDs))
		}
	}
}

// entry is what the tests compare of a tar header, plus a regular file's content.
type entry struct {
	name     string
	typeflag byte
	mode     int64
	uid, gid int
	data     string
}

func layerEntries(t *testing.T, layer v1.Layer) []entry {
	t.Helper()
	mt, err := layer.MediaType()
	if err != nil || mt != types.OCILayer {
		t.Errorf("layer media type %s (%v), want %s", mt, err, types.OCILayer)
	}
	compressed, err := layer.Compressed()
	if err != nil {
		t.Fatal(err)
	}
	defer compressed.Close()
	zr, err := gzip.NewReader(compressed)
	if err != nil {
		t.Fatal(err)
	}
	if zr.Name != "" || !zr.ModTime.IsZero() {
		t.Errorf("gzip header has name %q and time %v, want neither", zr.Name, zr.ModTime)
	}
	var entries []entry
	tr := tar.NewReader(zr)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return entries
		}
		if err != nil {
			t.Fatal(err)
		}
		if !hdr.ModTime.Equal(time.Unix(0, 0)) || hdr.Uname != "" || hdr.Gname != "" {
			t.Errorf("%s: mtime %v, owner names %q:%q; want the epoch and numeric owners only", hdr.Name, hdr.ModTime, hdr.Uname, hdr.Gname)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		entries = append(entries, entry{hdr.Name, hdr.Typeflag, hdr.Mode, hdr.Uid, hdr.Gid, string(data)})
	}
}

func TestLayersHoldTheRootFilesystemAndTheBinary(t *testing.T) {
	binary := staticHello(t)
	img := build(t, Spec{Name: "meshaccel-operator", Version: "0.1.0", User: "nonroot", Binary: binary})
	layers, err := img.Image.Layers()
	if err != nil {
		t.Fatal(err)
	}
	if len(layers) != 2 {
		t.Fatalf("%d layers, want 2 (root filesystem, binary)", len(layers))
	}

	const dir, file = tar.TypeDir, tar.TypeReg
	wantRootFS := []entry{
		{"etc/", dir, 0o755, 0, 0, ""},
		{"etc/group", file, 0o644, 0, 0, "root:x:0:\nnonroot:x:65532:\n"},
		{"etc/nsswitch.conf", file, 0o644, 0, 0, "hosts: files dns\n"},
		{"etc/passwd", file, 0o644, 0, 0, "root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n"},
		{"home/", dir, 0o755, 0, 0, ""},
		{"home/nonroot/", dir, 0o700, 65532, 65532, ""},
		{"root/", dir, 0o700, 0, 0, ""},
		{"tmp/", dir, 0o1777, 0, 0, ""},
	}
	compareEntries(t, "root filesystem", layerEntries(t, layers[0]), wantRootFS)

	wantBinary := []entry{
		{"usr/", dir, 0o755, 0, 0, ""},
		{"usr/local/", dir, 0o755, 0, 0, ""},
		{"usr/local/bin/", dir, 0o755, 0, 0, ""},
		{"usr/local/bin/meshaccel-operator", file, 0o755, 0, 0, string(binary)},
	}
	compareEntries(t, "binary layer", layerEntries(t, layers[1]), wantBinary)
}

func compareEntries(t *testing.T, layer string, got, want []entry) {
	t.Helper()
	if len(got) != len(want) {
		names := make([]string, len(got))
		for i, e := range got {
			names[i] = e.name
		}
		t.Fatalf("%s holds %q, want %d entries", layer, names, len(want))
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.name != w.name || g.typeflag != w.typeflag || g.mode != w.mode || g.uid != w.uid || g.gid != w.gid {
			t.Errorf("%s entry %d: %s type %c mode %o owner %d:%d; want %s type %c mode %o owner %d:%d",
				layer, i, g.name, g.typeflag, g.mode, g.uid, g.gid, w.name, w.typeflag, w.mode, w.uid, w.gid)
		}
		if g.data != w.data {
			t.Errorf("%s: %s differs from what was packaged (%d bytes, want %d)", layer, w.name, len(g.data), len(w.data))
		}
	}
}

func TestBuildRejectsWhatCannotRunOrBeNamed(t *testing.T) {
	static := staticHello(t)
	arm64 := bytes.Clone(static)
	arm64[18], arm64[19] = 183, 0 // e_machine: EM_AARCH64
	spec := func(edit func(*Spec)) Spec {
		s := Spec{Name: "meshaccel-operator", Version: "0.1.0", User: "nonroot", Binary: static}
		edit(&s)
		return s
	}
	for _, tc := range []struct {
		what  string
		spec  Spec
		field string
		want  string
	}{
		{"a dynamically linked binary", spec(func(s *Spec) { s.Binary = helloBinary(t, "1", "-ldflags=-linkmode=external") }),
			"binary", "dynamically linked (interpreter /lib64/ld-linux-x86-64.so.2)"},
		{"an arm64 binary", spec(func(s *Spec) { s.Binary = arm64 }), "binary", "want x86-64"},
		{"a shell script", spec(func(s *Spec) { s.Binary = []byte("#!/bin/sh\necho hello\n") }), "binary", "not an ELF executable"},
		{"no binary", spec(func(s *Spec) { s.Binary = nil }), "binary", "not an ELF executable"},
		{"an unknown user", spec(func(s *Spec) { s.User = "65532" }), "user", "want one of the image's accounts: root, nonroot"},
		{"an upper-case name", spec(func(s *Spec) { s.Name = "Meshaccel" }), "name", "lowercase"},
		{"a name with a slash", spec(func(s *Spec) { s.Name = "meshaccel/operator" }), "name", "lowercase"},
		{"no version", spec(func(s *Spec) { s.Version = "" }), "version", "want a tag"},
		{"a version with a plus", spec(func(s *Spec) { s.Version = "0.1.0+build" }), "version", "want a tag"},
	} {
		_, err := Build(tc.spec)
		var invalid *SpecError
		if !errors.As(err, &invalid) || invalid.Field != tc.field || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Build = %v, want a %s error mentioning %q", tc.what, err, tc.field, tc.want)
		}
	}
}
