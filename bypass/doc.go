// Package bypass short-circuits the kernel TCP/IP stack between the sockets of one node that an
// Istio sidecar data path connects: app → own sidecar (after the iptables REDIRECT to the outbound
// capture port), sidecar → sidecar of another pod on the node (inbound capture port), and
// sidecar → app (dialled from the inbound passthrough source address 127.0.0.6 / ::6).
//
// A SOCK_OPS program attached to a cgroup v2 pairs the two ends of each such connection and keeps
// them in a SOCKHASH; an SK_MSG program hands every send on a paired socket straight to the
// peer's receive queue (bpf/bypass.c).
//
// Pairing uses the handshake, not addresses: when a client's handshake completes it records its
// and its server's initial sequence numbers; when the server's completes, one step later, the
// server finds that record. REDIRECT rewrites the server's view of the addresses, a client port
// can be reused towards several destinations and loopback addresses repeat in every network
// namespace, but the 64-bit pair of random sequence numbers identifies one connection. Which sidecar
// path a pair is comes from the server's port and the client's source address.
//
// Safety rules:
//   - A send that cannot be redirected passes through TCP, and once a socket has sent through TCP
//     it never redirects again, so a receiver never reads redirected bytes ahead of bytes still
//     in flight in TCP.
//   - A client whose server is not a local socket in the cgroup leaves the table on its first
//     acknowledged send, so traffic to other nodes keeps the plain TCP path at full cost only.
//   - Objects are pinned (DefaultPinPath) so a new agent adopts the tables and swaps the program
//     atomically; Close detaches only if no newer instance has taken over. Connections paired
//     before a detach keep their fast path until they close.
//
// Per-node enablement: the operator decides where the bypass runs. A node qualifies when its kernel
// is at least MinKernel (status.nodeInfo.kernelVersion) and it has a cgroup v2 (see NodeSupport
// and Extension). Nothing in Node Feature Discovery sees cgroup v2, so the node agent
// (cmd/meshaccel-bypass) publishes it: it resolves the cgroup it attaches to (FindCgroup2, which
// also accepts the root of a systemd hybrid layout) and writes FeatureFile into NFD's local feature
// directory (NFDFeaturesDir) with WriteFeatureFile, which NFD turns into the node label
// CgroupV2Label. From the policies the operator renders the ConfigMap meshaccel-bypass-nodes in
// its own namespace, key nodes: the node names where the bypass must be active, one per line.
// The agent reads the mounted key (EnabledNodes, NodeEnabled) every poll interval, attaches when
// its node is listed and detaches when it is not or the ConfigMap does not exist. A node whose
// kernel or cgroup cannot carry the bypass keeps the agent in probe-only mode: it says why and
// never attaches.
//
// Caveat: a receiving socket only sees redirected bytes through read/recvmsg; splice(2) from it
// sees only what went through TCP. Sidecars do not splice, but an application behind the inbound
// path might (Go's io.Copy between two TCP connections does): see PathInbound.
package bypass
