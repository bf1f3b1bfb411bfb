// Package wafhttp puts the engine in front of a net/http handler. It serves the native CRS
// regression run and the differential tests; the proxy-wasm plugin feeds the engine the same way.
package wafhttp

import (
	"io"
	"net/http"
	"sort"
	"strings"

	"github.com/meshaccel/meshaccel/wasm-waf/engine"
)

// Logger receives the matches of each request.
type Logger func(r *http.Request, matches []engine.Match)

// Wrap returns a handler that evaluates the request phases before calling next.
func Wrap(e *engine.Engine, next http.Handler, log Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tx := e.NewTransaction()
		defer tx.Close()
		it := tx.ProcessRequestHeaders(r.Method, r.RequestURI, r.Proto, Headers(r))
		if it == nil {
			var body []byte
			if tx.RequestBodyAccess() && r.Body != nil {
				limit := tx.RequestBodyLimit()
				b, _ := io.ReadAll(io.LimitReader(r.Body, int64(limit)+1))
				if len(b) > limit {
					b = b[:limit]
					tx.SetRequestBodyTruncated()
				}
				body = b
			}
			it = tx.ProcessRequestBody(body, "")
		}
		if log != nil {
			log(r, tx.Matches())
		}
		if it != nil {
			w.WriteHeader(it.Status)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// Headers returns the request headers as the engine takes them: Host first (net/http moves it
// out of r.Header), then the others sorted by name, each value separately.
func Headers(r *http.Request) [][2]string {
	out := make([][2]string, 0, len(r.Header)+1)
	if r.Host != "" {
		out = append(out, [2]string{"Host", r.Host})
	}
	names := make([]string, 0, len(r.Header))
	for k := range r.Header {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		for _, v := range r.Header[k] {
			out = append(out, [2]string{k, v})
		}
	}
	if len(r.TransferEncoding) > 0 && len(r.Header["Transfer-Encoding"]) == 0 {
		// net/http moves Transfer-Encoding out of r.Header.
		out = append(out, [2]string{"Transfer-Encoding", strings.Join(r.TransferEncoding, ", ")})
	}
	if r.ContentLength > 0 && len(r.Header["Content-Length"]) == 0 {
		// net/http keeps Content-Length in r.ContentLength only when it parsed it away.
		out = append(out, [2]string{"Content-Length", itoa(r.ContentLength)})
	}
	return out
}

func itoa(n int64) string {
	if n == 0 {
		return "0"
	}
	var b [20]byte
	i := len(b)
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	return string(b[i:])
}
