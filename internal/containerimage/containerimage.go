// Package containerimage builds the linux/amd64 images meshaccel ships (meshaccel-operator,
// meshaccel-bypass) from a static Go binary alone: no base image, so the build needs neither a
// Docker engine nor a registry to pull from. An image has two layers, a minimal root filesystem
// and the binary at /usr/local/bin/<name>, and is reproducible: the same binary, name, version
// and user always give the same manifest digest.
package containerimage

import (
	"bytes"
	"compress/gzip"
	"debug/elf"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"

	"github.com/meshaccel/meshaccel/wasm-waf/image"
)

// BinaryDir is where the binary is installed in the image.
const BinaryDir = "/usr/local/bin"

// SourceURL is the org.opencontainers.image.source label of every image.
const SourceURL = "https://github.com/meshaccel/meshaccel"

// Account is a user of the image's /etc/passwd, with a group of the same name and id.
type Account struct {
	Name string
	ID   int
	Home string
}

// Accounts are the users the root filesystem defines. nonroot (65532, as in distroless) is the
// operator's; root is the bypass agent's, which needs it for bpf().
var Accounts = []Account{
	{Name: "root", ID: 0, Home: "/root"},
	{Name: "nonroot", ID: 65532, Home: "/home/nonroot"},
}

// Spec describes an image.
type Spec struct {
	// Name is the image's repository name and the binary's file name, e.g. meshaccel-operator.
	Name string
	// Version is the org.opencontainers.image.version label, normally the tag.
	Version string
	// User names one of Accounts; the config records it as numeric uid:gid, which Kubernetes
	// needs to enforce runAsNonRoot.
	User string
	// Binary is a statically linked linux/amd64 executable: the image has no C library.
	Binary []byte
}

// Image is a built image.
type Image struct {
	Image  v1.Image
	Digest v1.Hash
}

// A Docker Hub style repository path component; the binary's file name too, so no slash.
var namePattern = regexp.MustCompile(`^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$`)

// An OCI tag, since the version usually is one.
var versionPattern = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`)

// SpecError is an invalid Spec field.
type SpecError struct {
	// Field is name, version, user or binary.
	Field string
	// Value is the field's value, except for binary.
	Value  string
	Reason string
}

func (e *SpecError) Error() string {
	if e.Field == "binary" {
		return "binary: " + e.Reason
	}
	return fmt.Sprintf("%s %q: %s", e.Field, e.Value, e.Reason)
}

// Build builds the image spec describes.
func Build(spec Spec) (*Image, error) {
	if !namePattern.MatchString(spec.Name) {
		return nil, &SpecError{Field: "name", Value: spec.Name, Reason: "want lowercase letters and digits separated by '.', '_' or '-', such as meshaccel-operator"}
	}
	if !versionPattern.MatchString(spec.Version) {
		return nil, &SpecError{Field: "version", Value: spec.Version, Reason: "want a tag such as 0.1.0 (letters, digits, '_', '.' and '-', at most 128)"}
	}
	account, err := lookupAccount(spec.User)
	if err != nil {
		return nil, err
	}
	if err := CheckStaticBinary(spec.Binary); err != nil {
		return nil, err
	}

	rootfs, err := image.Layer(rootFilesystem(), gzip.DefaultCompression)
	if err != nil {
		return nil, err
	}
	binaryPath := BinaryDir + "/" + spec.Name
	binary, err := image.Layer([]image.LayerFile{
		{Path: "usr/", Mode: 0o755},
		{Path: "usr/local/", Mode: 0o755},
		{Path: "usr/local/bin/", Mode: 0o755},
		// Owned by root and not writable by the image's user.
		{Path: strings.TrimPrefix(binaryPath, "/"), Mode: 0o755, Data: spec.Binary},
	}, gzip.DefaultCompression)
	if err != nil {
		return nil, err
	}
	img, err := image.FromLayers(func(cfg *v1.ConfigFile) {
		cfg.Architecture, cfg.OS = "amd64", "linux"
		cfg.Config = v1.Config{
			Entrypoint: []string{binaryPath},
			User:       fmt.Sprintf("%d:%d", account.ID, account.ID),
			WorkingDir: "/",
			Env:        []string{"PATH=" + BinaryDir},
			Labels: map[string]string{
				"org.opencontainers.image.title":   spec.Name,
				"org.opencontainers.image.version": spec.Version,
				"org.opencontainers.image.source":  SourceURL,
			},
		}
	},
		mutate.Addendum{Layer: rootfs, History: v1.History{CreatedBy: "meshaccel-image", Comment: "root filesystem: passwd, group, nsswitch.conf, /tmp"}},
		mutate.Addendum{Layer: binary, History: v1.History{CreatedBy: "meshaccel-image", Comment: binaryPath}},
	)
	if err != nil {
		return nil, err
	}
	digest, err := img.Digest()
	if err != nil {
		return nil, fmt.Errorf("digest: %w", err)
	}
	return &Image{Image: img, Digest: digest}, nil
}

func lookupAccount(name string) (Account, error) {
	names := make([]string, len(Accounts))
	for i, a := range Accounts {
		if a.Name == name {
			return a, nil
		}
		names[i] = a.Name
	}
	return Account{}, &SpecError{Field: "user", Value: name, Reason: "want one of the image's accounts: " + strings.Join(names, ", ")}
}

// rootFilesystem is the first layer: the files a static Go binary looks up at run time, and the
// accounts' homes.
func rootFilesystem() []image.LayerFile {
	var passwd, group strings.Builder
	files := []image.LayerFile{
		{Path: "etc/", Mode: 0o755},
		{Path: "home/", Mode: 0o755},
		// Without it Go's resolver asks DNS before /etc/hosts and never reads the file when DNS
		// answers, so a pod's hostAliases would not resolve.
		{Path: "etc/nsswitch.conf", Mode: 0o644, Data: []byte("hosts: files dns\n")},
		{Path: "tmp/", Mode: 0o1777},
	}
	for _, a := range Accounts {
		fmt.Fprintf(&passwd, "%s:x:%d:%d:%s:%s:/sbin/nologin\n", a.Name, a.ID, a.ID, a.Name, a.Home)
		fmt.Fprintf(&group, "%s:x:%d:\n", a.Name, a.ID)
		files = append(files, image.LayerFile{Path: strings.TrimPrefix(a.Home, "/") + "/", Mode: 0o700, UID: a.ID, GID: a.ID})
	}
	files = append(files,
		image.LayerFile{Path: "etc/passwd", Mode: 0o644, Data: []byte(passwd.String())},
		image.LayerFile{Path: "etc/group", Mode: 0o644, Data: []byte(group.String())},
	)
	// A fixed order for the digest; a directory sorts before its entries.
	sort.Slice(files, func(i, j int) bool { return files[i].Path < files[j].Path })
	return files
}

// CheckStaticBinary returns why binary cannot run as the entrypoint of an image without a C
// library: it is not a linux/amd64 ELF executable, or it needs a dynamic loader or shared
// libraries.
func CheckStaticBinary(binary []byte) error {
	f, err := elf.NewFile(bytes.NewReader(binary))
	if err != nil {
		return &SpecError{Field: "binary", Reason: "not an ELF executable: " + err.Error()}
	}
	defer f.Close()
	if f.Class != elf.ELFCLASS64 || f.Machine != elf.EM_X86_64 {
		return &SpecError{Field: "binary", Reason: fmt.Sprintf("built for %s %s, want x86-64 (GOARCH=amd64)", f.Class, f.Machine)}
	}
	if f.Type != elf.ET_EXEC && f.Type != elf.ET_DYN {
		return &SpecError{Field: "binary", Reason: fmt.Sprintf("ELF type %s, want an executable", f.Type)}
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			interp, _ := io.ReadAll(p.Open())
			return &SpecError{Field: "binary", Reason: fmt.Sprintf("dynamically linked (interpreter %s), but the image has no C library: "+
				"build with CGO_ENABLED=0, or link statically (-ldflags '-linkmode external -extldflags -static')",
				strings.TrimRight(string(interp), "\x00"))}
		}
	}
	needed, err := f.ImportedLibraries()
	if err != nil {
		return &SpecError{Field: "binary", Reason: "reading its dynamic section: " + err.Error()}
	}
	if len(needed) > 0 {
		return &SpecError{Field: "binary", Reason: "needs the shared libraries " + strings.Join(needed, ", ") + ", but the image has none"}
	}
	return nil
}
