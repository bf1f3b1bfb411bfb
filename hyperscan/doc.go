// Package hyperscan is meshaccel's pure-Go side of Hyperscan in Envoy: the verdict contract of
// the regex compatibility gate, the translation of RE2 regexes into Hyperscan expressions with
// the same full-match meaning, and the RBAC filter that denies requests through Envoy's
// Hyperscan input matcher. It has no cgo, so the core imports it freely.
//
// The cgo parts live in subpackages:
//   - regexcompat: the compatibility checker (implements RegexChecker) on Hyperscan (gohs) and
//     the C++ RE2 library;
//   - matcher: a route-table matcher with Envoy's first-match semantics, one Hyperscan scan per
//     request through a small C shim;
//
// and the pure ones: regexsource finds the regexes in VirtualService, EnvoyFilter and text
// files; inputgen generates inputs on the edges where the engines disagree.
//
// # Semantics
//
// Envoy's default engine evaluates a safe_regex with RE2::FullMatch and rejects regexes whose
// RE2 program size exceeds 100. Its Hyperscan engine (envoy.regex_engines.hyperscan) compiles
// the same string with HS_FLAG_UTF8 only, also with HS_FLAG_SOM_LEFTMOST, and reports a match
// anywhere in the value. So, unchanged, almost every regex means something else under Hyperscan:
// it matches substrings, `$` matches before a final newline, `\s` matches VT, Unicode tables
// and case folding are older, empty-matching patterns do not compile, and invalid UTF-8 is
// handled differently. FullMatchExpression removes all of these but the last.
//
// # Go's regexp as the stand-in for RE2
//
// meshaccel parses with regexp/syntax (Perl flags) and uses Go's regexp as the reference
// behaviour. The two agree on valid UTF-8. They differ where noted: Go reads each invalid UTF-8
// byte as U+FFFD (so `.` and `[^/]` match it) while RE2 does not match it at all; Go rejects
// `\C`, which RE2 accepts. The checker reports C++ RE2's own answer whenever it differs from
// Go's on an example, and takes the program size from the RE2 library Debian ships (2022-06),
// which can differ slightly from the RE2 Envoy bundles.
package hyperscan
