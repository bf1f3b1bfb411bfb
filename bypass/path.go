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
	// source address.
	PathInbound
	// PathProxyToProxy is sidecar → sidecar of another pod on the same node: the connection
	// arrived on the inbound capture port. A client without a sidecar that dials a meshed pod on
	// the node is counted here too.
	PathProxyToProxy
	// PathLocal is any other connection with both ends in the cgroup; it is only accelerated
	// when Config.AccelerateLocal is set.
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
