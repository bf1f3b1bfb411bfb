package regexcompat

/*
#cgo pkg-config: re2
#cgo CXXFLAGS: -std=c++17 -O2
#include <stdlib.h>
#include "re2shim.h"
*/
import "C"

import (
	"errors"
	"runtime"
	"unsafe"
)

// re2Regex is a regex compiled by the C++ RE2 library that Envoy links, used for what Go's
// regexp cannot stand in for: the program size Envoy limits, and a second opinion on inputs
// where Go's regexp and RE2 are known to differ (invalid UTF-8).
type re2Regex struct {
	ptr *C.re2shim_regex
}

func compileRE2(pattern string) (*re2Regex, error) {
	var errBuf [512]C.char
	cPattern := C.CString(pattern)
	defer C.free(unsafe.Pointer(cPattern))
	ptr := C.re2shim_compile(cPattern, C.size_t(len(pattern)), &errBuf[0], C.size_t(len(errBuf)))
	if ptr == nil {
		return nil, errors.New(C.GoString(&errBuf[0]))
	}
	re := &re2Regex{ptr: ptr}
	runtime.AddCleanup(re, func(p *C.re2shim_regex) { C.re2shim_free(p) }, ptr)
	return re, nil
}

// ProgramSize is RE2::ProgramSize(), the number Envoy compares with re2.max_program_size.
func (r *re2Regex) ProgramSize() int {
	size := int(C.re2shim_program_size(r.ptr))
	runtime.KeepAlive(r)
	return size
}

// FullMatch is RE2::FullMatch, what Envoy's default engine evaluates.
func (r *re2Regex) FullMatch(text string) bool {
	var data *C.char
	if len(text) > 0 {
		data = (*C.char)(unsafe.Pointer(unsafe.StringData(text)))
	}
	matched := C.re2shim_full_match(r.ptr, data, C.size_t(len(text))) != 0
	runtime.KeepAlive(r)
	return matched
}
