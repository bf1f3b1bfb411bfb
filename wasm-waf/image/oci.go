package image

// The OCI plumbing every meshaccel image shares (the WAF plugin here, the operator and the bypass
// agent in the root module's internal/containerimage): layers and configs with fixed metadata, so
// that the same inputs always give the same digest, and the three ways an image leaves the build.

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
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

// Epoch is every timestamp in the image, for reproducible digests.
var Epoch = time.Unix(0, 0).UTC()

// LayerFile is one entry of a layer built by Layer.
type LayerFile struct {
	// Path is slash-separated and relative to the image root; a directory's ends in "/".
	Path string
	// Mode holds the permission bits plus any setuid, setgid or sticky bit (0o1777 for /tmp).
	Mode     int64
	UID, GID int
	// Data is the content of a regular file; directories have none.
	Data []byte
}

// Layer returns an OCI tar+gzip layer holding files in the given order. Every entry has its
// mtime at Epoch, numeric owners only (no user or group names) and the USTAR format, and the
// gzip header has no name and no time, so the same files always give the same layer digest.
// level is a compress/gzip level.
func Layer(files []LayerFile, level int) (v1.Layer, error) {
	var tarBuf bytes.Buffer
	tw := tar.NewWriter(&tarBuf)
	for _, f := range files {
		hdr := &tar.Header{
			Typeflag: tar.TypeReg,
			Name:     f.Path,
			Mode:     f.Mode,
			Uid:      f.UID,
			Gid:      f.GID,
			Size:     int64(len(f.Data)),
			ModTime:  Epoch,
			Format:   tar.FormatUSTAR,
		}
		if strings.HasSuffix(f.Path, "/") {
			if len(f.Data) > 0 {
				return nil, fmt.Errorf("image: layer entry %s is a directory and cannot hold data", f.Path)
			}
			hdr.Typeflag = tar.TypeDir
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, fmt.Errorf("image: tar header of %s: %w", f.Path, err)
		}
		if _, err := tw.Write(f.Data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	var gzBuf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&gzBuf, level)
	if err != nil {
		return nil, err
	}
	if _, err := zw.Write(tarBuf.Bytes()); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	compressed := gzBuf.Bytes()
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(compressed)), nil
	}, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, fmt.Errorf("image: layer: %w", err)
	}
	return layer, nil
}

// FromLayers assembles an OCI image (OCI manifest and config media types) of layers on nothing.
// configure fills in the platform and runtime configuration; the config's and every history
// entry's created time are Epoch.
func FromLayers(configure func(*v1.ConfigFile), layers ...mutate.Addendum) (v1.Image, error) {
	base := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	cfg, err := base.ConfigFile()
	if err != nil {
		return nil, err
	}
	cfg = cfg.DeepCopy()
	configure(cfg)
	cfg.Created = v1.Time{Time: Epoch}
	if base, err = mutate.ConfigFile(base, cfg); err != nil {
		return nil, err
	}
	layers = slices.Clone(layers) // the caller's stay as they were
	for i := range layers {
		layers[i].MediaType = types.OCILayer
		layers[i].History.Created = v1.Time{Time: Epoch}
	}
	img, err := mutate.Append(base, layers...)
	if err != nil {
		return nil, fmt.Errorf("image: %w", err)
	}
	return img, nil
}

// refNameAnnotation names an image in an OCI layout's index.
const refNameAnnotation = "org.opencontainers.image.ref.name"

// WriteLayout writes img into the OCI layout at dir (created when missing), replacing an image of
// the same ref name.
func WriteLayout(img v1.Image, dir, refName string) error {
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
	if err := p.ReplaceImage(img, match.Annotation(refNameAnnotation, refName), layout.WithAnnotations(anns)); err != nil {
		return fmt.Errorf("image: OCI layout %s: %w", dir, err)
	}
	return nil
}

// WriteTarball writes img as a tarball (the `docker save` format, loadable by docker, podman,
// crane and kind) tagged ref. The file appears complete or not at all.
func WriteTarball(img v1.Image, path, ref string) error {
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
	if err := tarball.WriteToFile(tmp, tag, img); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("image: tarball %s: %w", path, err)
	}
	return os.Rename(tmp, path)
}

// PushReference parses where to push (registry/repository:tag). insecure allows plain HTTP to the
// registry; loopback registries get it anyway.
func PushReference(ref string, insecure bool) (name.Reference, error) {
	var opts []name.Option
	if insecure {
		opts = append(opts, name.Insecure)
	}
	return name.ParseReference(ref, opts...)
}

// Push uploads img to r with the credentials of the default keychain (docker config, credential
// helpers) and returns the pushed reference pinned by digest. r's registry says whether plain
// HTTP is allowed (PushReference).
func Push(img v1.Image, r name.Reference, opts ...remote.Option) (name.Digest, error) {
	digest, err := img.Digest()
	if err != nil {
		return name.Digest{}, fmt.Errorf("image: digest: %w", err)
	}
	opts = append([]remote.Option{remote.WithAuthFromKeychain(authn.DefaultKeychain)}, opts...)
	if err := remote.Write(r, img, opts...); err != nil {
		return name.Digest{}, fmt.Errorf("image: pushing %s: %w", r, err)
	}
	return r.Context().Digest(digest.String()), nil
}
