package engine

import (
	"fmt"
	"testing"
	"unsafe"

	"github.com/corazawaf/libinjection-go"
)

// The memo answers exactly as libinjection does, whether a value is new, remembered, evicted by
// another value in its slot, too long to remember, or the buffer it came from is reused.
func TestDetectMemoAnswersAsLibinjection(t *testing.T) {
	values := []string{
		"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
		"https://shop.example/catalog?page=2",
		"1' UNION SELECT password FROM users--",
		"1 OR 1=1",
		`<script>alert(1)</script>`,
		`x" onmouseover="alert(1)`,
		"plain",
		"",
		string(make([]byte, memoMaxValue+1)) + "' or 1=1--", // too long to remember
	}
	for i := range 2 * memoSlots { // enough distinct values to collide in every slot
		values = append(values, fmt.Sprintf("id=%d' or '%d'='%d", i, i, i))
	}
	m := newDetectMemo()
	for round := range 3 {
		for _, v := range values {
			// The transaction's buffers are reused: the memo must not keep the caller's bytes.
			buf := []byte(v)
			s := unsafe.String(unsafe.SliceData(buf), len(buf))
			gotSQLi, gotFP := m.isSQLi(s)
			gotXSS := m.isXSS(s)
			for i := range buf {
				buf[i] = 'A'
			}
			wantSQLi, wantFP := libinjection.IsSQLi(v)
			if gotSQLi != wantSQLi || gotFP != wantFP || gotXSS != libinjection.IsXSS(v) {
				t.Fatalf("round %d, %q: memo says sqli=%v %q xss=%v; libinjection sqli=%v %q xss=%v",
					round, v, gotSQLi, gotFP, gotXSS, wantSQLi, wantFP, libinjection.IsXSS(v))
			}
		}
	}
	if m.hits == 0 {
		t.Fatal("no value was answered from the memo")
	}
}

func TestDetectMemoRemembersRepeatedValues(t *testing.T) {
	m := newDetectMemo()
	ua := "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko)"
	for range 10 {
		m.isSQLi(ua)
	}
	if m.calls != 10 || m.hits != 9 {
		t.Fatalf("10 lookups of one value: %d calls, %d hits; want 10 and 9", m.calls, m.hits)
	}
	long := string(make([]byte, memoMaxValue+1))
	m.isSQLi(long)
	m.isSQLi(long)
	if m.hits != 9 {
		t.Fatalf("a value longer than %d bytes was remembered", memoMaxValue)
	}
}

func FuzzDetectMemo(f *testing.F) {
	f.Add("1' or '1'='1", "<img src=x onerror=alert(1)>")
	f.Add("plain", "plain")
	m := newDetectMemo()
	f.Fuzz(func(t *testing.T, a, b string) {
		for _, v := range []string{a, b, a} {
			ok, fp := m.isSQLi(v)
			wantOK, wantFP := libinjection.IsSQLi(v)
			if ok != wantOK || fp != wantFP || m.isXSS(v) != libinjection.IsXSS(v) {
				t.Fatalf("%q: memo and libinjection disagree", v)
			}
		}
	})
}
