package bypass_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"

	"github.com/meshaccel/meshaccel/bypass/bypasstest"
	"golang.org/x/sys/unix"
)

// Istio's conventions, reproduced in the helpers' network namespaces.
const (
	outboundPort = 15001
	inboundPort  = 15006
	appPort      = 8080
	proxyMark    = 1337 // the sidecar marks its own upstream connections so iptables skips them
)

type chainArgs struct {
	Workload     workload `json:"workload"`
	SpliceServer bool     `json:"spliceServer"`
	// IPv6 runs the chain on ::1 with the sidecar dialling the server from ::6, as Istio does on
	// IPv6 pods.
	IPv6 bool `json:"ipv6"`
}

type dialArgs struct {
	Target   string   `json:"target"`
	Workload workload `json:"workload"`
}

type podClientArgs struct {
	Target   string   `json:"target"`
	Workload workload `json:"workload"`
}

type sessionArgs struct {
	Conns int `json:"conns"`
}

type listening struct {
	Addr string `json:"addr"`
}

var roles = map[string]func(in *bufio.Scanner, args []byte) (any, error){
	"chain":      chainRole,
	"dial":       dialRole,
	"echo":       echoRole,
	"pod-server": podServerRole,
	"pod-client": podClientRole,
	"session":    sessionRole,
}

func runHelper(role string) int {
	run, ok := roles[role]
	if !ok {
		fmt.Fprintf(os.Stderr, "unknown helper role %q\n", role)
		return 2
	}
	in := bufio.NewScanner(os.Stdin)
	data, err := run(in, []byte(os.Getenv("MESHACCEL_BYPASS_HELPER_ARGS")))
	if err != nil {
		reply(nil, err)
		return 1
	}
	reply(data, nil)
	return 0
}

func reply(data any, err error) {
	var msg helperMessage
	if err != nil {
		msg.Error = err.Error()
	} else if data != nil {
		msg.Data, _ = json.Marshal(data)
	}
	line, _ := json.Marshal(msg)
	os.Stdout.Write(append(line, '\n'))
}

// expect waits for the test to send word.
func expect(in *bufio.Scanner, word string) error {
	if !in.Scan() {
		return fmt.Errorf("waiting for %q: input closed", word)
	}
	if got := strings.TrimSpace(in.Text()); got != word {
		return fmt.Errorf("waiting for %q, got %q", word, got)
	}
	return nil
}

// loopbackUp brings lo up in a fresh network namespace.
func loopbackUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return fmt.Errorf("lo flags: %w", err)
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		return fmt.Errorf("bring lo up: %w", err)
	}
	return nil
}

func dialer(target netip.AddrPort, traffic *bypasstest.Traffic) func() (*bypasstest.Conn, error) {
	return func() (*bypasstest.Conn, error) {
		c, err := bypasstest.Dial(target, netip.Addr{}, 0)
		if err != nil {
			return nil, err
		}
		return bypasstest.Account(c, traffic), nil
	}
}

// chainRole runs the loopback sidecar chain with Istio's ports in its own network namespace.
func chainRole(_ *bufio.Scanner, raw []byte) (any, error) {
	var args chainArgs
	if err := json.Unmarshal(raw, &args); err != nil {
		return nil, err
	}
	if err := loopbackUp(); err != nil {
		return nil, err
	}
	cfg := bypasstest.ChainConfig{
		OutboundPort: outboundPort, InboundPort: inboundPort, AppPort: appPort,
		SpliceServer: args.SpliceServer,
	}
	if args.IPv6 {
		// Istio's init container adds ::6 to lo; this namespace is the helper's own.
		if out, err := exec.Command("ip", "-6", "addr", "add", "::6/128", "dev", "lo", "nodad").CombinedOutput(); err != nil {
			return nil, fmt.Errorf("add ::6 to lo: %v: %s", err, out)
		}
		cfg.Host, cfg.InboundSource = mustAddr("::1"), mustAddr("::6")
	}
	ch, err := bypasstest.StartChain(cfg)
	if err != nil {
		return nil, err
	}
	werr := args.Workload.run(dialer(ch.Entry, ch.Traffic))
	if err := errors.Join(werr, ch.Close()); err != nil {
		return nil, err
	}
	return ch.Traffic.Snapshot(), nil
}

// dialRole runs a workload against a server outside the cgroup.
func dialRole(_ *bufio.Scanner, raw []byte) (any, error) {
	var args dialArgs
	if err := json.Unmarshal(raw, &args); err != nil {
		return nil, err
	}
	target, err := netip.ParseAddrPort(args.Target)
	if err != nil {
		return nil, err
	}
	traffic := &bypasstest.Traffic{}
	if err := args.Workload.run(dialer(target, traffic)); err != nil {
		return nil, err
	}
	return traffic.Snapshot(), nil
}

// echoRole serves echo on loopback for clients outside the cgroup until told to stop.
func echoRole(in *bufio.Scanner, _ []byte) (any, error) {
	l, err := bypasstest.Listen("127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	srv := &bypasstest.EchoServer{Listener: l, Traffic: &bypasstest.Traffic{}}
	go srv.Serve()
	reply(listening{Addr: l.Addr().String()}, nil)
	if err := expect(in, "stop"); err != nil {
		return nil, err
	}
	if err := srv.Close(); err != nil {
		return nil, err
	}
	return srv.Traffic.Snapshot(), nil
}

// podServerRole is a meshed server pod: its sidecar takes every inbound connection on the
// inbound capture port (iptables PREROUTING REDIRECT) and dials the app from 127.0.0.6.
func podServerRole(in *bufio.Scanner, _ []byte) (any, error) {
	if err := expect(in, "go"); err != nil {
		return nil, err
	}
	traffic := &bypasstest.Traffic{}
	app, err := bypasstest.Listen(fmt.Sprintf("0.0.0.0:%d", appPort))
	if err != nil {
		return nil, err
	}
	sidecar, err := bypasstest.Listen(fmt.Sprintf("0.0.0.0:%d", inboundPort))
	if err != nil {
		return nil, err
	}
	srv := &bypasstest.EchoServer{Listener: app, Traffic: traffic}
	proxy := &bypasstest.Proxy{
		Listener: sidecar,
		Upstream: bypasstest.DialOriginalDestination(mustAddr("127.0.0.6"), 0),
		Traffic:  traffic,
	}
	go srv.Serve()
	go proxy.Serve()
	reply(struct{}{}, nil)
	if err := expect(in, "stop"); err != nil {
		return nil, err
	}
	if err := errors.Join(proxy.Close(), srv.Close()); err != nil {
		return nil, err
	}
	return traffic.Snapshot(), nil
}

// podClientRole is a meshed client pod: iptables OUTPUT REDIRECTs the app's connections to its
// sidecar's outbound capture port; the sidecar dials the original destination with its mark.
func podClientRole(in *bufio.Scanner, raw []byte) (any, error) {
	var args podClientArgs
	if err := json.Unmarshal(raw, &args); err != nil {
		return nil, err
	}
	target, err := netip.ParseAddrPort(args.Target)
	if err != nil {
		return nil, err
	}
	if err := expect(in, "go"); err != nil {
		return nil, err
	}
	traffic := &bypasstest.Traffic{}
	sidecar, err := bypasstest.Listen(fmt.Sprintf("0.0.0.0:%d", outboundPort))
	if err != nil {
		return nil, err
	}
	proxy := &bypasstest.Proxy{
		Listener: sidecar,
		Upstream: bypasstest.DialOriginalDestination(netip.Addr{}, proxyMark),
		Traffic:  traffic,
	}
	go proxy.Serve()
	werr := args.Workload.run(dialer(target, traffic))
	if err := errors.Join(werr, proxy.Close()); err != nil {
		return nil, err
	}
	return traffic.Snapshot(), nil
}

// sessionRole keeps connections open through the chain across commands from the test, so that
// the test can change the bypass underneath them:
//
//	round <seed>   one request/response of a random size on every connection
//	quit           close everything and report the traffic
func sessionRole(in *bufio.Scanner, raw []byte) (any, error) {
	var args sessionArgs
	if err := json.Unmarshal(raw, &args); err != nil {
		return nil, err
	}
	if err := loopbackUp(); err != nil {
		return nil, err
	}
	ch, err := bypasstest.StartChain(bypasstest.ChainConfig{OutboundPort: outboundPort, InboundPort: inboundPort, AppPort: appPort})
	if err != nil {
		return nil, err
	}
	dial := dialer(ch.Entry, ch.Traffic)
	conns := make([]*bypasstest.Conn, args.Conns)
	for i := range conns {
		if conns[i], err = dial(); err != nil {
			return nil, err
		}
	}
	reply(struct{}{}, nil)
	for in.Scan() {
		cmd := strings.Fields(in.Text())
		switch {
		case len(cmd) == 2 && cmd[0] == "round":
			seed, err := strconv.ParseUint(cmd[1], 10, 64)
			if err != nil {
				return nil, err
			}
			if err := roundTrips(conns, seed); err != nil {
				return nil, err
			}
			reply(struct{}{}, nil)
		case len(cmd) == 1 && cmd[0] == "quit":
			var errs []error
			for _, c := range conns {
				errs = append(errs, bypasstest.Exchange(c, nil))
				c.Close()
			}
			errs = append(errs, ch.Close())
			if err := errors.Join(errs...); err != nil {
				return nil, err
			}
			return ch.Traffic.Snapshot(), nil
		default:
			return nil, fmt.Errorf("unknown command %q", in.Text())
		}
	}
	return nil, errors.New("input closed before quit")
}

func roundTrips(conns []*bypasstest.Conn, seed uint64) error {
	var wg sync.WaitGroup
	errs := make([]error, len(conns))
	for i, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(seed, uint64(i)))
			msg := make([]byte, 1+rng.IntN(256<<10))
			for j := range msg {
				msg[j] = byte(rng.Uint32())
			}
			errs[i] = requestResponse(c, msg)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

func requestResponse(c *bypasstest.Conn, msg []byte) error {
	werr := make(chan error, 1)
	go func() { _, err := c.Write(msg); werr <- err }()
	got := make([]byte, len(msg))
	_, rerr := io.ReadFull(c.TCPConn, got)
	if err := errors.Join(<-werr, rerr); err != nil {
		return fmt.Errorf("%d-byte request on %s: %w", len(msg), c.LocalAddr(), err)
	}
	if !bytes.Equal(got, msg) {
		return fmt.Errorf("%d-byte response on %s differs from the request", len(msg), c.LocalAddr())
	}
	return nil
}
