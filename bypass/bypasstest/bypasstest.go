// Package bypasstest builds sidecar-like TCP topologies for testing and benchmarking the bypass:
// a forwarding proxy that behaves like an Istio sidecar listener (it can recover the original
// destination of a REDIRECTed connection and dial from the inbound passthrough address), an echo
// server, and byte accounting that compares what the applications wrote with what TCP carried.
//
// Data is copied with plain read/write calls. io.Copy between two TCP connections would use
// splice(2), which reads the TCP receive queue directly and never sees data the bypass delivered
// to the socket; Envoy does not splice, and neither do these proxies.
package bypasstest

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Traffic sums, over every connection a topology closed, the bytes its applications wrote and
// the data bytes TCP itself delivered to them. With the bypass, the difference is what was handed
// straight to the peer socket. Each connection is counted when it closes, after it has read to
// EOF, so that everything its peer sent has arrived.
type Traffic struct {
	AppBytes atomic.Uint64
	TCPBytes atomic.Uint64
}

// Snapshot is a copy of Traffic.
type Snapshot struct {
	AppBytes uint64 `json:"appBytes"`
	TCPBytes uint64 `json:"tcpBytes"`
}

// Snapshot returns the current sums.
func (t *Traffic) Snapshot() Snapshot {
	if t == nil {
		return Snapshot{}
	}
	return Snapshot{AppBytes: t.AppBytes.Load(), TCPBytes: t.TCPBytes.Load()}
}

// Conn wraps a TCP connection and accounts what is written to it and what TCP delivered to it.
type Conn struct {
	*net.TCPConn
	traffic *Traffic
	written atomic.Uint64
	sawEOF  atomic.Bool
	once    sync.Once
}

// Account wraps c; t may be nil to skip accounting.
func Account(c *net.TCPConn, t *Traffic) *Conn {
	return &Conn{TCPConn: c, traffic: t}
}

func (c *Conn) Read(p []byte) (int, error) {
	n, err := c.TCPConn.Read(p)
	if errors.Is(err, io.EOF) {
		c.sawEOF.Store(true)
	}
	return n, err
}

func (c *Conn) Write(p []byte) (int, error) {
	n, err := c.TCPConn.Write(p)
	c.written.Add(uint64(n))
	return n, err
}

// Close records the connection's totals, reading TCP_INFO before the socket goes, and closes it.
func (c *Conn) Close() error {
	c.once.Do(func() {
		if c.traffic == nil {
			return
		}
		c.traffic.AppBytes.Add(c.written.Load())
		if received, err := tcpBytesReceived(c.TCPConn); err == nil {
			if c.sawEOF.Load() && received > 0 {
				received-- // the FIN takes one sequence number
			}
			c.traffic.TCPBytes.Add(received)
		}
	})
	return c.TCPConn.Close()
}

// tcpBytesReceived is tcpi_bytes_received: the sequence space TCP delivered in order, so
// retransmissions count once.
func tcpBytesReceived(c *net.TCPConn) (uint64, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return 0, err
	}
	var info *unix.TCPInfo
	var sockErr error
	if err := raw.Control(func(fd uintptr) {
		info, sockErr = unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO)
	}); err != nil {
		return 0, err
	}
	if sockErr != nil {
		return 0, sockErr
	}
	return info.Bytes_received, nil
}

// Upstream chooses and dials where a proxied connection goes.
type Upstream func(downstream *net.TCPConn) (*net.TCPConn, error)

// Proxy forwards every accepted connection to its upstream, both directions, propagating
// half-close, like a sidecar's TCP proxy.
type Proxy struct {
	Listener *net.TCPListener
	Upstream Upstream
	Traffic  *Traffic
	// BufferSize is the copy buffer per direction (default 64 KiB).
	BufferSize int

	wg     sync.WaitGroup
	errMu  sync.Mutex
	errs   []error
	closed atomic.Bool
}

// Serve accepts until Close.
func (p *Proxy) Serve() {
	for {
		c, err := p.Listener.AcceptTCP()
		if err != nil {
			if !p.closed.Load() {
				p.fail(fmt.Errorf("accept on %s: %w", p.Listener.Addr(), err))
			}
			return
		}
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			if err := p.forward(c); err != nil {
				p.fail(err)
			}
		}()
	}
}

func (p *Proxy) forward(c *net.TCPConn) error {
	down := Account(c, p.Traffic)
	defer down.Close()
	upConn, err := p.Upstream(c)
	if err != nil {
		return fmt.Errorf("proxy %s: upstream for %s: %w", p.Listener.Addr(), c.RemoteAddr(), err)
	}
	up := Account(upConn, p.Traffic)
	defer up.Close()
	size := p.BufferSize
	if size == 0 {
		size = 64 << 10
	}
	errc := make(chan error, 2)
	go func() { errc <- Pipe(up, down, size) }()
	go func() { errc <- Pipe(down, up, size) }()
	return errors.Join(<-errc, <-errc)
}

// Pipe copies src to dst until EOF, then half-closes dst.
func Pipe(dst, src *Conn, bufferSize int) error {
	buf := make([]byte, bufferSize)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return fmt.Errorf("write %s→%s: %w", dst.LocalAddr(), dst.RemoteAddr(), werr)
			}
		}
		if errors.Is(err, io.EOF) {
			return dst.CloseWrite()
		}
		if err != nil {
			return fmt.Errorf("read %s←%s: %w", src.LocalAddr(), src.RemoteAddr(), err)
		}
	}
}

func (p *Proxy) fail(err error) {
	p.errMu.Lock()
	p.errs = append(p.errs, err)
	p.errMu.Unlock()
}

// Close stops accepting, waits for the connections in flight and returns their errors.
func (p *Proxy) Close() error {
	p.closed.Store(true)
	p.Listener.Close()
	p.wg.Wait()
	p.errMu.Lock()
	defer p.errMu.Unlock()
	return errors.Join(p.errs...)
}

// EchoServer writes back everything it reads, then half-closes when the client does.
type EchoServer struct {
	Listener *net.TCPListener
	Traffic  *Traffic
	// Splice echoes with io.Copy from the connection to itself, which Go implements with
	// splice(2), as Go TCP relays do; otherwise it reads and writes.
	Splice bool

	wg     sync.WaitGroup
	errMu  sync.Mutex
	errs   []error
	closed atomic.Bool
}

// Serve accepts until Close.
func (s *EchoServer) Serve() {
	for {
		c, err := s.Listener.AcceptTCP()
		if err != nil {
			if !s.closed.Load() {
				s.fail(fmt.Errorf("accept on %s: %w", s.Listener.Addr(), err))
			}
			return
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			conn := Account(c, s.Traffic)
			defer conn.Close()
			var err error
			if s.Splice {
				err = spliceEcho(conn)
			} else {
				err = Pipe(conn, conn, 64<<10)
			}
			if err != nil {
				s.fail(err)
			}
		}()
	}
}

func spliceEcho(c *Conn) error {
	// Both ends are *net.TCPConn, so io.Copy splices; the count is added by hand because the
	// bytes never pass through Conn.Write.
	n, err := io.Copy(c.TCPConn, c.TCPConn)
	c.written.Add(uint64(n))
	if err != nil {
		return fmt.Errorf("splice echo on %s: %w", c.LocalAddr(), err)
	}
	c.sawEOF.Store(true)
	return c.CloseWrite()
}

func (s *EchoServer) fail(err error) {
	s.errMu.Lock()
	s.errs = append(s.errs, err)
	s.errMu.Unlock()
}

// Close stops accepting, waits for the connections in flight and returns their errors.
func (s *EchoServer) Close() error {
	s.closed.Store(true)
	s.Listener.Close()
	s.wg.Wait()
	s.errMu.Lock()
	defer s.errMu.Unlock()
	return errors.Join(s.errs...)
}

// DialFixed dials the same address for every connection, optionally from a source address (the
// zero Addr lets the kernel choose) and with a socket mark (0 for none).
func DialFixed(to netip.AddrPort, from netip.Addr, mark int) Upstream {
	return func(*net.TCPConn) (*net.TCPConn, error) { return Dial(to, from, mark) }
}

// DialOriginalDestination dials where a REDIRECTed downstream connection was going, like an
// Istio sidecar's virtual listener.
func DialOriginalDestination(from netip.Addr, mark int) Upstream {
	return func(down *net.TCPConn) (*net.TCPConn, error) {
		to, err := OriginalDestination(down)
		if err != nil {
			return nil, err
		}
		return Dial(to, from, mark)
	}
}

// Dial opens a TCP connection to to, from from when valid, with SO_MARK mark when non-zero.
func Dial(to netip.AddrPort, from netip.Addr, mark int) (*net.TCPConn, error) {
	d := net.Dialer{}
	if from.IsValid() {
		d.LocalAddr = net.TCPAddrFromAddrPort(netip.AddrPortFrom(from, 0))
	}
	if mark != 0 {
		d.Control = func(_, _ string, c syscall.RawConn) error {
			var serr error
			if err := c.Control(func(fd uintptr) {
				serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_MARK, mark)
			}); err != nil {
				return err
			}
			return serr
		}
	}
	c, err := d.Dial("tcp", to.String())
	if err != nil {
		return nil, err
	}
	return c.(*net.TCPConn), nil
}

// OriginalDestination returns the destination an IPv4 connection had before iptables redirected
// it (SO_ORIGINAL_DST).
func OriginalDestination(c *net.TCPConn) (netip.AddrPort, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return netip.AddrPort{}, err
	}
	var sa unix.RawSockaddrInet4
	var serr error
	if err := raw.Control(func(fd uintptr) {
		size := uint32(unsafe.Sizeof(sa))
		_, _, errno := unix.Syscall6(unix.SYS_GETSOCKOPT, fd, unix.SOL_IP, unix.SO_ORIGINAL_DST,
			uintptr(unsafe.Pointer(&sa)), uintptr(unsafe.Pointer(&size)), 0)
		if errno != 0 {
			serr = errno
		}
	}); err != nil {
		return netip.AddrPort{}, err
	}
	if serr != nil {
		return netip.AddrPort{}, fmt.Errorf("SO_ORIGINAL_DST of %s: %w", c.LocalAddr(), serr)
	}
	portBytes := (*[2]byte)(unsafe.Pointer(&sa.Port)) // network byte order
	port := uint16(portBytes[0])<<8 | uint16(portBytes[1])
	return netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), port), nil
}

// Listen opens a TCP listener on addr.
func Listen(addr string) (*net.TCPListener, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	return l.(*net.TCPListener), nil
}
