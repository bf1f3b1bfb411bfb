// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
//
// meshaccel TCP/IP bypass: a SOCK_OPS program pairs the two ends of every TCP
// connection that starts and ends inside the attached cgroup, and an SK_MSG
// program hands each send on a paired socket straight to the peer's receive
// queue, so sidecar hops on one node skip the TCP/IP stack.
//
// Pairing does not compare addresses. iptables REDIRECT rewrites the server's
// view of the connection (127.0.0.1:15001 or podIP:15006 instead of the
// original destination), the same client port can be reused towards different
// destinations, and loopback addresses repeat in every network namespace.
// What both ends agree on is the handshake: the client's initial sequence
// number and the server's. The client records them when its handshake
// completes; the server finds that record when its own handshake completes one
// step later. A 64-bit random pair cannot be matched by an unrelated socket.
//
// Every send that cannot be redirected passes through the normal stack. Once
// a socket has sent anything through the stack it never redirects again, so
// the receiver can never read redirected bytes ahead of bytes still queued in
// TCP.

#include <linux/bpf.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#define AF_INET 2
#define AF_INET6 10

// Sockets older than the program never reach the table; a table this size
// covers the connections one node's pods keep open at once.
#define MAX_SOCKETS 65536

// Where a paired connection sits in an Istio sidecar data path.
enum bypass_path {
	PATH_OUTBOUND = 0, // app -> own sidecar (iptables REDIRECT to the outbound capture port)
	PATH_INBOUND = 1,  // sidecar -> app, dialled from the inbound passthrough source address
	PATH_PROXY = 2,    // sidecar -> sidecar of another pod on the node (inbound capture port)
	PATH_LOCAL = 3,    // any other connection with both ends inside the cgroup
	PATH_COUNT = 4,
};

// Per-CPU event counters, summed by the agent and exported as metrics.
struct counters {
	__u64 paired[PATH_COUNT];           // connections whose two ends were paired
	__u64 redirected_msgs[PATH_COUNT];  // sends handed to the peer socket
	__u64 redirected_bytes[PATH_COUNT];
	__u64 passthrough_msgs;  // sends on a table socket that went through TCP
	__u64 passthrough_bytes;
	__u64 released;          // client sockets dropped from the table: no local peer
	__u64 unmatched;         // server sockets left alone: not a path we accelerate
	__u64 table_full;        // table updates the kernel refused
};

// Handshake identity: both ends of one connection compute the same key.
struct handshake {
	__u32 client_seq; // client ISN + 1
	__u32 server_seq; // server ISN + 1
};

// What the client recorded at connect, waiting for its server.
struct client_record {
	__u64 cookie;            // client socket cookie (its key in bypass_sockets)
	__u32 local_addr[4];     // client address, IPv4 as ::ffff:a.b.c.d
};

// The server tells its client who the peer is: the client's own program
// cannot be reached from the server's, so the client collects it on its first
// send.
struct peer_link {
	__u64 cookie; // server socket cookie
	__u32 path;
	__u32 pad;
};

#define STATE_CLIENT 1      // this socket connected (it has a client_record)
#define STATE_PASSTHROUGH 2 // sent through TCP once: never redirect again

// Per-socket state, stored with the socket itself.
struct conn_state {
	__u64 cookie;          // own socket cookie: SK_MSG programs cannot compute it
	__u64 peer;            // peer socket cookie, 0 until known
	struct handshake hs;   // client sockets: the key of their client_record
	__u32 path;
	__u32 flags;
};

// Every socket that may be redirected to, by socket cookie.
struct {
	__uint(type, BPF_MAP_TYPE_SOCKHASH);
	__uint(max_entries, MAX_SOCKETS);
	__type(key, __u64);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} bypass_sockets SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct conn_state);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} bypass_states SEC(".maps");

// Losing a client record only costs one pairing, so an LRU bounds it.
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, MAX_SOCKETS);
	__type(key, struct handshake);
	__type(value, struct client_record);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} bypass_clients SEC(".maps");

// A lost link would make a client leave the table while its server still
// redirects to it, so links live in a plain hash that never evicts.
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MAX_SOCKETS);
	__type(key, __u64);
	__type(value, struct peer_link);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} bypass_links SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct counters);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} bypass_counters SEC(".maps");

// Istio's defaults; the loader sets them from its configuration.
volatile const __u16 outbound_capture_port = 15001;
volatile const __u16 inbound_capture_port = 15006;
// InboundPassthroughBindIpv4/Ipv6: the source address of sidecar -> app.
// Addresses are in network byte order.
volatile const __u8 inbound_source_v4[4] = {127, 0, 0, 6};
volatile const __u8 inbound_source_v6[16] = {[15] = 6};
// Bit (1 << path) set: pair connections on that path. Outbound, inbound and proxy to proxy.
volatile const __u8 enabled_paths = (1 << PATH_OUTBOUND) | (1 << PATH_INBOUND) | (1 << PATH_PROXY);

static __always_inline struct counters *counters(void)
{
	__u32 zero = 0;
	return bpf_map_lookup_elem(&bypass_counters, &zero);
}

static __always_inline void count_table_full(void)
{
	struct counters *c = counters();
	if (c)
		c->table_full++;
}

// Pins a value in a register here, so the compiler cannot turn two context loads into one load
// through a selected pointer (the verifier only accepts constant context offsets).
#define pin_value(x) asm volatile("" : "+r"(x))

// IPv4 sockets and IPv4 connections on dual-stack sockets look the same.
static __always_inline void local_addr(struct bpf_sock_ops *ops, __u32 out[4])
{
	__u32 v4 = ops->local_ip4;
	__u32 a0 = ops->local_ip6[0], a1 = ops->local_ip6[1];
	__u32 a2 = ops->local_ip6[2], a3 = ops->local_ip6[3];

	pin_value(v4);
	pin_value(a0);
	pin_value(a1);
	pin_value(a2);
	pin_value(a3);
	if (ops->family == AF_INET) {
		out[0] = 0;
		out[1] = 0;
		out[2] = bpf_htonl(0x0000ffff);
		out[3] = v4;
		return;
	}
	out[0] = a0;
	out[1] = a1;
	out[2] = a2;
	out[3] = a3;
}

static __always_inline int is_inbound_source(const __u32 a[4])
{
	const __u8 *b = (const __u8 *)a;
	int i;

	if (a[0] == 0 && a[1] == 0 && a[2] == bpf_htonl(0x0000ffff)) {
#pragma unroll
		for (i = 0; i < 4; i++)
			if (b[12 + i] != inbound_source_v4[i])
				return 0;
		return 1;
	}
#pragma unroll
	for (i = 0; i < 16; i++)
		if (b[i] != inbound_source_v6[i])
			return 0;
	return 1;
}

// The client end: record the handshake and join the table. Whether a local
// server will claim this connection is not known yet.
static __always_inline void client_established(struct bpf_sock_ops *ops)
{
	struct bpf_sock *sk = ops->sk;
	struct conn_state *st;
	struct client_record rec = {};
	struct handshake hs = {
		.client_seq = ops->snd_nxt,
		.server_seq = ops->rcv_nxt,
	};
	__u64 cookie;

	if (!sk)
		return;
	cookie = bpf_get_socket_cookie(ops);
	rec.cookie = cookie;
	local_addr(ops, rec.local_addr);

	st = bpf_sk_storage_get(&bypass_states, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (!st) {
		count_table_full();
		return;
	}
	st->cookie = cookie;
	st->peer = 0;
	st->hs = hs;
	st->path = 0;
	st->flags = STATE_CLIENT;

	if (bpf_map_update_elem(&bypass_clients, &hs, &rec, BPF_ANY) != 0) {
		st->flags |= STATE_PASSTHROUGH;
		count_table_full();
		return;
	}
	if (bpf_sock_hash_update(ops, &bypass_sockets, &cookie, BPF_ANY) != 0) {
		bpf_map_delete_elem(&bypass_clients, &hs);
		st->flags |= STATE_PASSTHROUGH;
		count_table_full();
		return;
	}
	// STATE: forget the record on close. RTT: the first acknowledged send
	// tells whether a local server claimed the connection.
	bpf_sock_ops_cb_flags_set(ops, ops->bpf_sock_ops_cb_flags |
				       BPF_SOCK_OPS_STATE_CB_FLAG |
				       BPF_SOCK_OPS_RTT_CB_FLAG);
}

static __always_inline int classify(struct bpf_sock_ops *ops, const struct client_record *rec)
{
	__u32 port = ops->local_port;
	int path;

	if (port == outbound_capture_port)
		path = PATH_OUTBOUND;
	else if (port == inbound_capture_port)
		path = PATH_PROXY;
	else if (is_inbound_source(rec->local_addr))
		path = PATH_INBOUND;
	else
		path = PATH_LOCAL;
	if (!(enabled_paths & (1 << path)))
		return -1;
	return path;
}

// The server end: find the client by handshake, pair both ends.
static __always_inline void server_established(struct bpf_sock_ops *ops)
{
	struct bpf_sock *sk = ops->sk;
	struct client_record *found, rec;
	struct conn_state *st;
	struct peer_link link = {};
	struct counters *c;
	struct handshake hs = {
		.client_seq = ops->rcv_nxt,
		.server_seq = ops->snd_nxt,
	};
	__u64 cookie;
	int path;

	if (!sk)
		return;
	found = bpf_map_lookup_elem(&bypass_clients, &hs);
	if (!found) {
		c = counters();
		if (c)
			c->unmatched++;
		return;
	}
	rec = *found;
	bpf_map_delete_elem(&bypass_clients, &hs);

	path = classify(ops, &rec);
	if (path < 0 || path >= PATH_COUNT) {
		c = counters();
		if (c)
			c->unmatched++;
		return;
	}

	cookie = bpf_get_socket_cookie(ops);
	st = bpf_sk_storage_get(&bypass_states, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (!st) {
		count_table_full();
		return;
	}
	st->cookie = cookie;
	st->peer = rec.cookie;
	st->hs = hs;
	st->path = path;
	st->flags = 0;

	// The link goes first: once in the table this socket redirects to its
	// client, which must by then be able to learn that it is paired (a client
	// without a link leaves the table, and bytes queued for it would be lost).
	link.cookie = cookie;
	link.path = path;
	if (bpf_map_update_elem(&bypass_links, &rec.cookie, &link, BPF_ANY) != 0) {
		st->flags = STATE_PASSTHROUGH;
		count_table_full();
		return;
	}
	if (bpf_sock_hash_update(ops, &bypass_sockets, &cookie, BPF_ANY) != 0) {
		bpf_map_delete_elem(&bypass_links, &rec.cookie);
		st->flags = STATE_PASSTHROUGH;
		count_table_full();
		return;
	}
	// The server needs no further callbacks: the table forgets it when it closes, and its
	// client cleans up the shared records.
	c = counters();
	if (c)
		c->paired[path & (PATH_COUNT - 1)]++;
}

// The first RTT sample of a client comes from the ACK of its first send that
// went through TCP. A local server in the cgroup has been established (and
// written its link) before it could acknowledge anything, so a client with no
// peer and no link by now has none: it leaves the table and keeps the plain
// TCP path. Nothing was ever redirected to it, so no queued data is lost.
static __always_inline void client_first_ack(struct bpf_sock_ops *ops)
{
	struct bpf_sock *sk = ops->sk;
	struct conn_state *st;
	struct counters *c;
	__u64 cookie;

	bpf_sock_ops_cb_flags_set(ops, ops->bpf_sock_ops_cb_flags & ~BPF_SOCK_OPS_RTT_CB_FLAG);
	if (!sk)
		return;
	st = bpf_sk_storage_get(&bypass_states, sk, 0, 0);
	if (!st || !(st->flags & STATE_CLIENT))
		return;
	bpf_map_delete_elem(&bypass_clients, &st->hs);
	if (st->peer != 0)
		return;
	cookie = st->cookie;
	if (bpf_map_delete_elem(&bypass_links, &cookie) == 0) {
		// Paired, but the server came up after this socket's first send:
		// the server still redirects here, this socket keeps using TCP.
		return;
	}
	bpf_map_delete_elem(&bypass_sockets, &cookie);
	st->flags |= STATE_PASSTHROUGH;
	c = counters();
	if (c)
		c->released++;
}

static __always_inline void closed(struct bpf_sock_ops *ops)
{
	struct bpf_sock *sk = ops->sk;
	struct conn_state *st;
	__u64 cookie;

	if (!sk)
		return;
	st = bpf_sk_storage_get(&bypass_states, sk, 0, 0);
	if (!st)
		return;
	if (st->flags & STATE_CLIENT) {
		cookie = st->cookie;
		bpf_map_delete_elem(&bypass_clients, &st->hs);
		bpf_map_delete_elem(&bypass_links, &cookie);
	}
}

SEC("sockops")
int meshaccel_ops(struct bpf_sock_ops *ops)
{
	if (ops->family != AF_INET && ops->family != AF_INET6)
		return 1;

	switch (ops->op) {
	case BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB:
		client_established(ops);
		break;
	case BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB:
		server_established(ops);
		break;
	case BPF_SOCK_OPS_RTT_CB:
		client_first_ack(ops);
		break;
	case BPF_SOCK_OPS_STATE_CB:
		if (ops->args[1] == BPF_TCP_CLOSE)
			closed(ops);
		break;
	}
	return 1;
}

static __always_inline void count_pass(struct conn_state *st, __u32 size)
{
	struct counters *c = counters();

	if (st)
		st->flags |= STATE_PASSTHROUGH;
	if (c) {
		c->passthrough_msgs++;
		c->passthrough_bytes += size;
	}
}

SEC("sk_msg")
int meshaccel_msg(struct sk_msg_md *msg)
{
	struct bpf_sock *sk = msg->sk;
	struct conn_state *st;
	struct peer_link *link;
	struct counters *c;
	__u64 peer, cookie;
	__u32 path;

	if (!sk)
		return SK_PASS;
	st = bpf_sk_storage_get(&bypass_states, sk, 0, 0);
	if (!st || (st->flags & STATE_PASSTHROUGH)) {
		count_pass(st, msg->size);
		return SK_PASS;
	}
	if (st->peer == 0) {
		cookie = st->cookie;
		link = bpf_map_lookup_elem(&bypass_links, &cookie);
		if (!link) {
			// The server is not paired (yet): this byte goes through
			// TCP, and so must every later one.
			count_pass(st, msg->size);
			return SK_PASS;
		}
		st->peer = link->cookie;
		st->path = link->path;
		bpf_map_delete_elem(&bypass_links, &cookie);
	}

	peer = st->peer;
	path = st->path & (PATH_COUNT - 1);
	// The helper answers SK_DROP when the peer has left the table (closed):
	// then the data takes the normal path, which reports the close.
	if (bpf_msg_redirect_hash(msg, &bypass_sockets, &peer, BPF_F_INGRESS) != SK_PASS) {
		count_pass(st, msg->size);
		return SK_PASS;
	}
	c = counters();
	if (c) {
		c->redirected_msgs[path]++;
		c->redirected_bytes[path] += msg->size;
	}
	return SK_PASS;
}

char __license[] SEC("license") = "Dual BSD/GPL";
