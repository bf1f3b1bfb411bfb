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
// Caveat: a receiving socket only sees redirected bytes through read/recvmsg; splice(2) from it
// sees only what went through TCP. Sidecars do not splice, but an application behind the inbound
// path might (Go's io.Copy between two TCP connections does): see PathInbound.
package bypass
