package bypass

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// DefaultPinPath is where the bypass pins its maps and its cgroup link.
const DefaultPinPath = "/sys/fs/bpf/meshaccel"

// Cgroup2Mount returns where the cgroup v2 hierarchy is mounted, read from /proc/mounts. On
// hybrid hosts it is not /sys/fs/cgroup but usually /sys/fs/cgroup/unified.
func Cgroup2Mount() (string, error) {
	f, err := os.Open("/proc/mounts")
	if err != nil {
		return "", fmt.Errorf("find the cgroup v2 mount: %w", err)
	}
	defer f.Close()
	return cgroup2MountFrom(f)
}

func cgroup2MountFrom(mounts io.Reader) (string, error) {
	s := bufio.NewScanner(mounts)
	for s.Scan() {
		fields := strings.Fields(s.Text())
		if len(fields) >= 3 && fields[2] == "cgroup2" {
			return unescapeMountPath(fields[1]), nil
		}
	}
	if err := s.Err(); err != nil {
		return "", fmt.Errorf("find the cgroup v2 mount: %w", err)
	}
	return "", errors.New("no cgroup2 filesystem is mounted (see /proc/mounts): the bypass attaches to a cgroup v2")
}

// unescapeMountPath undoes the octal escapes /proc/mounts uses for space, tab, newline and
// backslash.
func unescapeMountPath(p string) string {
	if !strings.Contains(p, `\`) {
		return p
	}
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		if p[i] == '\\' && i+3 < len(p) {
			if v, ok := octal(p[i+1 : i+4]); ok {
				b.WriteByte(v)
				i += 3
				continue
			}
		}
		b.WriteByte(p[i])
	}
	return b.String()
}

func octal(s string) (byte, bool) {
	if len(s) != 3 {
		return 0, false
	}
	var v int
	for _, c := range s {
		if c < '0' || c > '7' {
			return 0, false
		}
		v = v*8 + int(c-'0')
	}
	if v > 255 {
		return 0, false
	}
	return byte(v), true
}

// CurrentCgroup2 returns the cgroup v2 directory of the calling process.
func CurrentCgroup2() (string, error) {
	mount, err := Cgroup2Mount()
	if err != nil {
		return "", err
	}
	data, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return "", fmt.Errorf("read own cgroup: %w", err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rel, ok := strings.CutPrefix(line, "0::"); ok {
			return filepath.Join(mount, rel), nil
		}
	}
	return "", errors.New("/proc/self/cgroup has no cgroup v2 entry")
}

func checkCgroup2(path string) error {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return fmt.Errorf("cgroup %q: %w", path, err)
	}
	if st.Type != unix.CGROUP2_SUPER_MAGIC {
		return fmt.Errorf("cgroup %q is not on a cgroup v2 filesystem (the bypass needs cgroup v2; cgroup v1 cannot carry sock_ops programs)", path)
	}
	return nil
}

// cgroupID is the kernel's id of a cgroup v2 directory: its inode number.
func cgroupID(path string) (uint64, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return 0, fmt.Errorf("cgroup %q: %w", path, err)
	}
	return st.Ino, nil
}

// ensureBPFFS makes sure pinPath's parent is a bpf filesystem, mounting one there when asked to,
// and creates pinPath.
func ensureBPFFS(pinPath string, mount bool) error {
	parent := filepath.Dir(pinPath)
	var st unix.Statfs_t
	if err := unix.Statfs(parent, &st); err != nil {
		return fmt.Errorf("pin path %q: %w", pinPath, err)
	}
	if st.Type != unix.BPF_FS_MAGIC {
		if !mount {
			return fmt.Errorf("pin path %q: %s is not a bpf filesystem; mount one with `mount -t bpf bpf %s`", pinPath, parent, parent)
		}
		if err := unix.Mount("bpf", parent, "bpf", 0, "mode=0700"); err != nil {
			return fmt.Errorf("pin path %q: mount a bpf filesystem on %s: %w", pinPath, parent, err)
		}
	}
	if err := os.MkdirAll(pinPath, 0o700); err != nil {
		return fmt.Errorf("pin path %q: %w", pinPath, err)
	}
	return nil
}
