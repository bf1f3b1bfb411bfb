// Package matcher matches a request value against a whole route table of RE2 regexes in one
// Hyperscan scan, with Envoy's semantics: each regex must match the entire value, and the first
// route (in table order) that matches wins.
//
// A table is compiled once (seconds for thousands of regexes), serialized, and loaded again in
// milliseconds, so compilation stays off the request path. Scanning goes through a small C shim
// whose match callback never enters Go: a match costs one cgo call and no Go allocation. A
// Scanner owns a Hyperscan scratch and serves one goroutine; Database.Match borrows scanners
// from a bounded pool for callers that do not keep their own.
package matcher

/*
#cgo pkg-config: libhs
#cgo linux LDFLAGS: -lm -lstdc++
#include <stdlib.h>
#include "shim.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"runtime"
	"unsafe"

	gohs "github.com/flier/gohs/hyperscan"

	"github.com/meshaccel/meshaccel/hyperscan"
)

// NoMatch is what Match returns when no route matches.
const NoMatch = -1

// Database is a compiled route table. It is safe for concurrent use; its Scanners are not.
type Database struct {
	db         *C.hs_database_t
	serialized []byte
	routes     int
	pool       chan *Scanner
	cleanup    runtime.Cleanup
}

// Compile translates each RE2 regex into a Hyperscan expression with RE2 full-match meaning
// (see hyperscan.FullMatchExpression) and compiles the table, pattern id = route index.
// Regexes the compatibility checker finds different under Hyperscan (mostly single
// non-ASCII-matching classes on invalid UTF-8) keep that difference here.
func Compile(regexes []string) (*Database, error) {
	patterns, err := routePatterns(regexes)
	if err != nil {
		return nil, err
	}
	compiled, err := gohs.NewBlockDatabase(patterns...)
	if err != nil {
		var compileErr *gohs.CompileError
		if errors.As(err, &compileErr) && compileErr.Expression >= 0 && compileErr.Expression < len(regexes) {
			return nil, fmt.Errorf("route %d regex %q: Hyperscan: %s", compileErr.Expression, regexes[compileErr.Expression], compileErr.Message)
		}
		return nil, fmt.Errorf("compiling %d routes: %w", len(regexes), err)
	}
	defer compiled.Close()
	serialized, err := compiled.Marshal()
	if err != nil {
		return nil, fmt.Errorf("serializing the database: %w", err)
	}
	return Load(serialized, len(regexes))
}

// routePatterns translates a route table into the Hyperscan patterns Compile compiles.
func routePatterns(regexes []string) ([]*gohs.Pattern, error) {
	if len(regexes) == 0 {
		return nil, errors.New("an empty route table has nothing to compile")
	}
	patterns := make([]*gohs.Pattern, len(regexes))
	for i, regex := range regexes {
		expr, err := hyperscan.FullMatchExpression(regex, hyperscan.CaseExplicitClasses)
		if err != nil {
			return nil, fmt.Errorf("route %d regex %q: %w", i, regex, err)
		}
		flags := gohs.Utf8Mode | gohs.SingleMatch
		if full, err := hyperscan.CompileFullMatch(regex); err == nil && full.MatchString("") {
			// An anchored pattern that matches the empty value is exact here; Envoy's engine
			// (which also compiles for start of match) cannot take it.
			flags |= gohs.AllowEmpty
		}
		patterns[i] = gohs.NewPattern(expr, flags)
		patterns[i].Id = i
	}
	return patterns, nil
}

// Load deserializes a database that Compile produced (Marshal's bytes) for a table of routes
// regexes. It fails when the bytes come from another Hyperscan version or CPU platform.
func Load(serialized []byte, routes int) (*Database, error) {
	if len(serialized) == 0 {
		return nil, errors.New("empty serialized database")
	}
	var db *C.hs_database_t
	if rc := C.hs_deserialize_database((*C.char)(unsafe.Pointer(&serialized[0])), C.size_t(len(serialized)), &db); rc != C.HS_SUCCESS {
		return nil, fmt.Errorf("loading the serialized database: %w", hsError(rc))
	}
	d := &Database{
		db:         db,
		serialized: append([]byte(nil), serialized...),
		routes:     routes,
		pool:       make(chan *Scanner, 2*runtime.GOMAXPROCS(0)),
	}
	d.cleanup = runtime.AddCleanup(d, func(db *C.hs_database_t) { C.hs_free_database(db) }, db)
	return d, nil
}

// Close frees the database and its pooled scanners now rather than when they are collected.
// Scanners created with NewScanner must be closed first.
func (d *Database) Close() {
	if d.db == nil {
		return
	}
	for {
		select {
		case s := <-d.pool:
			s.Close()
			continue
		default:
		}
		break
	}
	d.cleanup.Stop()
	C.hs_free_database(d.db)
	d.db = nil
}

// Marshal returns the serialized database, for caching by content.
func (d *Database) Marshal() []byte { return append([]byte(nil), d.serialized...) }

// Routes is the number of regexes in the table.
func (d *Database) Routes() int { return d.routes }

// Size is the size of the compiled database in memory, in bytes.
func (d *Database) Size() int {
	var size C.size_t
	if C.hs_database_size(d.db, &size) != C.HS_SUCCESS {
		return 0
	}
	runtime.KeepAlive(d)
	return int(size)
}

// Match returns the index of the first route whose regex matches the whole value, or NoMatch.
// It borrows a scanner from the database's pool.
func (d *Database) Match(value string) (int, error) {
	var s *Scanner
	select {
	case s = <-d.pool:
	default:
		var err error
		if s, err = d.NewScanner(); err != nil {
			return NoMatch, err
		}
	}
	route, err := s.Match(value)
	select {
	case d.pool <- s:
	default:
		s.Close()
	}
	return route, err
}

// Scanner scans with its own Hyperscan scratch. Use one per goroutine.
type Scanner struct {
	db      *Database
	scratch *C.hs_scratch_t
	cleanup runtime.Cleanup
}

// NewScanner allocates a scratch for d.
func (d *Database) NewScanner() (*Scanner, error) {
	var scratch *C.hs_scratch_t
	if rc := C.hs_alloc_scratch(d.db, &scratch); rc != C.HS_SUCCESS {
		return nil, fmt.Errorf("allocating scratch: %w", hsError(rc))
	}
	s := &Scanner{db: d, scratch: scratch}
	s.cleanup = runtime.AddCleanup(s, func(scratch *C.hs_scratch_t) { C.hs_free_scratch(scratch) }, scratch)
	return s, nil
}

// Match returns the index of the first route whose regex matches the whole value, or NoMatch.
func (s *Scanner) Match(value string) (int, error) {
	return s.scan(unsafe.StringData(value), len(value))
}

// MatchBytes is Match for a byte slice.
func (s *Scanner) MatchBytes(value []byte) (int, error) {
	return s.scan(unsafe.SliceData(value), len(value))
}

func (s *Scanner) scan(data *byte, length int) (int, error) {
	if s.scratch == nil || s.db.db == nil {
		return NoMatch, errors.New("scanner is closed")
	}
	if uint64(length) > uint64(^uint32(0)) {
		return NoMatch, fmt.Errorf("value of %d bytes exceeds Hyperscan's 4 GiB scan limit", length)
	}
	r := int64(C.matcher_first_match(s.db.db, s.scratch, (*C.char)(unsafe.Pointer(data)), C.uint(length)))
	runtime.KeepAlive(s)
	switch {
	case r >= 0:
		return int(r), nil
	case r == -1:
		return NoMatch, nil
	}
	return NoMatch, fmt.Errorf("scan: %w", hsError(C.hs_error_t(r>>32)))
}

// Close frees the scratch now rather than when the scanner is collected.
func (s *Scanner) Close() {
	if s.scratch == nil {
		return
	}
	s.cleanup.Stop()
	C.hs_free_scratch(s.scratch)
	s.scratch = nil
}

// HyperscanError is an error code from the Hyperscan library.
type HyperscanError int

func (e HyperscanError) Error() string {
	switch e {
	case C.HS_INVALID:
		return "HS_INVALID: a parameter was invalid"
	case C.HS_NOMEM:
		return "HS_NOMEM: out of memory"
	case C.HS_DB_VERSION_ERROR:
		return "HS_DB_VERSION_ERROR: the database was built by another Hyperscan version"
	case C.HS_DB_PLATFORM_ERROR:
		return "HS_DB_PLATFORM_ERROR: the database was built for another platform"
	case C.HS_DB_MODE_ERROR:
		return "HS_DB_MODE_ERROR: the database is not a block-mode database"
	case C.HS_BAD_ALIGN:
		return "HS_BAD_ALIGN: misaligned parameter"
	case C.HS_SCRATCH_IN_USE:
		return "HS_SCRATCH_IN_USE: the scratch is in use by another scan"
	case C.HS_ARCH_ERROR:
		return "HS_ARCH_ERROR: the CPU lacks the instructions Hyperscan needs (SSSE3)"
	}
	return fmt.Sprintf("Hyperscan error %d", int(e))
}

func hsError(rc C.hs_error_t) error { return HyperscanError(rc) }
