package engine

import (
	"hash/maphash"
	"strings"

	"github.com/corazawaf/libinjection-go"
)

// libinjection's detectors are the most expensive operators per value (in Wasm interpreters two
// browser headers cost more than the rest of the CRS's header rules), and they are pure functions
// of the value. Production traffic repeats most header values from request to request
// (User-Agent, Referer, Accept-*), so an engine remembers the latest verdicts in a small
// direct-mapped table: a hit costs one hash of the value and one comparison. The table's memory is
// fixed: slots × memoMaxValue bytes at most.

const (
	memoSlots    = 512 // power of two
	memoMaxValue = 512 // longer values are evaluated every time
)

type detectVerdict struct {
	used        bool
	value       string // a copy: the transaction's strings are reused
	sqli, xss   bool
	fingerprint string
}

type detectMemo struct {
	seed        maphash.Seed
	sqli, xss   [memoSlots]detectVerdict
	hits, calls uint64
}

func newDetectMemo() *detectMemo { return &detectMemo{seed: maphash.MakeSeed()} }

func (m *detectMemo) slot(table *[memoSlots]detectVerdict, s string) *detectVerdict {
	if len(s) > memoMaxValue {
		return nil
	}
	return &table[maphash.String(m.seed, s)&(memoSlots-1)]
}

// isSQLi is libinjection.IsSQLi(s), remembered.
func (m *detectMemo) isSQLi(s string) (bool, string) {
	m.calls++
	d := m.slot(&m.sqli, s)
	if d != nil && d.used && sameContent(d.value, s) {
		m.hits++
		return d.sqli, d.fingerprint
	}
	ok, fp := libinjection.IsSQLi(s)
	if d != nil {
		*d = detectVerdict{used: true, value: strings.Clone(s), sqli: ok, fingerprint: fp}
	}
	return ok, fp
}

// isXSS is libinjection.IsXSS(s), remembered.
func (m *detectMemo) isXSS(s string) bool {
	m.calls++
	d := m.slot(&m.xss, s)
	if d != nil && d.used && sameContent(d.value, s) {
		m.hits++
		return d.xss
	}
	ok := libinjection.IsXSS(s)
	if d != nil {
		*d = detectVerdict{used: true, value: strings.Clone(s), xss: ok}
	}
	return ok
}
