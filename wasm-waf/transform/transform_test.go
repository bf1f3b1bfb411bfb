package transform

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestTransformations(t *testing.T) {
	cases := []struct {
		id      ID
		in, out string
	}{
		{Lowercase, "SeLeCT ÄB", "select Äb"},
		{Uppercase, "abc", "ABC"},
		{URLDecode, "a%20b+c%2", "a b c%2"},
		{URLDecode, "%zz%41", "%zzA"},
		{URLDecodeUni, "%u0041%uFF1C%u2019x%uZZ", "A<'x%uZZ"},
		{URLDecodeUni, "%u1234", "\x34"},
		{HTMLEntityDecode, "&lt;a&#x3E;&#62&quot;&colon;&nbsp;&bogus;", "<a>>\":\u00a0&bogus;"},
		{HTMLEntityDecode, "&#0000000000060;", "<"},
		{JSDecode, `\x3cs\u0063ript\u{3e}\101\n\q`, "<script>A\nq"},
		{JSDecode, `\uff1c`, "<"},
		{CSSDecode, `\3c sc\72 ipt\\`, `<script\`},
		{EscapeSeqDecode, `a\tb\x41\101\q`, "a\tbAA\\q"},
		{CompressWhitespace, "a \t\n b\u00a0\u00a0c", "a b c"},
		{RemoveWhitespace, "a b\tc\u00a0d", "abcd"},
		{RemoveNulls, "a\x00b", "ab"},
		{ReplaceNulls, "a\x00b", "a b"},
		{UTF8ToUnicode, "aé€", "a%u00e9%u20ac"},
		{CmdLine, `C^A"T  /E'T'C\,PASSWD;(x)`, "cat/etc passwd(x)"},
		{NormalizePath, "/a/./b/../../c//d/", "/c/d/"},
		{NormalizePath, "a/..", ""},
		{NormalizePathWin, `C:\a\..\b\c.txt`, "C:/b/c.txt"},
		{Base64Decode, "PHNjcmlwdD4=", "<script>"},
		{Base64Decode, "PHNjcmlwdD4*garbage", "<script>"},
		{Base64DecodeExt, "PHNj.cmlw dD4", "<script>"},
		{Base64Encode, "<script>", "PHNjcmlwdD4="},
		{HexDecode, "3c7363", "<sc"},
		{HexDecode, "zz", "zz"},
		{HexEncode, "<s", "3c73"},
		{RemoveComments, "sel/*x*/ect<!--y-->1 -- rest", "select1  "},
		{RemoveCommentsChar, "a/*b*/c--d#e<!--f-->", "abcdef"},
		{ReplaceComments, "union/**/select/*", "union select "},
		{Length, "héllo", "6"},
		{Trim, " \t x \n", "x"},
		{SHA1, "abc", "\xa9\x99\x3e\x36\x47\x06\x81\x6a\xba\x3e\x25\x71\x78\x50\xc2\x6c\x9c\xd0\xd8\x9d"},
	}
	var scratch []byte
	for _, c := range cases {
		if got := Apply(c.id, c.in, &scratch); got != c.out {
			t.Errorf("%v(%q) = %q, want %q", c.id, c.in, got, c.out)
		}
	}
}

func TestLookupAcceptsSecLangSpellings(t *testing.T) {
	for name, want := range map[string]ID{"urlDecodeUni": URLDecodeUni, "URLDECODEUNI": URLDecodeUni,
		"normalisePath": NormalizePath, "utf8toUnicode": UTF8ToUnicode, "none": None} {
		if got, ok := Lookup(name); !ok || got != want {
			t.Errorf("Lookup(%q) = %v %v", name, got, ok)
		}
	}
	if _, ok := Lookup("rot13"); ok {
		t.Error("unknown transformation resolved")
	}
}

func TestUnchangedInputIsReturnedWithoutCopy(t *testing.T) {
	var scratch []byte
	in := strings.Repeat("plain text 123 ", 4)
	for id := None; id < numIDs; id++ {
		switch id {
		case Uppercase, URLEncode, Base64Decode, Base64DecodeExt, Base64Encode, HexDecode, HexEncode,
			Length, SHA1, MD5, RemoveWhitespace, CompressWhitespace, Trim, TrimRight, CmdLine, NormalizePath, NormalizePathWin:
			continue
		}
		if out := Apply(id, in, &scratch); out != in {
			t.Errorf("%v changed plain input to %q", id, out)
		}
	}
	if n := testing.AllocsPerRun(100, func() { Apply(URLDecodeUni, in, &scratch) }); n != 0 {
		t.Errorf("urlDecodeUni allocates %v times on unchanged input", n)
	}
}

// FuzzTransforms runs every transformation on arbitrary input: no panic, and the decoders never
// grow their input (they are safe to chain without amplification).
func FuzzTransforms(f *testing.F) {
	for _, s := range []string{"%u00", "&#x", "\\u{", "\\", "%", "&#99999999999;", "\xff\xfe", "/*", "<!--", "\\x4"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var scratch []byte
		for id := None; id < numIDs; id++ {
			out := Apply(id, s, &scratch)
			switch id {
			case URLDecode, URLDecodeUni, JSDecode, EscapeSeqDecode, RemoveNulls, RemoveComments, RemoveCommentsChar,
				ReplaceComments, CompressWhitespace, RemoveWhitespace, Base64Decode, HexDecode:
				if len(out) > len(s)+1 {
					t.Fatalf("%v grew %q to %q", id, s, out)
				}
			case HTMLEntityDecode, CSSDecode:
				// A reference may decode to a longer UTF-8 rune than its text only when short.
				if len(out) > len(s)+utf8.UTFMax {
					t.Fatalf("%v grew %q to %q", id, s, out)
				}
			}
		}
	})
}

func presentBytes(s string) *[4]uint64 {
	var p [4]uint64
	for i := 0; i < len(s); i++ {
		p[s[i]>>6] |= 1 << (s[i] & 63)
	}
	return &p
}

// FuzzUnchanged holds every transformation to its trigger set: a value without any of the bytes
// that Unchanged names is returned as it is. The input is stripped of the trigger bytes of the
// transformation under test, so every iteration checks the property.
func FuzzUnchanged(f *testing.F) {
	for _, s := range []string{"", "home", "Mozilla/5.0 (X11)", "a%20b+c", "&lt;", `\x41`, "a  b", "\u00a0", "/a/../b", "x--y#z", "/*c*/", "ABC\x00", ".", "..", "5.0", "a.b/", `a\b.c`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var scratch []byte
		for id := None; id < numIDs; id++ {
			if triggers[id].always {
				if Unchanged(id, presentBytes("")) {
					t.Fatalf("%v rewrites every value but Unchanged says it keeps one", id)
				}
				continue
			}
			// Whatever the input, a value Unchanged vouches for comes back as it was.
			if Unchanged(id, presentBytes(s)) {
				if out := Apply(id, s, &scratch); out != s {
					t.Fatalf("%v(%q) = %q, but Unchanged said it keeps the value", id, s, out)
				}
			}
			var b []byte
			for i := 0; i < len(s); i++ {
				if c := s[i]; triggers[id].bytes[c>>6]&(1<<(c&63)) == 0 {
					b = append(b, c)
				}
			}
			in := string(b)
			if !Unchanged(id, presentBytes(in)) {
				t.Fatalf("%v: Unchanged is false for %q, which has none of its trigger bytes", id, in)
			}
			if out := Apply(id, in, &scratch); out != in {
				t.Fatalf("%v(%q) = %q, but %q has none of its trigger bytes", id, in, out, in)
			}
		}
	})
}

func TestUnchangedNeedsTrigger(t *testing.T) {
	for _, c := range []struct {
		id ID
		in string
	}{{Lowercase, "Abc"}, {URLDecode, "a+b"}, {HTMLEntityDecode, "&lt;"}, {CmdLine, "a,b"}, {NormalizePath, "/a/../b"}, {NormalizePath, "."}, {NormalizePathWin, `a\..\b`}, {Length, ""}} {
		if Unchanged(c.id, presentBytes(c.in)) {
			t.Errorf("Unchanged(%v, %q) = true; it changes the value", c.id, c.in)
		}
	}
	// A dot among other bytes, without a separator, is left alone by path cleaning.
	for _, in := range []string{"5.0", "described.", "v1.2.3"} {
		if !Unchanged(NormalizePath, presentBytes(in)) {
			t.Errorf("Unchanged(normalizePath, %q) = false", in)
		}
	}
}
