package hyperscan

// DifferenceKind names one way a regex can behave differently under Hyperscan than under RE2 with
// Envoy's full-match semantics.
type DifferenceKind string

const (
	DiffInvalidRE2       DifferenceKind = "InvalidRE2"       // RE2 rejects it: Envoy would refuse the config anyway
	DiffProgramSize      DifferenceKind = "RE2ProgramSize"   // over Envoy's RE2 program size limit
	DiffUnsupported      DifferenceKind = "Unsupported"      // Hyperscan refuses to compile it
	DiffAnchoring        DifferenceKind = "Anchoring"        // `$` / trailing newline / anchoring differences
	DiffUTF8             DifferenceKind = "UTF8"             // UTF-8 / UCP differences
	DiffWhitespaceVT     DifferenceKind = "WhitespaceVT"     // Hyperscan's \s also matches VT (0x0B)
	DiffCaseless         DifferenceKind = "CaselessNonASCII" // caseless matching folds ASCII only
	DiffEmptyMatch       DifferenceKind = "EmptyMatch"       // matches the empty string
	DiffSemanticMismatch DifferenceKind = "SemanticMismatch" // differs on a concrete input
)

// Difference is one named reason a regex is not equivalent under Hyperscan.
type Difference struct {
	Kind   DifferenceKind `json:"kind"`
	Detail string         `json:"detail"`
	// Example, when known, is an input on which RE2 and Hyperscan disagree.
	Example string `json:"example,omitempty"`
}

// RegexVerdict is the compatibility checker's answer for one regex as Envoy evaluates it
// (RE2 syntax, full match).
type RegexVerdict struct {
	Regex string `json:"regex"`
	// Equivalent is true only when Hyperscan compiles the regex and matches exactly the strings
	// RE2 full-match matches.
	Equivalent  bool         `json:"equivalent"`
	Differences []Difference `json:"differences,omitempty"`
	// Rewrite, when set, is an equivalent regex that Hyperscan handles identically.
	Rewrite string `json:"rewrite,omitempty"`
}

// RegexChecker decides whether regexes mean the same under Hyperscan as under RE2.
// Implementations cache verdicts by content so repeated checks are cheap.
type RegexChecker interface {
	CheckRegex(regex string) RegexVerdict
}
