package ruleset

import (
	"bytes"
	"encoding/binary"
	"errors"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"testing/fstest"
	"unsafe"

	"github.com/meshaccel/meshaccel/wasm-waf/lazydfa"
	"github.com/meshaccel/meshaccel/wasm-waf/regexprog"
	"github.com/meshaccel/meshaccel/wasm-waf/seclang"
)

func TestCompileErrorsNameFileLineAndDirective(t *testing.T) {
	fsys := fstest.MapFS{
		"main.conf": {Data: []byte("SecRuleEngine On\nInclude rules/*.conf\n")},
		"rules/a.conf": {Data: []byte("SecRule ARGS \"@rx ok\" \"id:1,phase:2,pass\"\n\n" +
			"SecRule ARGS \"@rx (\" \"id:2,phase:2,deny\"\n")},
	}
	_, err := CompileFiles(Options{FS: fsys}, "main.conf")
	var se *seclang.Error
	if !errors.As(err, &se) || se.File != "rules/a.conf" || se.Line != 3 || se.Directive != "SecRule" {
		t.Fatalf("got %v, want an error at rules/a.conf:3 SecRule", err)
	}
	if !strings.Contains(err.Error(), "missing closing )") {
		t.Fatalf("error %q does not explain the regex problem", err)
	}

	cases := map[string]string{
		"SecFoo bar":                                           "t.conf:1: SecFoo: unknown directive",
		"SecRule ARGS \"@nope x\" \"id:1\"":                    "unknown operator @nope",
		"SecRule NOPE \"@rx x\" \"id:1\"":                      `unknown variable "NOPE"`,
		"SecRule ARGS \"@rx x\" \"id:1,frobnicate\"":           "action frobnicate: unknown action",
		"SecRule ARGS \"@rx x\" \"phase:2,deny\"":              "rule has no id",
		"SecRule ARGS \"@rx x\" \"id:1,t:nope\"":               `unknown transformation "nope"`,
		"SecRule ARGS \"@rx x\" \"id:1,chain\"":                "chain is not completed",
		"SecRule ARGS \"@rx x\" \"id:1,skipAfter:NOWHERE\"":    `marker "NOWHERE" is never defined`,
		"SecRule ARGS \"@eq abc\" \"id:1\"":                    `expects an integer, got "abc"`,
		"SecRule ARGS \"@rx x\" \"id:1,status:99\"":            `invalid HTTP status "99"`,
		"SecRule ARGS \"@pmFromFile missing.data\" \"id:1\"":   "no file system configured",
		"SecRule REQUEST_METHOD:x \"@rx x\" \"id:1\"":          "takes no selector",
		"SecRule ARGS \"@rx x\" \"id:1,ctl:ruleEngine=Maybe\"": "expects On, Off or DetectionOnly",
		"SecRuleEngine Maybe":                                  "t.conf:1: SecRuleEngine: expects On, Off or DetectionOnly",
	}
	for text, want := range cases {
		_, err := CompileString(Options{}, "t.conf", text)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s:\n got  %v\n want an error containing %q", text, err, want)
		}
	}
}

func TestCompileResolvesDefaultsChainsMarkersAndRemovals(t *testing.T) {
	rs, err := CompileString(Options{}, "t.conf", `
SecDefaultAction "phase:2,log,deny,status:418"
SecRule ARGS "@rx a" "id:1,phase:2,block"
SecRule ARGS "@rx b" "id:2,phase:2,chain,skipAfter:END"
  SecRule ARGS_NAMES "@rx c" "t:lowercase,t:urlDecodeUni"
SecRule ARGS "@rx d" "id:3,phase:2,pass,t:lowercase"
SecMarker END
SecRule ARGS "@rx e" "id:4,phase:1,pass"
SecRule RESPONSE_BODY "@rx f" "id:5,phase:4,deny"
SecRule ARGS "@rx g" "id:6,phase:2,pass"
SecRuleRemoveById 6
SecRuleUpdateTargetById 3 "!ARGS:skip"
`)
	if err != nil {
		t.Fatal(err)
	}
	byID := map[int32]*Rule{}
	for i := range rs.Rules {
		if _, seen := byID[rs.Rules[i].ID]; !seen {
			byID[rs.Rules[i].ID] = &rs.Rules[i]
		}
	}
	if r := byID[1]; r.Disruptive != DisruptDeny || r.Status != 418 {
		t.Errorf("block must take the phase default (deny, 418), got %v %d", r.Disruptive, r.Status)
	}
	r2 := byID[2]
	if r2.ChainNext < 0 || rs.Rules[r2.ChainNext].ID != 2 || rs.Rules[r2.ChainNext].Phase != 2 {
		t.Fatalf("chain of rule 2 not linked: %+v", r2)
	}
	chained := rs.Rules[r2.ChainNext]
	if n := rs.TransformNodes[chained.Transform]; n.T.String() != "urlDecodeUni" || rs.TransformNodes[n.Parent].T.String() != "lowercase" {
		t.Errorf("chained rule pipeline is %v", n)
	}
	if m := rs.Markers[r2.SkipAfter]; m.Name != "END" || m.Pos[2] != 3 || m.Pos[1] != 0 {
		t.Errorf("marker END at %v, want phase 2 position 3 (after rules 1-3) and phase 1 position 0", m.Pos)
	}
	if _, ok := byID[5]; ok {
		t.Error("response-phase rule 5 must be dropped")
	}
	if _, ok := byID[6]; ok {
		t.Error("rule 6 was removed by SecRuleRemoveById")
	}
	if ex := byID[3].Exclusions; len(ex) != 1 || ex[0].Key != "skip" || ex[0].Var != VarArgs {
		t.Errorf("SecRuleUpdateTargetById exclusion: %+v", ex)
	}
	if len(rs.Phases[1]) != 1 || len(rs.Phases[2]) != 3 {
		t.Errorf("phase lists %v", rs.Phases)
	}
}

func TestArtifactRoundTripAndCorruption(t *testing.T) {
	rs, err := CompileString(Options{}, "t.conf", `
SecRequestBodyAccess On
SecRule ARGS|!ARGS:x|TX:/^a/ "@rx (?i)union\s+select" "id:1,phase:2,deny,capture,msg:'m %{MATCHED_VAR}',setvar:tx.s=+5,ctl:ruleRemoveTargetById=2;ARGS:y"
SecRule REQUEST_HEADERS:User-Agent "@pm nikto sqlmap" "id:2,phase:1,deny,t:lowercase"
SecRule REMOTE_ADDR "@ipMatch 10.0.0.0/8,192.0.2.1" "id:3,phase:1,pass,nolog"
SecRule ARGS "@validateByteRange 32-126" "id:4,phase:2,pass"
`)
	if err != nil {
		t.Fatal(err)
	}
	a, err := rs.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	back, err := Load(a)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := back.MarshalBinary()
	if !bytes.Equal(a, b) {
		t.Fatal("artifact does not round-trip")
	}
	if back.Rules[0].Op.Kind != OpRx || back.Matchers[back.Rules[1].Op.Matcher].Patterns[0] != "nikto" {
		t.Fatalf("decoded rules differ: %+v", back.Rules[:2])
	}

	mustFail := func(name string, data []byte) {
		t.Helper()
		if _, err := Load(data); !errors.Is(err, ErrFormat) {
			t.Errorf("%s: want ErrFormat, got %v", name, err)
		}
	}
	mustFail("empty", nil)
	mustFail("magic", append([]byte("NOTARULE"), a[8:]...))
	mustFail("truncated", a[:len(a)-3])
	flipped := append([]byte(nil), a...)
	flipped[len(flipped)-1] ^= 0xff
	mustFail("checksum", flipped)
	newer := append([]byte(nil), a...)
	newer[len(magic)] = FormatVersion + 1
	mustFail("version", newer)

	// A consistent checksum over inconsistent references is caught by validation.
	bad := *back
	bad.Rules = append([]Rule(nil), back.Rules...)
	bad.Rules[0].ChainNext = 99
	data, _ := bad.MarshalBinary()
	mustFail("chain index", data)
	bad.Rules[0].ChainNext = -1
	bad.Rules[0].Op.Regex = 1000
	data, _ = bad.MarshalBinary()
	mustFail("regex index", data)
}

func TestMatcherFindsPhrasesIgnoringASCIICase(t *testing.T) {
	m := NewMatcher([]string{"he", "she", "his", "hers", "<!--", "document.cookie"})
	for in, want := range map[string]string{
		"USHERS": "she", "ahishers": "his", "x<!--y": "<!--", "a.Document.Cookie": "document.cookie", "h": "",
	} {
		got, ok := m.Find(in)
		if got != want || ok != (want != "") {
			t.Errorf("Find(%q) = %q %v, want %q", in, got, ok, want)
		}
	}
}

func TestPrefilterExtractsLiteralsAndBytes(t *testing.T) {
	cases := []struct {
		pattern string
		lits    []string
		bytes   string
	}{
		{`(?i)union\s+select`, []string{"select"}, ""},
		{`(?:foo|bar)baz`, []string{"barbaz", "foobaz"}, ""},
		{`<script`, []string{"<script"}, "<"},
		{`[\n\r]`, nil, "\n\r"},
		{`^.*$`, nil, ""},
	}
	for _, c := range cases {
		lits, sets := Prefilter(c.pattern, false)
		var b ByteSet
		if len(sets) > 0 {
			b = sets[0]
		}
		if strings.Join(lits, ",") != strings.Join(c.lits, ",") {
			t.Errorf("%s: literals %q, want %q", c.pattern, lits, c.lits)
		}
		for i := 0; i < len(c.bytes); i++ {
			if !b.Has(c.bytes[i]) {
				t.Errorf("%s: byte set lacks %q", c.pattern, c.bytes[i])
			}
		}
		if c.bytes == "" && c.pattern == `^.*$` && !b.Empty() {
			t.Errorf("%s: must have no byte condition", c.pattern)
		}
	}
}

// FuzzPrefilter checks soundness: whenever a regex matches, its prefilters let the input through.
func FuzzPrefilter(f *testing.F) {
	for _, s := range [][2]string{
		{`(?i)union\s+select`, "1 UNION/**/SELECT"}, {`(?i)k`, "\u212a"}, {`(?i)s`, "\u017f"},
		{`a|bc+|[d-f]x`, "ccccbcc"}, {`(?:^|;)\s*(?:cat|ls)\b`, "x; cat /etc"}, {`\x{bc}[^>]*>`, "\xbc>"},
		{`[^a-z]{3}`, "\xff\xfe\xfd"}, {`(?i)<script`, "<SCRİPT"}, {`é+`, "é"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, pattern, input string) {
		full := "(?sm)" + pattern
		re, err := regexp.Compile(full)
		if err != nil || needsBinary(pattern) {
			return
		}
		c := newCompiler(Options{})
		idx, err := c.regex(pattern, true)
		if err != nil {
			return
		}
		if re.MatchString(input) && !c.rs.MayMatch(idx, input) {
			r := c.rs.Regexes[idx]
			t.Fatalf("%q matches %q but the prefilter rejects it (lits %q bytes %x minlen %d)", pattern, input, r.Prefilter, r.Bytes, r.MinLen)
		}
	})
}

// FuzzLoad checks that arbitrary artifacts never panic Load and that what loads re-encodes.
// FuzzLoad decodes arbitrary artifact bodies under a valid header and checksum (so that the
// fuzzer reaches the decoder instead of the checksum), and runs whatever loads: its automata
// and regex programs must stay in bounds on any input, which is what Load's checks promise.
func FuzzLoad(f *testing.F) {
	rs, err := CompileString(Options{}, "t.conf", `SecRule ARGS "@pm a b" "id:1,phase:2,deny,chain"
SecRule TX:x "@rx ^\d+$" "setvar:tx.y=%{tx.x}"
SecRule REQUEST_HEADERS:/^x-/ "@rx (?i)(un)?ion\s+(sel)ect" "id:2,phase:1,pass,capture"
SecRule ARGS "@rx \xff[\x80-\xfe]" "id:3,phase:1,pass"`)
	if err != nil {
		f.Fatal(err)
	}
	a, _ := rs.MarshalBinary()
	const header = 24 // magic, version, padding, checksum
	f.Add(a[header:])
	f.Add(a[header : header+len(a)/2])
	f.Add([]byte{})
	inputs := []string{"", "a", "union select", "UnIoN\tSELECT x", "\xff\x81", "12345", "b a", strings.Repeat("ab", 100)}
	f.Fuzz(func(t *testing.T, body []byte) {
		data := append(append([]byte(nil), a[:header-8]...), make([]byte, 8)...)
		binary.LittleEndian.PutUint64(data[header-8:], checksum(alignedCopy(body)))
		data = append(data, body...)
		rs, err := Load(data)
		if err != nil {
			if !errors.Is(err, ErrFormat) {
				t.Fatalf("error %v does not wrap ErrFormat", err)
			}
			return
		}
		if _, err := rs.MarshalBinary(); err != nil {
			t.Fatal(err)
		}
		for _, m := range rs.Matchers {
			for _, in := range inputs {
				m.Find(in)
			}
		}
		for i := range rs.Regexes {
			r := &rs.Regexes[i]
			dfa := lazydfa.NewWithClasses(r.Prog, [128]uint8(r.Classes))
			pike := regexprog.NewMachine(r.Prog)
			for _, in := range inputs {
				dfa.MatchString(in)
				pike.FindSubmatchIndex(nil, in)
			}
		}
	})
}

// FuzzCompile checks that the compiler rejects or accepts any text without panicking, and that
// every compiled ruleset survives the artifact round trip.
func FuzzCompile(f *testing.F) {
	for _, s := range []string{
		`SecRule ARGS "@rx a" "id:1,deny"`,
		"SecRule ARGS \"@rx a\" \"id:1,chain\"\nSecRule ARGS \"b\" \"t:lowercase\"",
		`SecAction "id:2,phase:1,setvar:'tx.%{tx.x}=+1',ctl:ruleRemoveById=1-5"`,
		"SecMarker M\nSecRule ARGS \"x\" \"id:3,skipAfter:M\"",
		`SecRule &ARGS|!ARGS:/x/ "@gt 3" "id:4,block,msg:'%{MATCHED_VAR_NAME}'"`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		rs, err := CompileString(Options{}, "f.conf", text)
		if err != nil {
			return
		}
		a, err := rs.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Load(a); err != nil {
			t.Fatalf("compiled ruleset does not load: %v", err)
		}
	})
}

func TestLoadWithInPlaceAndVerifiedIntegrity(t *testing.T) {
	rs, err := CompileString(Options{}, "t.conf", `
SecRule ARGS "@rx (?i)union\s+select" "id:1,phase:2,deny,capture"
SecRule REQUEST_HEADERS:User-Agent "@pm nikto sqlmap" "id:2,phase:1,deny,t:lowercase"
`)
	if err != nil {
		t.Fatal(err)
	}
	a, err := rs.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	want, err := Load(a)
	if err != nil {
		t.Fatal(err)
	}
	// An 8-byte aligned buffer (used in place) and a misaligned one (copied) decode alike.
	words := make([]uint64, len(a)/8+2)
	buf := unsafe.Slice((*byte)(unsafe.Pointer(&words[0])), 8*len(words))
	for _, shift := range []int{0, 3} {
		data := buf[shift : shift+len(a)]
		copy(data, a)
		got, err := LoadWith(data, LoadOptions{InPlace: true})
		if err != nil {
			t.Fatalf("in place, offset %d: %v", shift, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("in place, offset %d: the ruleset differs from Load's", shift)
		}
		inPlace := unsafe.StringData(got.Regexes[0].Pattern)
		within := uintptr(unsafe.Pointer(inPlace)) >= uintptr(unsafe.Pointer(&data[0])) &&
			uintptr(unsafe.Pointer(inPlace)) < uintptr(unsafe.Pointer(&data[0]))+uintptr(len(data))
		if within != (shift == 0) {
			t.Errorf("offset %d: strings are views into the caller's data: %v, want %v", shift, within, shift == 0)
		}
	}
	// A wrong checksum fails unless the caller vouches for the artifact.
	bad := append([]byte(nil), a...)
	bad[len(magic)+8] ^= 1 // first checksum byte (after magic, version and padding)
	if _, err := Load(bad); !errors.Is(err, ErrFormat) {
		t.Fatalf("corrupt checksum accepted: %v", err)
	}
	if _, err := LoadWith(bad, LoadOptions{Trusted: true}); err != nil {
		t.Errorf("a trusted load still checked the checksum: %v", err)
	}
	// Cross-references are checked even then.
	broken := *want
	broken.Rules = append([]Rule(nil), want.Rules...)
	broken.Rules[0].Op.Regex = 99
	data, err := broken.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := LoadWith(data, LoadOptions{Trusted: true}); !errors.Is(err, ErrFormat) {
		t.Errorf("a trusted load accepted a dangling regex index: %v", err)
	}
}
