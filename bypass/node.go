package bypass

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/sys/unix"
)

// FindCgroup2 returns the cgroup v2 directory to attach to for dir: dir itself when it is on a
// cgroup v2 filesystem, or dir/unified when dir is the root of a systemd "hybrid" layout (cgroup v1
// controllers with the v2 hierarchy mounted at unified). One setting, such as the host's
// /sys/fs/cgroup, then serves unified and hybrid nodes alike. The error says what dir is instead.
func FindCgroup2(dir string) (string, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return "", fmt.Errorf("cgroup %q: %w", dir, err)
	}
	if st.Type == unix.CGROUP2_SUPER_MAGIC {
		return dir, nil
	}
	hybrid := filepath.Join(dir, "unified")
	var unified unix.Statfs_t
	if unix.Statfs(hybrid, &unified) == nil && unified.Type == unix.CGROUP2_SUPER_MAGIC {
		return hybrid, nil
	}
	what := "not a cgroup v2 filesystem"
	switch st.Type {
	case unix.CGROUP_SUPER_MAGIC:
		what = "a cgroup v1 hierarchy"
	case unix.TMPFS_MAGIC:
		what = "a tmpfs without a cgroup v2 hierarchy at unified/ (the node runs cgroup v1 only)"
	}
	return "", fmt.Errorf("cgroup %q is %s: the bypass attaches its sock_ops program to a cgroup v2", dir, what)
}

// EnabledNodes reads the list of nodes where the bypass must be active: node names one per line,
// as the operator renders them into the ConfigMap meshaccel-bypass-nodes (key nodes). Blank lines
// and surrounding spaces are ignored. A missing file is an empty list: no policy asks for the
// bypass.
func EnabledNodes(path string) ([]string, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("enabled nodes: %w", err)
	}
	var nodes []string
	lines := bufio.NewScanner(bytes.NewReader(data))
	for lines.Scan() {
		if name := strings.TrimSpace(lines.Text()); name != "" {
			nodes = append(nodes, name)
		}
	}
	if err := lines.Err(); err != nil {
		return nil, fmt.Errorf("enabled nodes %s: %w", path, err)
	}
	return nodes, nil
}

// NodeEnabled reports whether node is listed in the enabled nodes file at path (see EnabledNodes).
func NodeEnabled(path, node string) (bool, error) {
	nodes, err := EnabledNodes(path)
	return slices.Contains(nodes, node), err
}
