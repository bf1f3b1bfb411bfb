// Package bypass short-circuits the kernel TCP/IP stack between the sockets of one node that an
// Istio sidecar data path connects: app → own sidecar (after the iptables REDIRECT to the outbound
// capture port), sidecar → sidecar of another pod on the node (inbound capture port), and
// sidecar → app (dialled from the inbound passthrough source address 127.0.0.6 / ::6).
//
// A SOCK_OPS program attached to a cgroup v2 pairs the two ends of each such connection by their
// handshake sequence numbers and records them in a SOCKHASH; an SK_MSG program hands every send on
// a paired socket straight to the peer's receive queue. Everything else (sockets whose peer is on
// another node or outside the cgroup, connections the mesh does not own) keeps the normal stack.
//
// Objects are pinned under a bpffs directory so that a new agent adopts the maps and swaps the
// programs atomically, and connections that were paired keep their fast path for as long as they
// live, even after the agent detaches.
package bypass
