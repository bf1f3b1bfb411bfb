package bypasstest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
)

// Chain is the sidecar data path of one request between two pods, on loopback:
//
//	client → outbound proxy (OutboundPort) → inbound proxy (InboundPort) → echo server (AppPort)
//
// The inbound proxy dials the server from the inbound passthrough address, as an Istio sidecar
// does, so each hop is one of the bypass's paths: outbound, proxy to proxy, inbound.
type Chain struct {
	Outbound *Proxy
	Inbound  *Proxy
	Server   *EchoServer
	// Entry is where clients connect.
	Entry   netip.AddrPort
	Traffic *Traffic
}

// ChainConfig places a Chain. Zero ports pick free ones.
type ChainConfig struct {
	Host          netip.Addr // default 127.0.0.1
	InboundSource netip.Addr // default 127.0.0.6
	OutboundPort  uint16
	InboundPort   uint16
	AppPort       uint16
	BufferSize    int
	// SpliceServer makes the server echo with splice(2) (see EchoServer.Splice).
	SpliceServer bool
}

// StartChain listens on every hop and starts serving.
func StartChain(cfg ChainConfig) (*Chain, error) {
	if !cfg.Host.IsValid() {
		cfg.Host = netip.MustParseAddr("127.0.0.1")
	}
	if !cfg.InboundSource.IsValid() {
		cfg.InboundSource = netip.MustParseAddr("127.0.0.6")
	}
	listen := func(port uint16) (*net.TCPListener, error) {
		return Listen(netip.AddrPortFrom(cfg.Host, port).String())
	}
	ch := &Chain{Traffic: &Traffic{}}
	app, err := listen(cfg.AppPort)
	if err != nil {
		return nil, fmt.Errorf("chain server: %w", err)
	}
	in, err := listen(cfg.InboundPort)
	if err != nil {
		app.Close()
		return nil, fmt.Errorf("chain inbound proxy: %w", err)
	}
	out, err := listen(cfg.OutboundPort)
	if err != nil {
		app.Close()
		in.Close()
		return nil, fmt.Errorf("chain outbound proxy: %w", err)
	}
	ch.Server = &EchoServer{Listener: app, Traffic: ch.Traffic, Splice: cfg.SpliceServer}
	ch.Inbound = &Proxy{
		Listener:   in,
		Upstream:   DialFixed(addrPort(app), cfg.InboundSource, 0),
		Traffic:    ch.Traffic,
		BufferSize: cfg.BufferSize,
	}
	ch.Outbound = &Proxy{
		Listener:   out,
		Upstream:   DialFixed(addrPort(in), netip.Addr{}, 0),
		Traffic:    ch.Traffic,
		BufferSize: cfg.BufferSize,
	}
	ch.Entry = addrPort(out)
	go ch.Server.Serve()
	go ch.Inbound.Serve()
	go ch.Outbound.Serve()
	return ch, nil
}

// Ports returns the listening ports: outbound proxy, inbound proxy, server.
func (ch *Chain) Ports() (outbound, inbound, app uint16) {
	return addrPort(ch.Outbound.Listener).Port(), addrPort(ch.Inbound.Listener).Port(), addrPort(ch.Server.Listener).Port()
}

// Close stops every hop and returns the errors they met.
func (ch *Chain) Close() error {
	return errors.Join(ch.Outbound.Close(), ch.Inbound.Close(), ch.Server.Close())
}

func addrPort(l *net.TCPListener) netip.AddrPort {
	return l.Addr().(*net.TCPAddr).AddrPort()
}

// Exchange sends payload on c, half-closes, reads the echo to EOF and checks it is payload.
func Exchange(c *Conn, payload []byte) error {
	werr := make(chan error, 1)
	go func() {
		_, err := c.Write(payload)
		if err == nil {
			err = c.CloseWrite()
		}
		werr <- err
	}()
	got, rerr := io.ReadAll(c)
	if err := <-werr; err != nil {
		return fmt.Errorf("send %d bytes: %w", len(payload), err)
	}
	if rerr != nil {
		return fmt.Errorf("read echo of %d bytes: %w", len(payload), rerr)
	}
	if !bytes.Equal(got, payload) {
		return fmt.Errorf("echo of %d bytes differs: got %d bytes, first difference at %d", len(payload), len(got), firstDifference(got, payload))
	}
	return nil
}

func firstDifference(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}
