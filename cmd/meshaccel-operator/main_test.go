package main

import (
	"flag"
	"io"
	"strings"
	"testing"

	"github.com/meshaccel/meshaccel/api/v1alpha1"
)

func TestDecisionFlags(t *testing.T) {
	for _, tc := range []struct {
		args    []string
		wantErr string
		check   func(*testing.T, []string, bool)
	}{
		{args: nil, check: func(t *testing.T, ext []string, checker bool) {
			if !checker {
				t.Errorf("the Hyperscan checker is off by default")
			}
		}},
		{args: []string{"--proxy-flavor=Custom", "--proxy-extensions=envoy.tls.key_providers.cryptomb,envoy.filters.http.wasm", "--regex-checker=none"},
			check: func(t *testing.T, ext []string, checker bool) {
				if len(ext) != 2 || checker {
					t.Errorf("extensions %v, checker %v", ext, checker)
				}
			}},
		{args: []string{"--proxy-flavor=Nginx"}, wantErr: `--proxy-flavor "Nginx"`},
		{args: []string{"--regex-checker=pcre"}, wantErr: `--regex-checker "pcre"`},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			fs := flag.NewFlagSet("test", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			read := bindDecisionFlags(fs)
			if err := fs.Parse(tc.args); err != nil {
				t.Fatal(err)
			}
			proxy, checker, err := read()
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one naming %s", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if proxy.Flavor == "" || (len(tc.args) == 0 && proxy.Flavor != v1alpha1.ProxyIstioProxyV2) {
				t.Errorf("proxy %+v", proxy)
			}
			tc.check(t, proxy.Extensions, checker != nil)
		})
	}
}

func TestUnknownFlagIsAnError(t *testing.T) {
	if err := run([]string{"--no-such-flag"}); err == nil {
		t.Fatal("unknown flag accepted")
	}
}
