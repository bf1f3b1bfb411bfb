package bypass

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"golang.org/x/sys/unix"
	"k8s.io/apimachinery/pkg/util/validation"
)

// TestFeatureFileFormat checks the file against the rules of NFD's local source (v0.19,
// source/local): `#` lines are comments unless they start with `# +` (a directive, and an unknown
// one is an error); other lines are `name[=value]`; names need a namespace, and under
// *.kubernetes.io only *.feature.node.kubernetes.io is allowed; files over 64 KiB are ignored.
func TestFeatureFileFormat(t *testing.T) {
	for _, cgroupV2 := range []bool{true, false} {
		content := FeatureFile(cgroupV2)
		if len(content) > 65536 {
			t.Fatalf("%d bytes: NFD ignores feature files over 64 KiB", len(content))
		}
		if !bytes.HasSuffix(content, []byte("\n")) {
			t.Errorf("the file does not end with a newline:\n%s", content)
		}
		labels := map[string]string{}
		for _, line := range strings.Split(string(content), "\n") {
			line = strings.TrimSpace(line)
			switch {
			case line == "":
			case strings.HasPrefix(line, "# +"):
				t.Errorf("line %q is an NFD directive", line)
			case strings.HasPrefix(line, "#"):
			default:
				name, value, ok := strings.Cut(line, "=")
				if !ok {
					t.Errorf("line %q has no value: NFD would publish %q", line, "true")
				}
				labels[name] = value
			}
		}
		want := map[string]string{"meshaccel.feature.node.kubernetes.io/cgroup-v2": map[bool]string{true: "true", false: "false"}[cgroupV2]}
		if len(labels) != 1 || labels[CgroupV2Label] != want[CgroupV2Label] || CgroupV2Label != "meshaccel.feature.node.kubernetes.io/cgroup-v2" {
			t.Errorf("FeatureFile(%v) publishes %v, want %v", cgroupV2, labels, want)
		}
		for name, value := range labels {
			if errs := validation.IsQualifiedName(name); len(errs) > 0 {
				t.Errorf("label name %q: %v", name, errs)
			}
			if ns, _, _ := strings.Cut(name, "/"); !strings.HasSuffix(ns, ".feature.node.kubernetes.io") {
				t.Errorf("label namespace %q is not one NFD allows without extraLabelNs", ns)
			}
			if errs := validation.IsValidLabelValue(value); len(errs) > 0 {
				t.Errorf("label value %q: %v", value, errs)
			}
		}
	}
}

func TestWriteFeatureFileReplacesAtomically(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, FeatureFileName)
	if written, err := WriteFeatureFile(path, true); err != nil || !written {
		t.Fatalf("first write: %v, %v", written, err)
	}
	if got, _ := os.ReadFile(path); !bytes.Equal(got, FeatureFile(true)) {
		t.Fatalf("file holds %q", got)
	}
	if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o644 {
		t.Errorf("mode %v (%v), want 0644 so that NFD can read it", st.Mode(), err)
	}

	// A reader that opened the old file keeps reading all of it: the new content replaced the
	// file, it was not written into it.
	old, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	if written, err := WriteFeatureFile(path, false); err != nil || !written {
		t.Fatalf("rewrite: %v, %v", written, err)
	}
	var oldContent bytes.Buffer
	if _, err := oldContent.ReadFrom(old); err != nil || !bytes.Equal(oldContent.Bytes(), FeatureFile(true)) {
		t.Errorf("the old file now reads %q (%v): it was modified in place", oldContent.Bytes(), err)
	}
	if got, _ := os.ReadFile(path); !bytes.Equal(got, FeatureFile(false)) {
		t.Errorf("after the rewrite the file holds %q", got)
	}

	before, _ := os.Stat(path)
	if written, err := WriteFeatureFile(path, false); err != nil || written {
		t.Errorf("the same content again: written %v, %v; want it left alone", written, err)
	}
	if after, _ := os.Stat(path); !os.SameFile(before, after) {
		t.Error("the same content was written again: NFD would relabel for nothing")
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("the directory holds %v, want only the feature file", entries)
	}
}

// TestFeatureFileReadersSeeWholeFiles: a reader of the directory, as NFD is, sees either the old
// or the new file while the agent rewrites it, never a partial or missing one, and no temporary
// file without a leading dot.
func TestFeatureFileReadersSeeWholeFiles(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, FeatureFileName)
	if _, err := WriteFeatureFile(path, true); err != nil {
		t.Fatal(err)
	}
	var stop atomic.Bool
	var wg sync.WaitGroup
	var reads atomic.Int64
	errs := make(chan error, 1)
	wg.Go(func() {
		for !stop.Load() {
			entries, err := os.ReadDir(dir)
			if err != nil {
				errs <- err
				return
			}
			for _, e := range entries {
				if strings.HasPrefix(e.Name(), ".") {
					continue // NFD skips dot files
				}
				if e.Name() != FeatureFileName {
					errs <- errors.New("NFD would read " + e.Name())
					return
				}
				got, err := os.ReadFile(filepath.Join(dir, e.Name()))
				if err != nil || !bytes.Equal(got, FeatureFile(true)) && !bytes.Equal(got, FeatureFile(false)) {
					errs <- errors.New("read " + string(got) + " during a rewrite: " + errString(err))
					return
				}
				reads.Add(1)
			}
		}
	})
	for i := range 100 {
		if _, err := WriteFeatureFile(path, i%2 == 0); err != nil {
			t.Fatal(err)
		}
	}
	stop.Store(true)
	wg.Wait()
	select {
	case err := <-errs:
		t.Fatal(err)
	default:
	}
	if reads.Load() == 0 {
		t.Fatal("the reader never ran")
	}
}

func errString(err error) string {
	if err == nil {
		return "no error"
	}
	return err.Error()
}

func TestFeatureFilePathChecked(t *testing.T) {
	dir := t.TempDir()
	for path, want := range map[string]string{
		filepath.Join(dir, ".meshaccel"): "starts with a dot",
		dir + "/":                        "name a file",
		"":                               "name a file",
		filepath.Join(dir, "missing", "meshaccel"): filepath.Join(dir, "missing"),
	} {
		if _, err := WriteFeatureFile(path, true); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("WriteFeatureFile(%q) = %v, want an error containing %q", path, err, want)
		}
	}
	path := filepath.Join(dir, FeatureFileName)
	if _, err := WriteFeatureFile(path, true); err != nil {
		t.Fatal(err)
	}
	for range 2 { // the second time there is nothing to remove
		if err := RemoveFeatureFile(path); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("after RemoveFeatureFile: %v", err)
	}
}

func TestEnabledNodes(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "nodes")
	if nodes, err := EnabledNodes(path); err != nil || nodes != nil {
		t.Errorf("missing file: %v, %v; want no node and no error", nodes, err)
	}
	for content, want := range map[string][]string{
		"":                            nil,
		"node-a\n":                    {"node-a"},
		"node-a\nnode-b\n":            {"node-a", "node-b"},
		"node-a\r\n  node-b \n\n\n":   {"node-a", "node-b"},
		"ip-10-0-1-7.ec2.internal":    {"ip-10-0-1-7.ec2.internal"},
		"node-ab\nnode-a-extra\nnode": {"node-ab", "node-a-extra", "node"},
	} {
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		nodes, err := EnabledNodes(path)
		if err != nil || !slices.Equal(nodes, want) {
			t.Errorf("EnabledNodes(%q) = %q, %v; want %q", content, nodes, err, want)
		}
		listed, err := NodeEnabled(path, "node-a")
		if err != nil || listed != slices.Contains(want, "node-a") {
			t.Errorf("NodeEnabled(%q, node-a) = %v, %v", content, listed, err)
		}
	}
	if _, err := EnabledNodes(dir); err == nil {
		t.Error("a directory read as a node list")
	}
}

func TestFindCgroup2(t *testing.T) {
	plain := t.TempDir()
	if _, err := FindCgroup2(plain); err == nil || !strings.Contains(err.Error(), "not a cgroup v2 filesystem") {
		t.Errorf("FindCgroup2 on a plain directory: %v", err)
	}
	if _, err := FindCgroup2(filepath.Join(plain, "missing")); err == nil || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("FindCgroup2 on a missing directory: %v", err)
	}
	mount, err := Cgroup2Mount()
	if err != nil {
		t.Skipf("skipped the cgroup v2 cases: %v", err)
	}
	if got, err := FindCgroup2(mount); err != nil || got != mount {
		t.Errorf("FindCgroup2(%q) = %q, %v; want the mount itself", mount, got, err)
	}
	if filepath.Base(mount) != "unified" {
		t.Logf("the hybrid case needs a host with cgroup v2 at <root>/unified; this one has it at %s", mount)
		return
	}
	root := filepath.Dir(mount)
	var st unix.Statfs_t
	if err := unix.Statfs(root, &st); err != nil || st.Type == unix.CGROUP2_SUPER_MAGIC {
		return
	}
	if got, err := FindCgroup2(root); err != nil || got != mount {
		t.Errorf("FindCgroup2(%q) on a hybrid host = %q, %v; want %q", root, got, err, mount)
	}
}

func FuzzEnabledNodes(f *testing.F) {
	for _, s := range []string{"", "node-a\n", "a\nb\n", "a\r\n b \n\n", "\x00", strings.Repeat("n", 300)} {
		f.Add(s)
	}
	path := filepath.Join(f.TempDir(), "nodes")
	f.Fuzz(func(t *testing.T, content string) {
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		nodes, err := EnabledNodes(path)
		if err != nil {
			return // a line beyond the scanner's limit: no ConfigMap holds one
		}
		lines := strings.Split(content, "\n")
		for _, n := range nodes {
			if n == "" || n != strings.TrimSpace(n) || strings.Contains(n, "\n") {
				t.Fatalf("node %q from %q", n, content)
			}
			if !slices.ContainsFunc(lines, func(l string) bool { return strings.TrimSpace(l) == n }) {
				t.Fatalf("node %q is no line of %q", n, content)
			}
		}
	})
}
