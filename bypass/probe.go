package bypass

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/features"
)

// MinKernel is the oldest kernel the bypass supports, as "major.minor".
const MinKernel = "5.10"

// minKernelReason says why: the newest facility the programs use and what each needs.
const minKernelReason = "the bypass needs cgroup bpf_link attachments (Linux 5.7), socket-local " +
	"storage reached from SK_MSG programs (5.8) and SOCKHASH with SK_MSG redirection (4.18); " +
	"5.10 is the first long-term kernel with all of them"

var kernelVersionPattern = regexp.MustCompile(`^v?(\d+)\.(\d+)`)

// NodeSupport says whether a node can run the bypass, from the kernel version its Node object
// reports (status.nodeInfo.kernelVersion, e.g. "5.15.0-1051-azure") and whether it runs cgroup v2
// (unified or hybrid). The reason explains a refusal, or names what was checked when ok.
func NodeSupport(kernelVersion string, cgroupV2 bool) (ok bool, reason string) {
	m := kernelVersionPattern.FindStringSubmatch(strings.TrimSpace(kernelVersion))
	if m == nil {
		return false, fmt.Sprintf("kernel version %q is not of the form major.minor[.patch]: cannot tell whether it is at least %s", kernelVersion, MinKernel)
	}
	major, errMajor := strconv.Atoi(m[1])
	minor, errMinor := strconv.Atoi(m[2])
	if errMajor != nil || errMinor != nil {
		return false, fmt.Sprintf("kernel version %q has an out-of-range number", kernelVersion)
	}
	if major < 5 || (major == 5 && minor < 10) {
		return false, fmt.Sprintf("kernel %d.%d is older than %s: %s", major, minor, MinKernel, minKernelReason)
	}
	if !cgroupV2 {
		return false, "the node has no cgroup v2 hierarchy: the bypass attaches its sock_ops program to a cgroup v2 (cgroup v1 cannot carry it)"
	}
	return true, fmt.Sprintf("kernel %d.%d is at least %s and cgroup v2 is available", major, minor, MinKernel)
}

type kernelFeature struct {
	name  string
	probe func() error
}

var kernelFeatures = []kernelFeature{
	{"SOCK_OPS programs", func() error { return features.HaveProgramType(ebpf.SockOps) }},
	{"SK_MSG programs", func() error { return features.HaveProgramType(ebpf.SkMsg) }},
	{"SOCKHASH maps", func() error { return features.HaveMapType(ebpf.SockHash) }},
	{"SK_STORAGE maps", func() error { return features.HaveMapType(ebpf.SkStorage) }},
	{"bpf_sock_hash_update in SOCK_OPS", func() error { return features.HaveProgramHelper(ebpf.SockOps, asm.FnSockHashUpdate) }},
	{"bpf_get_socket_cookie in SOCK_OPS", func() error { return features.HaveProgramHelper(ebpf.SockOps, asm.FnGetSocketCookie) }},
	{"bpf_sk_storage_get in SOCK_OPS", func() error { return features.HaveProgramHelper(ebpf.SockOps, asm.FnSkStorageGet) }},
	{"bpf_sock_ops_cb_flags_set in SOCK_OPS", func() error { return features.HaveProgramHelper(ebpf.SockOps, asm.FnSockOpsCbFlagsSet) }},
	{"bpf_sk_storage_get in SK_MSG", func() error { return features.HaveProgramHelper(ebpf.SkMsg, asm.FnSkStorageGet) }},
	{"bpf_msg_redirect_hash in SK_MSG", func() error { return features.HaveProgramHelper(ebpf.SkMsg, asm.FnMsgRedirectHash) }},
}

// ErrUnsupportedKernel is wrapped by Probe's error when the kernel lacks something the bypass
// needs.
var ErrUnsupportedKernel = errors.New("kernel cannot run the TCP/IP bypass")

// Probe checks that the running kernel offers every BPF facility the bypass uses. It needs the
// privileges of a loader (CAP_BPF, or root). The error names each missing facility.
func Probe() error {
	var missing []string
	for _, f := range kernelFeatures {
		err := f.probe()
		switch {
		case err == nil:
		case errors.Is(err, ebpf.ErrNotSupported):
			missing = append(missing, f.name)
		default:
			return fmt.Errorf("probe %s: %w (the loader needs CAP_BPF, CAP_NET_ADMIN and CAP_SYS_ADMIN)", f.name, err)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w: it lacks %s; %s", ErrUnsupportedKernel, strings.Join(missing, ", "), minKernelReason)
	}
	return nil
}
