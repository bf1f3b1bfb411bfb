package wasmhost

import (
	"slices"
	"testing"
)

func TestHeaderMapRoundTrip(t *testing.T) {
	for _, pairs := range [][][2]string{
		nil,
		{{":method", "GET"}},
		{{":path", "/a?b=c"}, {"x-empty", ""}, {"", "v"}, {"cookie", "a=1; b=2"}},
	} {
		got, ok := decodeMap(encodeMap(pairs))
		if !ok {
			t.Fatalf("decodeMap(encodeMap(%q)) failed", pairs)
		}
		if len(pairs) == 0 && len(got) == 0 {
			continue
		}
		if !slices.Equal(got, pairs) {
			t.Errorf("round trip of %q = %q", pairs, got)
		}
	}
	enc := encodeMap([][2]string{{"k", "v"}})
	for _, bad := range [][]byte{enc[:len(enc)-1], enc[:3], {0xff, 0xff, 0xff, 0x7f}} {
		if _, ok := decodeMap(bad); ok {
			t.Errorf("decodeMap(%x) accepted a malformed map", bad)
		}
	}
}

// frameCostModule is, in text form:
//
//	(import "env" "h" (func $h (param i32) (result i32)))
//	(func $f (param i32 i64) (result i32) (local i64 i64 f64)
//	  i32.const 1  i32.const 2  i32.const 3  i32.add  i32.add  ;; 3 slots deep
//	  i32.const 1  i32.add
//	  block (result i32) local.get 0 call $h end
//	  i32.add)
//	(func $g (result i32)
//	  i32.const 7
//	  if (result i32) i64.const 9 drop i32.const 1 else i32.const 2 end
//	  return unreachable)
var frameCostModule = []byte{
	0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x10, 0x03, 0x60,
	0x01, 0x7f, 0x01, 0x7f, 0x60, 0x02, 0x7f, 0x7e, 0x01, 0x7f, 0x60, 0x00,
	0x01, 0x7f, 0x02, 0x09, 0x01, 0x03, 0x65, 0x6e, 0x76, 0x01, 0x68, 0x00,
	0x00, 0x03, 0x03, 0x02, 0x01, 0x02, 0x0a, 0x2d, 0x02, 0x19, 0x02, 0x02,
	0x7e, 0x01, 0x7c, 0x41, 0x01, 0x41, 0x02, 0x41, 0x03, 0x6a, 0x6a, 0x41,
	0x01, 0x6a, 0x02, 0x7f, 0x20, 0x00, 0x10, 0x00, 0x0b, 0x6a, 0x0b, 0x11,
	0x00, 0x41, 0x07, 0x04, 0x7f, 0x42, 0x09, 0x1a, 0x41, 0x01, 0x05, 0x41,
	0x02, 0x0b, 0x0f, 0x00, 0x0b,
}

func TestFrameCosts(t *testing.T) {
	costs, err := ComputeFrameCosts(frameCostModule)
	if err != nil {
		t.Fatal(err)
	}
	if costs.Len() != 3 {
		t.Fatalf("%d functions, want 3 (one import)", costs.Len())
	}
	// $f: params i32+i64 = 3 cells, locals 2×i64+f64 = 6 cells, distinct
	// constants 1,2,3 = 3 cells, at most 3 operands.
	if got, want := costs.Of(1), FrameHeaderBytes+4*(3+6+3)+8*3; got != want {
		t.Errorf("$f costs %d bytes, want %d", got, want)
	}
	// $g: constants 7, 9 (i64), 1, 2 = 5 cells; never more than 1 operand.
	if got, want := costs.Of(2), FrameHeaderBytes+4*5+8*1; got != want {
		t.Errorf("$g costs %d bytes, want %d", got, want)
	}
	if costs.Of(0) != 0 {
		t.Errorf("the import costs %d bytes, want 0", costs.Of(0))
	}
	if _, err := ComputeFrameCosts(frameCostModule[:len(frameCostModule)-3]); err == nil {
		t.Error("a truncated module was accepted")
	}
}

func TestDisallowedImports(t *testing.T) {
	imports := []Import{
		{"wasi_snapshot_preview1", "fd_write"},
		{"wasi_snapshot_preview1", "poll_oneoff"},
		{"wasi_snapshot_preview1", "path_filestat_get"},
		{"env", "proxy_log"},
		{"env", "proxy_unknown"},
		{"wasi_unstable", "fd_write"},
	}
	got := DisallowedImports(imports)
	want := []Import{imports[2], imports[4], imports[5]}
	if !slices.Equal(got, want) {
		t.Errorf("DisallowedImports = %v, want %v", got, want)
	}
	if len(OlderEnvoyWASI) != 18 {
		t.Errorf("OlderEnvoyWASI lists %d functions, older hosts provide 18", len(OlderEnvoyWASI))
	}
}
