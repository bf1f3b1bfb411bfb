package bypass_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/meshaccel/meshaccel/bypass"
	"github.com/meshaccel/meshaccel/bypass/bypasstest"
	"golang.org/x/sys/unix"
)

// The traffic of every test runs in child processes (this test binary, re-executed) that are
// cloned straight into a cgroup the test creates, so the bypass touches their sockets and no
// others: the test process itself stays outside.
const helperEnv = "MESHACCEL_BYPASS_HELPER"

func TestMain(m *testing.M) {
	if role := os.Getenv(helperEnv); role != "" {
		os.Exit(runHelper(role))
	}
	os.Exit(m.Run())
}

// requireBPF skips when the kernel or the privileges cannot run the bypass, saying why.
func requireBPF(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("skipped: loading the bypass needs root (CAP_BPF, CAP_NET_ADMIN, CAP_SYS_ADMIN)")
	}
	if _, err := bypass.Cgroup2Mount(); err != nil {
		t.Skipf("skipped: %v", err)
	}
	if err := bypass.Probe(); err != nil {
		t.Skipf("skipped: %v", err)
	}
}

// testCgroup creates a child cgroup v2 for the test and returns its path and an open handle.
func testCgroup(t *testing.T) (string, *os.File) {
	t.Helper()
	mount, err := bypass.Cgroup2Mount()
	if err != nil {
		t.Skipf("skipped: %v", err)
	}
	dir := filepath.Join(mount, fmt.Sprintf("meshaccel-test-%d-%s", os.Getpid(), strings.ReplaceAll(t.Name(), "/", "-")))
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Skipf("skipped: cannot create a cgroup v2 under %s: %v", mount, err)
	}
	f, err := os.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		f.Close()
		// The helpers have exited; their cgroup is empty but the kernel may still be
		// releasing it for a moment.
		deadline := time.Now().Add(5 * time.Second)
		for {
			err := os.Remove(dir)
			if err == nil || errors.Is(err, os.ErrNotExist) {
				return
			}
			if time.Now().After(deadline) {
				t.Errorf("remove test cgroup %s: %v", dir, err)
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
	return dir, f
}

// testPinPath returns a pin directory inside a bpf filesystem of the test's own, so that the
// node's /sys/fs/bpf is never touched. The loader mounts the filesystem (MountBPFFS).
func testPinPath(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	t.Cleanup(func() {
		var st unix.Statfs_t
		if unix.Statfs(root, &st) == nil && st.Type == unix.BPF_FS_MAGIC {
			if err := unix.Unmount(root, 0); err != nil {
				t.Errorf("unmount test bpffs %s: %v", root, err)
			}
		}
	})
	return filepath.Join(root, "meshaccel")
}

func loadBypass(t *testing.T, cfg bypass.Config) *bypass.Bypass {
	t.Helper()
	cfg.MountBPFFS = true
	b, err := bypass.Load(cfg)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// helper is one child process speaking JSON lines on stdin/stdout.
type helper struct {
	t      *testing.T
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	out    *bufio.Scanner
	stderr *bytes.Buffer
}

type helperOptions struct {
	cgroup *os.File // clone the child into this cgroup (nil: stay in the test's cgroup)
	netns  bool     // give the child a network namespace of its own
}

func startHelper(t *testing.T, role string, opts helperOptions, args any) *helper {
	t.Helper()
	argJSON, err := json.Marshal(args)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"="+role, "MESHACCEL_BYPASS_HELPER_ARGS="+string(argJSON))
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if opts.cgroup != nil {
		cmd.SysProcAttr.UseCgroupFD = true
		cmd.SysProcAttr.CgroupFD = int(opts.cgroup.Fd())
	}
	if opts.netns {
		cmd.SysProcAttr.Cloneflags = syscall.CLONE_NEWNET
	}
	h := &helper{t: t, cmd: cmd, stderr: &bytes.Buffer{}}
	cmd.Stderr = h.stderr
	if h.stdin, err = cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	h.out = bufio.NewScanner(stdout)
	h.out.Buffer(make([]byte, 1<<20), 1<<20)
	if err := cmd.Start(); err != nil {
		if opts.cgroup != nil || opts.netns {
			t.Skipf("skipped: the kernel refuses a process in the test cgroup or its own network namespace: %v", err)
		}
		t.Fatalf("start helper %s: %v", role, err)
	}
	t.Cleanup(func() {
		h.stdin.Close()
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	return h
}

func (h *helper) send(line string) {
	h.t.Helper()
	if _, err := io.WriteString(h.stdin, line+"\n"); err != nil {
		h.t.Fatalf("helper %s: write %q: %v\nstderr:\n%s", h.cmd.Env[len(h.cmd.Env)-2], line, err, h.stderr)
	}
}

// receive reads the helper's next message; a message with an error fails the test.
func (h *helper) receive(v any) {
	h.t.Helper()
	if !h.out.Scan() {
		h.t.Fatalf("helper ended without answering (%v)\nstderr:\n%s", h.out.Err(), h.stderr)
	}
	var msg helperMessage
	if err := json.Unmarshal(h.out.Bytes(), &msg); err != nil {
		h.t.Fatalf("helper said %q: %v", h.out.Text(), err)
	}
	if msg.Error != "" {
		h.t.Fatalf("helper: %s\nstderr:\n%s", msg.Error, h.stderr)
	}
	if v != nil {
		if err := json.Unmarshal(msg.Data, v); err != nil {
			h.t.Fatalf("helper data %s: %v", msg.Data, err)
		}
	}
}

func (h *helper) wait() {
	h.t.Helper()
	h.stdin.Close()
	if err := h.cmd.Wait(); err != nil {
		h.t.Fatalf("helper: %v\nstderr:\n%s", err, h.stderr)
	}
}

type helperMessage struct {
	Error string          `json:"error,omitempty"`
	Data  json.RawMessage `json:"data,omitempty"`
}

// workload is what a helper sends through a topology: one connection per payload size, with at
// most Parallel open at once; payloads are random bytes from Seed.
type workload struct {
	Sizes    []int  `json:"sizes"`
	Parallel int    `json:"parallel"`
	Seed     uint64 `json:"seed"`
}

// run dials target once per size and checks each echo. Connections are accounted in traffic.
func (w workload) run(dial func() (*bypasstest.Conn, error)) error {
	rng := rand.New(rand.NewPCG(w.Seed, 0x6d657368))
	payloads := make([][]byte, len(w.Sizes))
	for i, n := range w.Sizes {
		payloads[i] = make([]byte, n)
		for j := range payloads[i] {
			payloads[i][j] = byte(rng.Uint32())
		}
	}
	sem := make(chan struct{}, max(w.Parallel, 1))
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	for _, p := range payloads {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			c, err := dial()
			if err == nil {
				err = bypasstest.Exchange(c, p)
				c.Close()
			}
			if err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// mixedSizes covers empty, tiny, segment-sized, around 64 KiB and multi-megabyte payloads, plus
// random ones.
func mixedSizes(n int, seed uint64) []int {
	fixed := []int{0, 1, 7, 1000, 1448, 4096, 16384, 65535, 65536, 65537, 200_000, 1 << 20, 3<<20 + 17}
	rng := rand.New(rand.NewPCG(seed, 1))
	sizes := make([]int, n)
	for i := range sizes {
		if i < len(fixed) {
			sizes[i] = fixed[i]
		} else {
			sizes[i] = rng.IntN(256 << 10)
		}
	}
	return sizes
}

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }
