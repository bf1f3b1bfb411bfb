package bypass

// The BPF objects are committed; `make generate-bypass` rebuilds them with clang and libbpf-dev.
// Both architecture include directories are listed so that linux/bpf.h finds asm/types.h on
// amd64 and arm64 hosts alike; the output is little-endian BPF, the same for both.
//go:generate go run github.com/cilium/ebpf/cmd/bpf2go -cc clang -target bpfel -type counters -type conn_state -type handshake -type client_record -type peer_link bypass bpf/bypass.c -- -O2 -g -Wall -Werror -I/usr/include/x86_64-linux-gnu -I/usr/include/aarch64-linux-gnu
