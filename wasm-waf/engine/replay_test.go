package engine_test

import (
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/meshaccel/meshaccel/wasm-waf/engine"
)

// Request after request, a rule whose sources hold what they held does not run; a rule over list
// entries that changed runs on their values only; a rule that decides otherwise than before has
// every later rule evaluated. Each request also decides as on a new engine. The regexes have no
// prefilter, so each value a rule looks at runs its regex.
func TestReplaySettlesRulesWhoseInputsDidNotChange(t *testing.T) {
	// Rules 6 and 10 act on every request through what replay does again: TX keys set and
	// removed, a log entry, MATCHED_VAR (rule 9, which reads a new request id, sees rule 7's) and a ctl
	// exclusion (rule 2 does not see ARGS:skip).
	const rules = `SecRule REQUEST_HEADERS_NAMES "@rx ^(user-agent)$" "id:6,phase:1,capture,t:lowercase,pass,log,msg:'%{MATCHED_VAR_NAME}',setvar:'tx.seen_%{tx.1}=1',ctl:ruleRemoveTargetById=2;ARGS:skip"
SecRule REQUEST_HEADERS_NAMES "@rx ^(x-request-id)$" "id:10,phase:1,capture,t:lowercase,pass,nolog,setvar:'tx.seen_%{tx.1}=1',setvar:'!tx.seen_%{tx.1}'"
SecRule REQUEST_HEADERS:User-Agent "@rx ^(?:bot)?$" "id:1,phase:1,deny,status:403"
SecRule ARGS "@rx ^(?:union)?$" "id:2,phase:1,deny,status:403"
SecRule ARGS_NAMES "@rx ^(?:debug)?$" "id:3,phase:1,deny,status:403"
SecRule ARGS:q "@rx ^(\w+)$" "id:4,phase:1,capture,pass,nolog,setvar:tx.word=%{tx.1}"
SecRule TX:word "@streq stop" "id:5,phase:1,deny,status:406"
SecRule TX:/^seen_/ "@eq 1" "id:7,phase:1,pass,log,msg:'%{MATCHED_VAR_NAME}'"
SecRule MATCHED_VAR|REQUEST_HEADERS:X-Request-Id "@streq 1" "id:9,phase:1,pass,log,msg:'after %{MATCHED_VAR_NAME}'"`
	long := compile(t, rules)
	ran := map[int32][]string{}
	engine.SetRegexRunHook(func(ruleID, regex int32, value string) { ran[ruleID] = append(ran[ruleID], value) })
	t.Cleanup(func() { engine.SetRegexRunHook(nil) })
	request := func(uri, id string) req {
		return req{uri: uri, headers: [][2]string{{"User-Agent", "Mozilla"}, {"X-Request-Id", id}}}
	}
	for i, c := range []struct {
		r      req
		status int
		ran    map[int32][]string // nil: not checked
	}{
		{request("/?q=go&page=1", "r0"), 0, map[int32][]string{6: {"user-agent"}, 10: {"x-request-id"}, 1: {"Mozilla"},
			2: {"go", "1"}, 3: {"q", "page"}, 4: {"go"}}},
		// Nothing runs. Rule 4 acts on every request: what it did is done again.
		{request("/?q=go&page=1", "r0"), 0, map[int32][]string{}},
		// Rule 1 reads the User-Agent only.
		{request("/?q=go&page=1", "r2"), 0, map[int32][]string{}},
		// Rule 2 runs on the new value alone; rule 3 reads names, which did not change, and rule
		// 4 the value of q.
		{request("/?q=go&page=2", "r3"), 0, map[int32][]string{2: {"2"}}},
		{request("/?q=go&page=2&debug=x", "r4"), 403, nil},
		// Rule 4 captures another word: rule 5, settled so far by its TX, decides again.
		{request("/?q=stop&page=2", "r5"), 406, nil},
		{request("/?q=stop&page=2", "r6"), 406, nil},
		{request("/?q=go&page=2", "r7"), 0, map[int32][]string{4: {"go"}}},
		{request("/?q=go&page=2", "r8"), 0, map[int32][]string{}},
		{request("/?q=go&page=2&skip=union", "r9"), 0, nil},
	} {
		clear(ran)
		got := runFull(long, c.r, "10.0.0.1")
		runs := maps(ran)
		if want := runFull(compile(t, rules), c.r, "10.0.0.1"); !reflect.DeepEqual(got, want) {
			t.Fatalf("request %d %s: got %+v, a new engine %+v", i, c.r.uri, got, want)
		}
		status := 0
		if got.Interruption != nil {
			status = got.Interruption.Status
		}
		if status != c.status {
			t.Fatalf("request %d %s: status %d, want %d", i, c.r.uri, status, c.status)
		}
		if c.ran != nil && !reflect.DeepEqual(runs, c.ran) {
			t.Fatalf("request %d %s: regexes ran on %v, want %v", i, c.r.uri, runs, c.ran)
		}
	}
}

func maps(m map[int32][]string) map[int32][]string {
	out := map[int32][]string{}
	for k, v := range m {
		out[k] = append([]string(nil), v...)
	}
	return out
}

// A value too long for a value slot (a token, a form body) is compared byte by byte: repeated,
// the rules over it are settled; changed, they run on it.
func TestReplayComparesLongValues(t *testing.T) {
	e := compile(t, `SecRule REQUEST_HEADERS:Authorization "@rx ^(?:evil)?$" "id:1,phase:1,deny,status:403"`)
	runs := 0
	engine.SetRegexRunHook(func(ruleID, regex int32, value string) { runs++ })
	t.Cleanup(func() { engine.SetRegexRunHook(nil) })
	token := "Bearer " + strings.Repeat("x", 1000)
	other := token[:len(token)-1] + "y"
	for i, c := range []struct {
		token string
		runs  int
	}{{token, 1}, {token, 0}, {other, 1}, {other, 0}, {token, 1}} {
		runs = 0
		r := req{uri: "/", headers: [][2]string{{"Authorization", c.token}, {"X-Request-Id", strconv.Itoa(i)}}}
		if it, _, _ := run(e, r); it != nil || runs != c.runs {
			t.Fatalf("request %d: interruption %v, the rule ran %d times, want none and %d", i, it, runs, c.runs)
		}
	}
}

// In step, a phase's loop visits only the rules that may not miss as they did before: folded
// rules, rules that acted, and rules that read a source that changed. A rule passed by for a
// few requests still decides as it did when it was last visited, and keeps the transaction in
// step when it decides so again.
func TestReplayVisitsOnlyRulesThatMayDecideOtherwise(t *testing.T) {
	const rules = `SecAction "id:1,phase:1,pass,nolog,setvar:tx.limit=3"
SecRule ARGS:q "@rx ^go$" "id:2,phase:1,pass,nolog,setvar:tx.go=1"
SecRule REQUEST_HEADERS:X-Request-Id "@rx ^evil$" "id:3,phase:1,deny,status:403"
SecRule REQUEST_HEADERS:Accept "@rx ^evil$" "id:4,phase:1,deny,status:403"
SecRule TX:go "@eq 2" "id:5,phase:1,deny,status:403"
SecRule ARGS_NAMES "@rx ^debug$" "id:6,phase:1,deny,status:403"`
	e := compile(t, rules)
	if fold := engine.FoldOf(e, 1); fold != "always" {
		t.Fatalf("rule 1 is %s, want always: the test needs a folded rule", fold)
	}
	var visited []int32
	engine.SetRuleVisitHook(func(id int32) { visited = append(visited, id) })
	t.Cleanup(func() { engine.SetRuleVisitHook(nil) })
	request := func(q, id, accept string) req {
		return req{uri: "/?q=" + q, headers: [][2]string{{"Accept", accept}, {"X-Request-Id", id}}}
	}
	for i, c := range []struct {
		r       req
		visited []int32
	}{
		{request("go", "r0", "*/*"), []int32{1, 2, 3, 4, 5, 6}},
		{request("go", "r0", "*/*"), []int32{1, 2}},
		// A new request id: rule 3 reads it, and misses.
		{request("go", "r2", "*/*"), []int32{1, 2, 3}},
		{request("go", "r2", "*/*"), []int32{1, 2}},
		// Rule 4 was last visited in the first request: it misses as then, and the rest stays in step.
		{request("go", "r2", "text/html"), []int32{1, 2, 4}},
		// Rule 2 misses now: every later rule is visited.
		{request("stop", "r2", "text/html"), []int32{1, 2, 3, 4, 5, 6}},
		// Rule 2 missed then, and reads the same value.
		{request("stop", "r2", "text/html"), []int32{1}},
		{request("go", "r2", "text/html"), []int32{1, 2, 3, 4, 5, 6}},
	} {
		visited = visited[:0]
		got := runFull(e, c.r, "10.0.0.1")
		if !reflect.DeepEqual(visited, c.visited) {
			t.Fatalf("request %d %s: visited rules %v, want %v", i, c.r.uri, visited, c.visited)
		}
		if want := runFull(compile(t, rules), c.r, "10.0.0.1"); !reflect.DeepEqual(got, want) {
			t.Fatalf("request %d %s: got %+v, a new engine %+v", i, c.r.uri, got, want)
		}
	}
}
