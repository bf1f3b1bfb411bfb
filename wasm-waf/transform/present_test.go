package transform

import "testing"

// Present derives exactly the bytes of the transformed value, for every input it answers.
func FuzzPresent(f *testing.F) {
	for _, s := range []string{"", "Mozilla/5.0 (X11; Linux x86_64)", "a\tb\n\nc  d", "\x00A\x00", "ÄÖ\u00a0x", "Great+product,+arrived"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var scratch []byte
		for id := None; id < numIDs; id++ {
			got, ok := Present(id, presentBytes(s))
			if !ok {
				continue
			}
			if want := presentBytes(Apply(id, s, &scratch)); got != *want {
				t.Fatalf("%v(%q): Present says %x, the result has %x", id, s, got, *want)
			}
		}
	})
}

func TestPresentAnswersForTheByteMappingTransformations(t *testing.T) {
	for _, id := range []ID{Lowercase, Uppercase, RemoveNulls, ReplaceNulls, RemoveWhitespace, CompressWhitespace} {
		if _, ok := Present(id, presentBytes("Ab c\x00")); !ok {
			t.Errorf("%v: no answer for an ASCII value", id)
		}
	}
	for _, id := range []ID{RemoveWhitespace, CompressWhitespace} {
		if _, ok := Present(id, presentBytes("a\u00a0b")); ok {
			t.Errorf("%v: answers for a value with bytes >= 0x80, which may hold white space", id)
		}
	}
	if _, ok := Present(URLDecode, presentBytes("a%41")); ok {
		t.Error("urlDecode: answers, though decoding adds bytes the input does not have")
	}
}
