package bypasstest

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
)

// AttachedSockOps returns the sock_ops programs attached to a cgroup v2 directory.
func AttachedSockOps(cgroupPath string) ([]ebpf.ProgramID, error) {
	f, err := os.Open(cgroupPath)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	res, err := link.QueryPrograms(link.QueryOptions{Target: int(f.Fd()), Attach: ebpf.AttachCGroupSockOps})
	if err != nil {
		return nil, fmt.Errorf("query the sock_ops programs of %s: %w", cgroupPath, err)
	}
	var ids []ebpf.ProgramID
	for _, p := range res.Programs {
		ids = append(ids, p.ID)
	}
	return ids, nil
}

// AttachedObjects returns what the bypass attached to a cgroup holds in the kernel, found from the
// kernel alone (for callers without a *bypass.Bypass, such as tests of the agent process): the
// sock_ops program, the maps it uses, and every sk_msg program that shares a map with it.
func AttachedObjects(cgroupPath string) (progs []ebpf.ProgramID, maps []ebpf.MapID, err error) {
	ops, err := AttachedSockOps(cgroupPath)
	if err != nil {
		return nil, nil, err
	}
	if len(ops) != 1 {
		return nil, nil, fmt.Errorf("cgroup %s carries %d sock_ops programs, want 1", cgroupPath, len(ops))
	}
	info, err := programInfo(ops[0])
	if err != nil {
		return nil, nil, err
	}
	maps, ok := info.MapIDs()
	if !ok || len(maps) == 0 {
		return nil, nil, fmt.Errorf("sock_ops program %d: the kernel does not report its maps", ops[0])
	}
	progs = ops
	for id := ebpf.ProgramID(0); ; {
		id, err = ebpf.ProgramGetNextID(id)
		if errors.Is(err, os.ErrNotExist) {
			break
		}
		if err != nil {
			return nil, nil, err
		}
		info, err := programInfo(id)
		if err != nil || info.Type != ebpf.SkMsg {
			continue // gone meanwhile, or not ours
		}
		if used, ok := info.MapIDs(); ok && slices.ContainsFunc(used, func(m ebpf.MapID) bool { return slices.Contains(maps, m) }) {
			progs = append(progs, id)
		}
	}
	return progs, maps, nil
}

func programInfo(id ebpf.ProgramID) (*ebpf.ProgramInfo, error) {
	p, err := ebpf.NewProgramFromID(id)
	if err != nil {
		return nil, err
	}
	defer p.Close()
	return p.Info()
}

// WaitGone waits until the kernel has freed the programs and maps (it does so asynchronously once
// the last reference, such as a socket that was paired, is gone) and names what is left after
// timeout.
func WaitGone(progs []ebpf.ProgramID, maps []ebpf.MapID, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		var left []string
		for _, id := range progs {
			if p, err := ebpf.NewProgramFromID(id); err == nil {
				p.Close()
				left = append(left, fmt.Sprintf("program %d", id))
			}
		}
		for _, id := range maps {
			if m, err := ebpf.NewMapFromID(id); err == nil {
				m.Close()
				left = append(left, fmt.Sprintf("map %d", id))
			}
		}
		if len(left) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("still loaded after detach: %s", strings.Join(left, ", "))
		}
		time.Sleep(50 * time.Millisecond)
	}
}
