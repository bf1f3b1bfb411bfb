package engine_test

import (
	"reflect"
	"testing"

	"github.com/meshaccel/meshaccel/wasm-waf/engine"
)

// Rules over the same targets share one collection per phase (see groups.go). These cases are
// the ones where sharing must not change a decision.

// A ctl target exclusion added during the phase applies to the rules it names, although the
// group's values were collected (without it) for an earlier rule.
func TestSharedGroupHonoursCtlTargetExclusions(t *testing.T) {
	e := compile(t, `
SecRule ARGS "@rx attack" "id:1,phase:1,pass,log"
SecAction "id:2,phase:1,pass,nolog,ctl:ruleRemoveTargetById=3;ARGS:q"
SecRule ARGS "@rx attack" "id:3,phase:1,deny"
SecRule ARGS "@rx attack" "id:4,phase:1,pass,log"`)
	it, ids, _ := run(e, req{uri: "/?q=attack"})
	if it != nil {
		t.Fatalf("rule 3 must not see ARGS:q after the ctl exclusion, got %+v", it)
	}
	if !reflect.DeepEqual(ids, []int{1, 4}) {
		t.Errorf("matched %v, want [1 4]: rules the exclusion does not name still see ARGS:q", ids)
	}
	if it, _, _ := run(e, req{uri: "/?p=attack"}); it == nil || it.RuleID != 3 {
		t.Errorf("rule 3 must still see ARGS:p, got %+v", it)
	}
}

// Values added between phases (the body's arguments) reach phase 2's rules even where the group
// was collected in phase 1; a GET's phase 2 reuses phase 1's values.
func TestSharedGroupSeesValuesAddedBetweenPhases(t *testing.T) {
	e := compile(t, `
SecRule ARGS "@rx evil" "id:1,phase:1,pass,log"
SecRule ARGS "@rx evil" "id:2,phase:2,deny"`)
	it, ids, _ := run(e, req{method: "POST", uri: "/?a=fine",
		headers: [][2]string{{"Content-Type", "application/x-www-form-urlencoded"}}, body: "b=evil"})
	if it == nil || it.RuleID != 2 || !reflect.DeepEqual(ids, []int{2}) {
		t.Fatalf("phase 2 must see the body argument: interruption %+v, matched %v", it, ids)
	}
	it, ids, _ = run(e, req{uri: "/?a=evil"})
	if it == nil || it.RuleID != 2 || !reflect.DeepEqual(ids, []int{1, 2}) {
		t.Fatalf("a GET's query argument in both phases: interruption %+v, matched %v", it, ids)
	}
}

// A summary skips a rule only when no value can match: the phrase or literal may sit in any
// value of the group, including the last one, and a negated operator is never skipped.
func TestSummarySkipsOnlyRulesThatCannotMatch(t *testing.T) {
	e := compile(t, `
SecRule ARGS|REQUEST_HEADERS:User-Agent "@pm sqlmap nikto" "id:1,phase:1,pass,log"
SecRule ARGS|REQUEST_HEADERS:User-Agent "@rx (?i)union\s+select" "id:2,phase:1,pass,log"
SecRule ARGS|REQUEST_HEADERS:User-Agent "!@rx ^[a-z]+$" "id:3,phase:1,pass,log"
SecRule ARGS|REQUEST_HEADERS:User-Agent "@detectXSS" "id:4,phase:1,pass,log"`)
	cases := []struct {
		uri, ua string
		want    []int
	}{
		{"/?a=x&b=y", "curl", nil},
		{"/?a=x&b=y", "sqlmap/1.7", []int{1, 3}},
		{"/?a=x&b=1%20UNION%20SELECT%202", "curl", []int{2, 3}},
		{"/?a=x&b=%3Cscript%3Ealert(1)%3C/script%3E", "curl", []int{3, 4}},
	}
	for _, c := range cases {
		_, ids, _ := run(e, req{uri: c.uri, headers: [][2]string{{"User-Agent", c.ua}}})
		if len(ids) == 0 {
			ids = nil
		}
		if !reflect.DeepEqual(ids, c.want) {
			t.Errorf("%s with User-Agent %q: matched %v, want %v", c.uri, c.ua, ids, c.want)
		}
	}
}

// Rules under the same ctl exclusion share a variant of their group, summarized like the group:
// the excluded value is gone for every rule the exclusion names (whether its summary or its
// values decide it), rules with another set of exclusions get their own variant, and rules the
// exclusions do not name keep seeing everything.
func TestGroupVariantsUnderCtlExclusions(t *testing.T) {
	e := compile(t, `
SecAction "id:1,phase:1,pass,nolog,ctl:ruleRemoveTargetByTag=xss;ARGS:q"
SecAction "id:2,phase:1,pass,nolog,ctl:ruleRemoveTargetById=20;ARGS:p"
SecRule ARGS "@rx <script" "id:10,phase:2,pass,log,tag:xss"
SecRule ARGS "@pm onerror" "id:11,phase:2,pass,log,tag:xss"
SecRule ARGS "!@rx ^[a-z<> =]*$" "id:12,phase:2,pass,log,tag:xss"
SecRule ARGS "@rx <script" "id:20,phase:2,pass,log,tag:xss"
SecRule ARGS "@rx <script" "id:30,phase:2,pass,log"`)
	cases := []uriCase{
		{"/?q=%3Cscript%3E", []int{30}},
		{"/?q=onerror%3D1", nil},
		{"/?q=1", nil},
		{"/?p=%3Cscript%3E", []int{10, 30}},
		{"/?p=onerror%3D1", []int{11, 12}},
		{"/?q=%3Cscript%3E&r=%3Cscript%3E", []int{10, 20, 30}},
	}
	expectMatches(t, e, cases)
}

// Rules over one TX key skip collection (evalSingleTX) but keep its meaning: an unset key has no
// value and a count of 0, and a ctl exclusion of the key still hides it.
func TestSingleTXRules(t *testing.T) {
	e := compile(t, `
SecAction "id:1,phase:1,pass,nolog,setvar:tx.score=5"
SecRule TX:score "@ge 5" "id:2,phase:1,pass,log"
SecRule TX:unset "@lt 1" "id:3,phase:1,pass,log"
SecRule &TX:unset "@eq 0" "id:4,phase:1,pass,log"
SecRule &TX:score "@eq 1" "id:5,phase:1,pass,log"
SecRule ARGS:hide "@streq yes" "id:6,phase:1,pass,nolog,ctl:ruleRemoveTargetById=7;TX:score"
SecRule TX:score "@ge 5" "id:7,phase:1,pass,log"
SecRule TX:score "@ge 5" "id:8,phase:1,pass,log,setvar:tx.seen=%{matched_var_name}"
SecRule TX:seen "@streq TX:score" "id:9,phase:1,pass,log"`)
	_, ids, _ := run(e, req{uri: "/"})
	if want := []int{2, 4, 5, 7, 8, 9}; !reflect.DeepEqual(ids, want) {
		t.Errorf("matched %v, want %v", ids, want)
	}
	_, ids, _ = run(e, req{uri: "/?hide=yes"})
	if want := []int{2, 4, 5, 8, 9}; !reflect.DeepEqual(ids, want) {
		t.Errorf("with TX:score excluded from rule 7: matched %v, want %v", ids, want)
	}
}

// A multiMatch rule is decided by the untransformed summary only when its pipeline changes no
// value; otherwise every value, raw and after each step, is still inspected.
func TestMultiMatchSummary(t *testing.T) {
	e := compile(t, `
SecRule ARGS "@rx <script" "id:1,phase:1,pass,log,multiMatch,t:none,t:urlDecodeUni,t:htmlEntityDecode"`)
	cases := []uriCase{
		{"/?a=home&b=blue", nil},
		{"/?a=home&b=%253Cscript", []int{1}},    // only after urlDecodeUni (encoded twice in the URI)
		{"/?a=home&b=%26lt%3Bscript", []int{1}}, // only after htmlEntityDecode
		{"/?a=home&b=%3Cscript", []int{1}},      // the raw value already matches
		{"/?a=home&b=%2525", nil},               // a trigger byte but nothing to find
	}
	expectMatches(t, e, cases)
}

type uriCase struct {
	uri  string
	want []int // rule ids in match order; nil for none
}

// expectMatches sends a GET for each case's URI and compares the rules that matched.
func expectMatches(t *testing.T, e *engine.Engine, cases []uriCase) {
	t.Helper()
	for _, c := range cases {
		_, ids, _ := run(e, req{uri: c.uri})
		if len(ids) == 0 {
			ids = nil
		}
		if !reflect.DeepEqual(ids, c.want) {
			t.Errorf("%s: matched %v, want %v", c.uri, ids, c.want)
		}
	}
}
