package bypass

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"sync"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"
)

// Istio's sidecar defaults.
const (
	DefaultOutboundCapturePort = 15001
	DefaultInboundCapturePort  = 15006
)

var (
	// DefaultInboundSourceIPv4 is Istio's InboundPassthroughBindIpv4: the address a sidecar dials
	// its app from.
	DefaultInboundSourceIPv4 = netip.MustParseAddr("127.0.0.6")
	// DefaultInboundSourceIPv6 is Istio's InboundPassthroughBindIpv6.
	DefaultInboundSourceIPv6 = netip.MustParseAddr("::6")
)

// cgroupLinkPin is the file, inside the pin directory, that holds the sock_ops attachment.
const cgroupLinkPin = "cgroup_link"

// Config says where to attach and how to recognise the sidecar data path.
type Config struct {
	// CgroupPath is the cgroup v2 directory whose sockets, and its descendants' sockets, are
	// paired: on a Kubernetes node the kubepods cgroup. Required.
	CgroupPath string
	// PinPath is the bpffs directory for the maps and the cgroup link. Default DefaultPinPath.
	PinPath string
	// MountBPFFS mounts a bpf filesystem on PinPath's parent when none is mounted there.
	MountBPFFS bool
	// OutboundCapturePort is where iptables redirects an app's outbound connections (Istio
	// 15001). Default DefaultOutboundCapturePort.
	OutboundCapturePort uint16
	// InboundCapturePort is where iptables redirects a pod's inbound connections (Istio 15006).
	// Default DefaultInboundCapturePort.
	InboundCapturePort uint16
	// InboundSourceIPv4 and InboundSourceIPv6 are the addresses a sidecar dials its app from.
	// Default 127.0.0.6 and ::6.
	InboundSourceIPv4 netip.Addr
	InboundSourceIPv6 netip.Addr
	// Paths are the paths whose connections are paired. Default DefaultPaths: the sidecar's
	// own hops, not PathLocal. See PathInbound for the one application-facing caveat.
	Paths []Path
}

// DefaultPaths are the paths paired unless Config.Paths says otherwise.
var DefaultPaths = []Path{PathOutbound, PathInbound, PathProxyToProxy}

func (c Config) withDefaults() Config {
	if c.PinPath == "" {
		c.PinPath = DefaultPinPath
	}
	if c.OutboundCapturePort == 0 {
		c.OutboundCapturePort = DefaultOutboundCapturePort
	}
	if c.InboundCapturePort == 0 {
		c.InboundCapturePort = DefaultInboundCapturePort
	}
	if !c.InboundSourceIPv4.IsValid() {
		c.InboundSourceIPv4 = DefaultInboundSourceIPv4
	}
	if !c.InboundSourceIPv6.IsValid() {
		c.InboundSourceIPv6 = DefaultInboundSourceIPv6
	}
	if c.Paths == nil {
		c.Paths = DefaultPaths
	}
	return c
}

func pathMask(paths []Path) uint8 {
	var mask uint8
	for _, p := range paths {
		mask |= 1 << p
	}
	return mask
}

// Validate reports the first field that cannot work, naming its value.
func (c Config) Validate() error {
	c = c.withDefaults()
	switch {
	case c.CgroupPath == "":
		return errors.New("bypass config: CgroupPath is empty: name the cgroup v2 directory to attach to")
	case !filepath.IsAbs(c.CgroupPath):
		return fmt.Errorf("bypass config: CgroupPath %q is not absolute", c.CgroupPath)
	case !filepath.IsAbs(c.PinPath):
		return fmt.Errorf("bypass config: PinPath %q is not absolute", c.PinPath)
	case filepath.Clean(c.PinPath) == "/" || filepath.Dir(filepath.Clean(c.PinPath)) == "/":
		return fmt.Errorf("bypass config: PinPath %q must be a directory inside a bpf filesystem, such as %s", c.PinPath, DefaultPinPath)
	case c.OutboundCapturePort == c.InboundCapturePort:
		return fmt.Errorf("bypass config: OutboundCapturePort and InboundCapturePort are both %d", c.OutboundCapturePort)
	case !c.InboundSourceIPv4.Is4():
		return fmt.Errorf("bypass config: InboundSourceIPv4 %s is not an IPv4 address", c.InboundSourceIPv4)
	case !c.InboundSourceIPv6.Is6() || c.InboundSourceIPv6.Is4In6():
		return fmt.Errorf("bypass config: InboundSourceIPv6 %s is not an IPv6 address", c.InboundSourceIPv6)
	}
	for _, p := range c.Paths {
		if p < 0 || p >= NumPaths {
			return fmt.Errorf("bypass config: Paths has %s, which is not a path", p)
		}
	}
	return nil
}

// loadedObjects is what Load keeps of the programs: not their variables. A loaded variable maps
// the programs' read-only data into this process, which would keep that map in the kernel after
// a detach until the garbage collector unmaps it.
type loadedObjects struct {
	bypassPrograms
	bypassMaps
}

func (o *loadedObjects) Close() error {
	return errors.Join(o.bypassPrograms.Close(), o.bypassMaps.Close())
}

// Bypass is the loaded and attached bypass.
type Bypass struct {
	cfg   Config
	objs  loadedObjects
	link  link.Link
	opsID ebpf.ProgramID

	mu     sync.Mutex
	closed bool
}

// Load loads the programs, adopts the maps pinned by an earlier instance (or creates and pins
// them), attaches the SK_MSG program to the socket table and the SOCK_OPS program to the cgroup.
// When an earlier instance's cgroup link is pinned for the same cgroup, its program is swapped
// atomically, so no connection is set up without the bypass during an upgrade.
func Load(cfg Config) (_ *Bypass, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	if err := Probe(); err != nil {
		return nil, err
	}
	if err := checkCgroup2(cfg.CgroupPath); err != nil {
		return nil, err
	}
	wantCgroup, err := cgroupID(cfg.CgroupPath)
	if err != nil {
		return nil, err
	}
	if err := ensureBPFFS(cfg.PinPath, cfg.MountBPFFS); err != nil {
		return nil, err
	}
	unlock, err := lockDir(cfg.PinPath)
	if err != nil {
		return nil, err
	}
	defer unlock()

	spec, err := loadBypass()
	if err != nil {
		return nil, fmt.Errorf("bypass programs: %w", err)
	}
	settings := map[string]any{
		bypassVarOutboundCapturePort: cfg.OutboundCapturePort,
		bypassVarInboundCapturePort:  cfg.InboundCapturePort,
		bypassVarInboundSourceV4:     cfg.InboundSourceIPv4.As4(),
		bypassVarInboundSourceV6:     cfg.InboundSourceIPv6.As16(),
		bypassVarEnabledPaths:        pathMask(cfg.Paths),
	}
	for name, value := range settings {
		if err := spec.Variables[name].Set(value); err != nil {
			return nil, fmt.Errorf("bypass programs: set %s: %w", name, err)
		}
	}

	b := &Bypass{cfg: cfg}
	err = spec.LoadAndAssign(&b.objs, &ebpf.CollectionOptions{Maps: ebpf.MapOptions{PinPath: cfg.PinPath}})
	switch {
	case errors.Is(err, ebpf.ErrMapIncompatible):
		return nil, fmt.Errorf("the maps pinned under %s come from an incompatible version of the bypass; "+
			"remove them with `meshaccel-bypass -remove -pin-path %s` (paired connections keep working): %w", cfg.PinPath, cfg.PinPath, err)
	case err != nil:
		return nil, fmt.Errorf("the kernel rejected the bypass programs (Linux %s or later is needed): %w", MinKernel, err)
	}
	defer func() {
		if err != nil {
			b.objs.Close()
		}
	}()
	info, err := b.objs.MeshaccelOps.Info()
	if err != nil {
		return nil, fmt.Errorf("sock_ops program info: %w", err)
	}
	b.opsID, _ = info.ID()

	// The verdict program goes on the table first: a socket takes the table's programs when it
	// joins, and sockets start joining as soon as the sock_ops program runs. Attaching replaces
	// the program an earlier instance left; sockets that joined before keep theirs.
	if err := link.RawAttachProgram(link.RawAttachProgramOptions{
		Target:  b.objs.BypassSockets.FD(),
		Program: b.objs.MeshaccelMsg,
		Attach:  ebpf.AttachSkMsgVerdict,
	}); err != nil {
		return nil, fmt.Errorf("attach the sk_msg program to the socket table: %w", err)
	}

	b.link, err = adoptOrAttach(filepath.Join(cfg.PinPath, cgroupLinkPin), cfg.CgroupPath, wantCgroup, b.objs.MeshaccelOps)
	if err != nil {
		return nil, err
	}
	return b, nil
}

// adoptOrAttach swaps the program of a pinned link on the same cgroup, or attaches and pins a
// new link (after detaching a pinned one that targets another cgroup).
func adoptOrAttach(pin, cgroupPath string, cgroupID uint64, prog *ebpf.Program) (link.Link, error) {
	old, err := link.LoadPinnedLink(pin, nil)
	switch {
	case err == nil:
		info, infoErr := old.Info()
		if infoErr == nil && info.Cgroup() != nil && info.Cgroup().CgroupId == cgroupID {
			if err := old.Update(prog); err != nil {
				old.Close()
				return nil, fmt.Errorf("swap the program of the pinned cgroup link %s: %w", pin, err)
			}
			return old, nil
		}
		// Pinned for another (or a removed) cgroup: that attachment is stale.
		if err := old.Unpin(); err != nil {
			old.Close()
			return nil, fmt.Errorf("remove stale cgroup link %s: %w", pin, err)
		}
		old.Close()
	case errors.Is(err, os.ErrNotExist):
	default:
		return nil, fmt.Errorf("open pinned cgroup link %s: %w", pin, err)
	}

	cg, err := os.Open(cgroupPath)
	if err != nil {
		return nil, fmt.Errorf("cgroup %q: %w", cgroupPath, err)
	}
	defer cg.Close()
	l, err := link.AttachRawLink(link.RawLinkOptions{
		Target:  int(cg.Fd()),
		Program: prog,
		Attach:  ebpf.AttachCGroupSockOps,
	})
	if errors.Is(err, ebpf.ErrNotSupported) {
		return nil, fmt.Errorf("%w: it cannot attach cgroup programs through bpf_link (Linux 5.7), which keeps the bypass attached across agent restarts", ErrUnsupportedKernel)
	}
	if err != nil {
		return nil, fmt.Errorf("attach the sock_ops program to cgroup %q: %w", cgroupPath, err)
	}
	if err := l.Pin(pin); err != nil {
		l.Close()
		return nil, fmt.Errorf("pin the cgroup link at %s: %w", pin, err)
	}
	return l, nil
}

// Counters reads the event counters.
func (b *Bypass) Counters() (Counters, error) {
	return ReadCounters(b.objs.BypassCounters)
}

// Config returns the configuration in effect, defaults filled in.
func (b *Bypass) Config() Config { return b.cfg }

// ObjectIDs returns the kernel ids of the programs this instance loaded (sock_ops, sk_msg) and of
// its maps (the counters last), for callers that verify nothing stays behind.
func (b *Bypass) ObjectIDs() (progs []ebpf.ProgramID, maps []ebpf.MapID, err error) {
	for _, p := range []*ebpf.Program{b.objs.MeshaccelOps, b.objs.MeshaccelMsg} {
		info, err := p.Info()
		if err != nil {
			return nil, nil, err
		}
		id, _ := info.ID()
		progs = append(progs, id)
	}
	for _, m := range []*ebpf.Map{b.objs.BypassSockets, b.objs.BypassStates, b.objs.BypassClients, b.objs.BypassLinks, b.objs.BypassCounters} {
		info, err := m.Info()
		if err != nil {
			return nil, nil, err
		}
		id, _ := info.ID()
		maps = append(maps, id)
	}
	return progs, maps, nil
}

// Close detaches the bypass and removes its pins, unless a newer instance has taken the
// attachment over, in which case it only lets go of its own handles. Connections paired before
// keep their fast path until they close; new connections use the normal stack.
func (b *Bypass) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil
	}
	b.closed = true

	unlock, err := lockDir(b.cfg.PinPath)
	if errors.Is(err, os.ErrNotExist) {
		// Removed under us (Remove, or an agent that found the node no longer enabled): nothing
		// is pinned any more, and dropping our handles detaches what we hold.
		return b.release()
	}
	if err != nil {
		b.release()
		return err
	}
	defer unlock()

	pin := filepath.Join(b.cfg.PinPath, cgroupLinkPin)
	owner := true
	if pinned, err := link.LoadPinnedLink(pin, nil); err == nil {
		info, infoErr := pinned.Info()
		owner = infoErr == nil && info.Program == b.opsID
		pinned.Close()
	}
	if !owner {
		return b.release()
	}

	var errs []error
	if err := b.link.Unpin(); err != nil {
		errs = append(errs, fmt.Errorf("unpin the cgroup link: %w", err))
	}
	for _, m := range []*ebpf.Map{b.objs.BypassSockets, b.objs.BypassStates, b.objs.BypassClients, b.objs.BypassLinks, b.objs.BypassCounters} {
		if err := m.Unpin(); err != nil {
			errs = append(errs, fmt.Errorf("unpin map: %w", err))
		}
	}
	errs = append(errs, b.release())
	// Only our own files lived there; a foreign file keeps the directory, and that is fine.
	if err := os.Remove(b.cfg.PinPath); err != nil && !errors.Is(err, os.ErrNotExist) && !errors.Is(err, unix.ENOTEMPTY) {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Release lets go of this instance's handles and leaves the bypass attached and pinned: the next
// instance adopts it. Use it when the agent restarts in place.
func (b *Bypass) Release() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil
	}
	b.closed = true
	return b.release()
}

func (b *Bypass) release() error {
	var errs []error
	if b.link != nil {
		errs = append(errs, b.link.Close())
	}
	errs = append(errs, b.objs.Close())
	return errors.Join(errs...)
}

// Remove detaches and unpins a bypass that no running agent owns, such as one left by an agent
// that was killed, or maps from an incompatible version. Connections paired before keep their
// fast path until they close.
func Remove(pinPath string) error {
	if pinPath == "" {
		pinPath = DefaultPinPath
	}
	if _, err := os.Stat(pinPath); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	unlock, err := lockDir(pinPath)
	if err != nil {
		return err
	}
	defer unlock()
	entries, err := os.ReadDir(pinPath)
	if err != nil {
		return err
	}
	var errs []error
	for _, e := range entries {
		// Dropping the last reference to the link detaches it; dropping the table's last user
		// reference releases its verdict program.
		if err := os.Remove(filepath.Join(pinPath, e.Name())); err != nil {
			errs = append(errs, err)
		}
	}
	if err := os.Remove(pinPath); err != nil && !errors.Is(err, os.ErrNotExist) {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// lockDir serialises instances that adopt or release the same pins.
func lockDir(dir string) (unlock func(), err error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", dir, err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", dir, err)
	}
	return func() {
		unix.Flock(int(f.Fd()), unix.LOCK_UN)
		f.Close()
	}, nil
}
