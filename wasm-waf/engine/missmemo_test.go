package engine_test

import (
	"testing"

	"github.com/meshaccel/meshaccel/wasm-waf/engine"
)

// A rule that missed a value does not run its regex on the same value again in a later
// transaction, and still matches the next value that it should.
func TestMissedValuesSkipTheRegexNextTime(t *testing.T) {
	e := compile(t, `SecRule ARGS "@rx \d{3}-\d{4}" "id:1,phase:1,t:none,t:lowercase,deny,status:403"`)
	runs := 0
	engine.SetRegexRunHook(func(ruleID, regex int32, value string) { runs++ })
	t.Cleanup(func() { engine.SetRegexRunHook(nil) })

	miss := req{uri: "/?q=555-123x5678"}
	if it, _, _ := run(e, miss); it != nil {
		t.Fatalf("%s: interrupted by rule %d", miss.uri, it.RuleID)
	}
	if runs != 1 {
		t.Fatalf("the regex ran %d times on the first request, want 1 (the value passes the prefilters)", runs)
	}
	if it, _, _ := run(e, miss); it != nil || runs != 1 {
		t.Fatalf("second request with the same value: interruption %v, regex runs %d, want none and still 1", it, runs)
	}
	hit := req{uri: "/?q=555-1234"}
	if it, _, _ := run(e, hit); it == nil || it.RuleID != 1 {
		t.Fatalf("%s: interruption %v, want rule 1", hit.uri, it)
	}
	// The same value under another name is the same content: it is known to miss.
	before := runs
	if it, _, _ := run(e, req{uri: "/?other=555-123x5678"}); it != nil || runs != before {
		t.Fatalf("same value, another argument: interruption %v, regex runs %d, want none and no more", it, runs-before)
	}
}

// Operators that read TX decide anew on every request, whatever they missed before; so does a
// negated, capturing operator, whose miss sets TX.1 (rule 3 on q=bar, which rule 4 sees).
func TestMissesOfOperatorsWithMacrosAreNotRemembered(t *testing.T) {
	e := compile(t, `SecRule REQUEST_HEADERS:X-Expect "@rx ^(.*)$" "id:1,phase:1,capture,setvar:tx.expect=%{tx.1},pass,nolog"
SecRule ARGS:q "@streq %{tx.expect}" "id:2,phase:1,deny,status:403"
SecRule ARGS:q "!@rx ^(b)" "id:3,phase:1,capture,pass,nolog"
SecRule TX:1 "@streq b" "id:4,phase:1,deny,status:406"`)
	for i, c := range []struct {
		expect string
		want   int
	}{{"foo", 4}, {"bar", 2}, {"foo", 4}, {"bar", 2}} {
		it, _, _ := run(e, req{uri: "/?q=bar", headers: [][2]string{{"X-Expect", c.expect}}})
		got := 0
		if it != nil {
			got = it.RuleID
		}
		if got != c.want {
			t.Fatalf("request %d (X-Expect %s, q=bar): interrupted by rule %d, want %d", i, c.expect, got, c.want)
		}
	}
}
