package bypass

import "fmt"

// Path is where a paired connection sits in the sidecar data path. The values mirror
// enum bypass_path in bpf/bypass.c.
type Path int

const (
	// PathOutbound is app → own sidecar: the app's connection was redirected to the outbound
	// capture port.
	PathOutbound Path = iota
	// PathInbound is sidecar → app: the sidecar dialled the app from the inbound passthrough
	// source address. Here the receiving socket is the application's own: an application that
	// reads its socket with splice(2) (Go's io.Copy from one TCP connection to another does) only
	// sees what went through TCP, and the redirected bytes are lost to it. Leave this path out of
	// Config.Paths on nodes that run such applications.
	PathInbound
	// PathProxyToProxy is sidecar → sidecar of another pod on the same node: the connection
	// arrived on the inbound capture port. A client without a sidecar that dials a meshed pod on
	// the node is counted here too.
	PathProxyToProxy
	// PathLocal is any other connection with both ends in the cgroup. It is off by default:
	// the receiving sockets are applications' (see PathInbound).
	PathLocal

	// NumPaths is the number of paths.
	NumPaths = 4
)

// Paths lists every path in order.
var Paths = [NumPaths]Path{PathOutbound, PathInbound, PathProxyToProxy, PathLocal}

func (p Path) String() string {
	switch p {
	case PathOutbound:
		return "outbound"
	case PathInbound:
		return "inbound"
	case PathProxyToProxy:
		return "proxy_to_proxy"
	case PathLocal:
		return "local"
	}
	return fmt.Sprintf("path(%d)", int(p))
}

// ParsePath is the inverse of Path.String.
func ParsePath(s string) (Path, error) {
	for _, p := range Paths {
		if p.String() == s {
			return p, nil
		}
	}
	return 0, fmt.Errorf("unknown bypass path %q (want outbound, inbound, proxy_to_proxy or local)", s)
}
