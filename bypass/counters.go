package bypass

import (
	"fmt"

	"github.com/cilium/ebpf"
)

// PathCounters counts what one path did.
type PathCounters struct {
	// Connections is the number of connections whose two ends were paired.
	Connections uint64
	// Messages and Bytes count the sends handed straight to the peer socket.
	Messages uint64
	Bytes    uint64
}

// Counters are the bypass's event counters, summed over CPUs. They live in a pinned map, so they
// keep counting across agent restarts and only reset when the bypass is removed from the node.
type Counters struct {
	Paths [NumPaths]PathCounters
	// PassthroughMessages and PassthroughBytes count sends on table sockets that went through
	// TCP: the peer was not paired (yet), had closed, or the socket had used TCP before.
	PassthroughMessages uint64
	PassthroughBytes    uint64
	// Released counts client sockets that left the table because no local peer claimed them.
	Released uint64
	// Unmatched counts server sockets left alone: their client is not in the cgroup (or on
	// another node), or the connection is not one of the accelerated paths.
	Unmatched uint64
	// TableFull counts pairings the kernel refused because a table was full.
	TableFull uint64
}

// Redirected sums the redirected messages and bytes over all paths.
func (c Counters) Redirected() (messages, bytes uint64) {
	for _, p := range c.Paths {
		messages += p.Messages
		bytes += p.Bytes
	}
	return messages, bytes
}

// Sub returns c - base, counter by counter: what happened between two readings.
func (c Counters) Sub(base Counters) Counters {
	d := Counters{
		PassthroughMessages: c.PassthroughMessages - base.PassthroughMessages,
		PassthroughBytes:    c.PassthroughBytes - base.PassthroughBytes,
		Released:            c.Released - base.Released,
		Unmatched:           c.Unmatched - base.Unmatched,
		TableFull:           c.TableFull - base.TableFull,
	}
	for i := range c.Paths {
		d.Paths[i] = PathCounters{
			Connections: c.Paths[i].Connections - base.Paths[i].Connections,
			Messages:    c.Paths[i].Messages - base.Paths[i].Messages,
			Bytes:       c.Paths[i].Bytes - base.Paths[i].Bytes,
		}
	}
	return d
}

// ReadCounters reads the counters from the bypass's counters map, such as the pinned
// bypass_counters opened with ebpf.LoadPinnedMap.
func ReadCounters(m *ebpf.Map) (Counters, error) {
	var perCPU []bypassCounters
	if err := m.Lookup(uint32(0), &perCPU); err != nil {
		return Counters{}, fmt.Errorf("read bypass counters: %w", err)
	}
	var c Counters
	for _, cpu := range perCPU {
		for i := range NumPaths {
			c.Paths[i].Connections += cpu.Paired[i]
			c.Paths[i].Messages += cpu.RedirectedMsgs[i]
			c.Paths[i].Bytes += cpu.RedirectedBytes[i]
		}
		c.PassthroughMessages += cpu.PassthroughMsgs
		c.PassthroughBytes += cpu.PassthroughBytes
		c.Released += cpu.Released
		c.Unmatched += cpu.Unmatched
		c.TableFull += cpu.TableFull
	}
	return c, nil
}
