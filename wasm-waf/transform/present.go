package transform

// Some transformations map bytes to bytes, or drop them, regardless of their neighbours: the bytes
// present in their result follow from the bytes present in their input. The engine keeps the set
// of bytes of each value it inspects (for its prefilters); for these transformations it derives
// the set of the result instead of another pass over it, which for long values (bodies, under
// lowercase and whitespace pipelines) is most of what the set costs.

const (
	asciiUpper = uint64(0x3ffffff) << ('A' - 64) // 'A'..'Z' in the second word
	asciiLower = uint64(0x3ffffff) << ('a' - 64) // 'a'..'z' in the second word
	// Bytes 0x09-0x0d and ' ' in the first word: the ASCII white space of the whitespace
	// transformations (their other white space is made of bytes >= 0x80).
	asciiSpace = uint64(0x3e00) | 1<<' '
)

// Present returns the bytes present in Apply(id, s), given in, the bytes present in s, when in
// determines them (ok); otherwise ok is false.
func Present(id ID, in *[4]uint64) (out [4]uint64, ok bool) {
	out = *in
	high := in[2]|in[3] != 0
	switch id {
	case Lowercase:
		upper := out[1] & asciiUpper
		out[1] = out[1]&^upper | upper<<('a'-'A')
	case Uppercase:
		lower := out[1] & asciiLower
		out[1] = out[1]&^lower | lower>>('a'-'A')
	case RemoveNulls:
		out[0] &^= 1
	case ReplaceNulls:
		if out[0]&1 != 0 {
			out[0] = out[0]&^1 | 1<<' '
		}
	case RemoveWhitespace:
		if high {
			return out, false
		}
		out[0] &^= asciiSpace
	case CompressWhitespace:
		if high {
			return out, false
		}
		if out[0]&asciiSpace != 0 {
			out[0] = out[0]&^asciiSpace | 1<<' '
		}
	default:
		return out, false
	}
	return out, true
}
