package bypass

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// NFDFeaturesDir is the directory whose files Node Feature Discovery's local source turns into
// node labels.
const NFDFeaturesDir = "/etc/kubernetes/node-feature-discovery/features.d"

// FeatureFileName is the name of the agent's file in NFDFeaturesDir.
const FeatureFileName = "meshaccel-bypass"

// FeatureFile is the content of the agent's NFD feature file: one `name=value` line that NFD's
// local source publishes as the node label CgroupV2Label. The file has no `# +expiry-time`
// directive, so NFD keeps the label for as long as the file exists; `#` lines are comments to NFD
// (only `# +` starts a directive).
func FeatureFile(cgroupV2 bool) []byte {
	return fmt.Appendf(nil, "# Published by meshaccel-bypass, the node agent of the meshaccel TCP/IP bypass: whether the\n"+
		"# cgroup it attaches to is a cgroup v2. Rewritten when the agent starts, removed by\n"+
		"# `meshaccel-bypass -remove`.\n"+
		"%s=%t\n", CgroupV2Label, cgroupV2)
}

// WriteFeatureFile publishes cgroupV2 in the NFD feature file at path. NFD may read the directory
// at any moment: the content goes to a dot file (NFD skips those) in the same directory, which is
// then renamed over path, so NFD sees the old file or the new one, never a partial one. A file that
// already holds the same content is left alone. It reports whether it wrote.
func WriteFeatureFile(path string, cgroupV2 bool) (written bool, err error) {
	if err := checkFeatureFilePath(path); err != nil {
		return false, err
	}
	content := FeatureFile(cgroupV2)
	if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, content) {
		return false, nil
	}
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return false, fmt.Errorf("NFD feature file %s: %w", path, err)
	}
	defer os.Remove(tmp.Name()) // fails harmlessly once renamed
	_, err = tmp.Write(content)
	if err == nil {
		err = tmp.Chmod(0o644) // CreateTemp makes it 0600; the file holds no secret
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		return false, fmt.Errorf("NFD feature file %s: %w", path, err)
	}
	// Make the rename itself durable, so a crash cannot bring the old label back.
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return true, nil
}

// RemoveFeatureFile removes the NFD feature file at path; NFD then drops the label at its next
// discovery. A missing file is not an error.
func RemoveFeatureFile(path string) error {
	if err := checkFeatureFilePath(path); err != nil {
		return err
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("NFD feature file %s: %w", path, err)
	}
	return nil
}

func checkFeatureFilePath(path string) error {
	base := filepath.Base(path)
	switch {
	case path == "" || strings.HasSuffix(path, "/"):
		return fmt.Errorf("NFD feature file %q: name a file, such as %s", path, filepath.Join(NFDFeaturesDir, FeatureFileName))
	case strings.HasPrefix(base, "."):
		return fmt.Errorf("NFD feature file %q: NFD ignores files whose name starts with a dot", path)
	}
	return nil
}
