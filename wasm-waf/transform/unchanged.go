package transform

// A transformation can only change a value that contains one of its trigger bytes: urlDecode
// needs '%' or '+', htmlEntityDecode '&', lowercase an upper-case letter. A caller that knows
// which bytes a value contains (the engine keeps that set per value for its prefilters) skips
// the transformation, and the pass over the value, when none is present. Most request values
// contain none of the bytes most transformations act on.

type triggerSet struct {
	bytes [4]uint64
	// always: the transformation rewrites every input (decoders of whole values, hashes,
	// length), so no byte set can vouch for it.
	always bool
}

var triggers = func() (t [numIDs]triggerSet) {
	add := func(id ID, bytes string) {
		for i := 0; i < len(bytes); i++ {
			c := bytes[i]
			t[id].bytes[c>>6] |= 1 << (c & 63)
		}
	}
	addRange := func(id ID, lo, hi byte) {
		for c := int(lo); c <= int(hi); c++ {
			t[id].bytes[c>>6] |= 1 << (c & 63)
		}
	}
	const space = " \t\n\v\f\r"
	addRange(Lowercase, 'A', 'Z')
	addRange(Uppercase, 'a', 'z')
	add(URLDecode, "%+")
	add(URLDecodeUni, "%+")
	// urlEncode keeps only [A-Za-z0-9*-._].
	for c := 0; c < 256; c++ {
		b := byte(c)
		if !('a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' || '0' <= b && b <= '9' || b == '*' || b == '-' || b == '.' || b == '_') {
			add(URLEncode, string([]byte{b}))
		}
	}
	add(HTMLEntityDecode, "&")
	add(JSDecode, `\`)
	add(CSSDecode, `\`)
	add(EscapeSeqDecode, `\`)
	// Runs of spaces, other white space, and U+0085 / U+00A0 (bytes above 0x7f).
	for _, id := range []ID{CompressWhitespace, RemoveWhitespace} {
		add(id, space)
		addRange(id, 0x80, 0xff)
	}
	add(RemoveNulls, "\x00")
	add(ReplaceNulls, "\x00")
	addRange(UTF8ToUnicode, 0x80, 0xff)
	add(CmdLine, `"'\^,;`+space)
	addRange(CmdLine, 'A', 'Z')
	add(NormalizePath, "/.")
	add(NormalizePathWin, `/.\`)
	add(RemoveComments, "/-#<")
	add(RemoveCommentsChar, "/*-#<")
	add(ReplaceComments, "/")
	for _, id := range []ID{Trim, TrimLeft, TrimRight} {
		add(id, space+"\x00")
	}
	for _, id := range []ID{Base64Decode, Base64DecodeExt, Base64Encode, HexDecode, HexEncode, Length, SHA1, MD5} {
		t[id].always = true
	}
	return t
}()

// Unchanged reports whether transformation id returns a value unchanged given present, the set
// of bytes the value contains (bit c of present[c/64] for byte c). False means it may change it.
func Unchanged(id ID, present *[4]uint64) bool {
	if id >= numIDs {
		return true // Apply leaves unknown transformations alone
	}
	t := &triggers[id]
	if !t.always && present[0]&t.bytes[0]|present[1]&t.bytes[1]|present[2]&t.bytes[2]|present[3]&t.bytes[3] == 0 {
		return true
	}
	if id == NormalizePath || id == NormalizePathWin {
		return cleanLeavesAlone(present, id == NormalizePathWin)
	}
	return false
}

// cleanLeavesAlone: without a separator, path cleaning changes a value only when it is nothing
// but dots ("." becomes ""); a dot among other bytes ("5.0", "described.") stays. Its trigger
// set keeps '.', for callers that only have the union of many values' bytes.
func cleanLeavesAlone(present *[4]uint64, win bool) bool {
	has := func(c byte) bool { return present[c>>6]&(1<<(c&63)) != 0 }
	if has('/') || win && has('\\') {
		return false
	}
	others := *present
	others['.'>>6] &^= 1 << ('.' & 63)
	return others != [4]uint64{}
}

// Triggers returns the bytes without which transformation id returns a value unchanged, and
// always = true for the transformations that rewrite every value.
func Triggers(id ID) (bytes [4]uint64, always bool) {
	if id >= numIDs {
		return bytes, false
	}
	return triggers[id].bytes, triggers[id].always
}
