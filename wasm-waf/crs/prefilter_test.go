package crs_test

import (
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"

	crstests "github.com/corazawaf/coraza-coreruleset/v4/tests"
	"github.com/coreruleset/go-ftw/v2/test"
	"rsc.io/binaryregexp"

	"github.com/meshaccel/meshaccel/wasm-waf/crs"
	"github.com/meshaccel/meshaccel/wasm-waf/lazydfa"
	"github.com/meshaccel/meshaccel/wasm-waf/ruleset"
)

// corpus returns every URI, header value and body of the CRS regression tests, raw, URL-decoded
// and lower-cased: attack strings of every rule family.
func corpus(t *testing.T) []string {
	t.Helper()
	files, err := crs.RequestTestFiles(crstests.FS)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	var out []string
	add := func(s string) {
		for _, v := range []string{s, strings.ToLower(s), strings.ToUpper(s)} {
			if !seen[v] {
				seen[v] = true
				out = append(out, v)
			}
		}
		if d, err := url.QueryUnescape(s); err == nil && !seen[d] {
			seen[d] = true
			out = append(out, d, strings.ToLower(d))
		}
	}
	for _, f := range files {
		data, err := crstests.FS.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		ft, err := test.GetTestFromYaml(data, f)
		if err != nil {
			t.Fatal(err)
		}
		for _, tc := range ft.Tests {
			for _, st := range tc.Stages {
				in := test.NewInput(&st.Input)
				add(in.GetURI())
				add(string(in.GetData()))
				for _, h := range in.GetHeaders().GetAll("") {
					add(h.Value)
				}
				for _, name := range []string{"User-Agent", "Cookie", "Referer", "Content-Type", "X-Filename"} {
					for _, h := range in.GetHeaders().GetAll(name) {
						add(h.Value)
					}
				}
			}
		}
	}
	return out
}

// TestRegexSoundness checks, for every regex of the CRS at paranoia level 4 and every string of
// the regression corpus, that the lazy DFA agrees with Go's regexp, and that a match implies that
// the prefilter lets the value through: prefilters may only skip values the regex cannot match.
func TestRegexSoundness(t *testing.T) {
	rs, err := crs.Compile(crs.Options{ParanoiaLevel: 4})
	if err != nil {
		t.Fatal(err)
	}
	artifact, err := rs.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	loaded, err := ruleset.Load(artifact)
	if err != nil {
		t.Fatal(err)
	}
	values := corpus(t)
	if os.Getenv("WAF_FULL_CORPUS") == "" {
		// Every fifth string keeps every rule family and the run short; WAF_FULL_CORPUS=1 runs all.
		sub := values[:0:0]
		for i := 0; i < len(values); i += 5 {
			sub = append(sub, values[i])
		}
		values = sub
	}
	t.Logf("%d regexes, %d corpus strings", len(rs.Regexes), len(values))
	skipped, matched := 0, 0
	for i := range rs.Regexes {
		r := &rs.Regexes[i]
		var match func(string) bool
		if r.Binary {
			match = binaryregexp.MustCompile(r.Pattern).MatchString
		} else {
			match = regexp.MustCompile(r.Pattern).MatchString
		}
		// The program the plugin runs: compiled on the host, through the artifact. Load checks
		// only its bounds; the compiler must also keep every range table in order.
		if err := loaded.Regexes[i].Prog.Validate(); err != nil {
			t.Errorf("regex %d %.80q: %v", i, r.Pattern, err)
		}
		dfa := lazydfa.NewWithClasses(loaded.Regexes[i].Prog, [128]uint8(loaded.Regexes[i].Classes))
		for _, v := range values {
			if dfa.MatchString(v) != match(v) {
				t.Errorf("regex %d %.80q on %.80q: lazy DFA %v, regexp %v", i, r.Pattern, v, !match(v), match(v))
			}
			may := rs.MayMatch(int32(i), v)
			if !may {
				skipped++
			}
			if match(v) {
				matched++
				if !may {
					t.Errorf("regex %d %.80q matches %.80q but its prefilter rejects it (literals %q, bytes %x)",
						i, r.Pattern, v, r.Prefilter, r.Bytes)
				}
			}
		}
	}
	t.Logf("%d matches, %d (regex, value) pairs skipped by prefilters", matched, skipped)
}
