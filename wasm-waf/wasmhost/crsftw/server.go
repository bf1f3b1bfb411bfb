// Package crsftw runs the OWASP CRS v4 regression tests (go-ftw) against a
// compiled proxy-wasm WAF plugin: a loopback HTTP server plays Envoy, handing
// each request's headers and body to the plugin in wazero, answering with the
// plugin's local reply or forwarding to a trivial backend, and writing the
// plugin's log lines where go-ftw looks for rule ids.
package crsftw

import (
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/meshaccel/meshaccel/wasm-waf/wasmhost"
)

// MarkerHeader is the header go-ftw sends on its log marker requests.
const MarkerHeader = "X-Crs-Test"

// maxBody bounds what the server reads of a request body (Envoy's buffer
// limit plays this role).
const maxBody = 1 << 20

// bodyChunk is the size of the body frames handed to the plugin.
const bodyChunk = 16 << 10

// PluginServer is an http.Handler that runs every request through a plugin
// VM the way Envoy's Wasm HTTP filter does. Requests are serialized: a VM is
// single-threaded, as an Envoy worker is.
type PluginServer struct {
	mu  sync.Mutex
	vm  *wasmhost.VM
	log io.Writer
	// Errors counts requests the host failed to drive (traps, host errors).
	Errors int
}

// NewPluginServer serves with vm (already started) and writes the plugin's
// log lines, and go-ftw's markers, to log.
func NewPluginServer(vm *wasmhost.VM, log io.Writer) *PluginServer {
	s := &PluginServer{vm: vm, log: log}
	vm.LogSink = s.writeLog
	return s
}

func (s *PluginServer) writeLog(level wasmhost.LogLevel, msg string) {
	fmt.Fprintf(s.log, "[%s] %s\n", level, msg)
}

func (s *PluginServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody))
	if err != nil {
		http.Error(w, "reading the request body: "+err.Error(), http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()

	// Marker requests only delimit a test in the log: their own rule matches
	// must not land inside the window go-ftw inspects.
	if marker := r.Header.Get(MarkerHeader); marker != "" {
		fmt.Fprintf(s.log, "%s: %s\n", strings.ToLower(MarkerHeader), marker)
		backend(w, r)
		return
	}

	local, err := s.filter(r, body)
	if err != nil {
		s.Errors++
		fmt.Fprintf(s.log, "[host] %v\n", err)
		http.Error(w, "wasm filter failed", http.StatusInternalServerError)
		return
	}
	if local != nil {
		for _, kv := range local.Headers {
			w.Header().Add(kv[0], kv[1])
		}
		w.WriteHeader(local.Status)
		_, _ = w.Write(local.Body)
		return
	}
	backend(w, r)
}

// filter runs the request phase; a non-nil reply means the plugin answered.
func (s *PluginServer) filter(r *http.Request, body []byte) (local *wasmhost.LocalResponse, err error) {
	s.vm.SetProperty([]string{"request", "protocol"}, []byte(r.Proto))
	stream, err := s.vm.NewStream()
	if err != nil {
		return nil, err
	}
	defer func() {
		if cerr := stream.Complete(); cerr != nil && err == nil {
			err = cerr
		}
	}()
	headers := [][2]string{
		{":method", r.Method},
		{":path", r.RequestURI},
		{":authority", r.Host},
		{":scheme", "http"},
	}
	for name, values := range r.Header {
		for _, v := range values {
			headers = append(headers, [2]string{strings.ToLower(name), v})
		}
	}
	if r.ContentLength > 0 && r.Header.Get("Content-Length") == "" {
		headers = append(headers, [2]string{"content-length", strconv.FormatInt(r.ContentLength, 10)})
	}
	if _, err := stream.RequestHeaders(headers, len(body) == 0); err != nil {
		return nil, err
	}
	for off := 0; off < len(body) && stream.LocalResponse() == nil; off += bodyChunk {
		end := min(off+bodyChunk, len(body))
		if _, err := stream.RequestBody(body[off:end], end == len(body)); err != nil {
			return nil, err
		}
	}
	if lr := stream.LocalResponse(); lr != nil {
		local = lr
	}
	return local, nil
}

// backend is the upstream: /status/NNN answers NNN (as httpbin does, which
// the CRS tests assume), anything else 200.
func backend(w http.ResponseWriter, r *http.Request) {
	status := http.StatusOK
	if code, ok := strings.CutPrefix(r.URL.Path, "/status/"); ok {
		if n, err := strconv.Atoi(code); err == nil && n >= 200 && n <= 599 {
			status = n
		}
	}
	w.Header().Set("Content-Type", "text/plain")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, "ok\n")
}
