package engine

import "testing"

// queryUnescape decodes '+' and valid %XX escapes and keeps invalid ones, as a byte-by-byte
// decoder does.
func FuzzQueryUnescape(f *testing.F) {
	for _, s := range []string{"", "a+b", "%41%4a%4G", "%", "%4", "x%", "Great+product%2C+arrived", "100%+sure%2"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var want []byte
		for i := 0; i < len(s); i++ {
			switch c := s[i]; {
			case c == '+':
				want = append(want, ' ')
			case c == '%' && i+2 < len(s) && hexVal(s[i+1]) >= 0 && hexVal(s[i+2]) >= 0:
				want = append(want, byte(hexVal(s[i+1])<<4|hexVal(s[i+2])))
				i += 2
			default:
				want = append(want, c)
			}
		}
		if got := queryUnescape(s); got != string(want) {
			t.Fatalf("queryUnescape(%q) = %q, want %q", s, got, want)
		}
	})
}
