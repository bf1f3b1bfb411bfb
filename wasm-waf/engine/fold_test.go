package engine_test

import (
	"fmt"
	"reflect"
	"testing"

	"github.com/meshaccel/meshaccel/wasm-waf/crs"
	"github.com/meshaccel/meshaccel/wasm-waf/engine"
	"github.com/meshaccel/meshaccel/wasm-waf/ruleset"
)

// outcome is everything a request leaves behind that rules can observe or report.
type outcome struct {
	Interruption *engine.Interruption
	Matched      []int
	Matches      []engine.Match
	TXAfterPhase [2][]string
}

func runFull(e *engine.Engine, r req, remoteAddr string) outcome {
	if r.method == "" {
		r.method = "GET"
	}
	var o outcome
	tx := e.NewTransaction()
	defer tx.Close()
	tx.SetRemoteAddr(remoteAddr, 40000)
	it := tx.ProcessRequestHeaders(r.method, r.uri, "HTTP/1.1", r.headers)
	o.TXAfterPhase[0] = engine.TXState(tx)
	if it == nil {
		ct := ""
		for _, h := range r.headers {
			if h[0] == "Content-Type" {
				ct = h[1]
			}
		}
		it = tx.ProcessRequestBody([]byte(r.body), ct)
		o.TXAfterPhase[1] = engine.TXState(tx)
	}
	if it != nil {
		c := *it
		o.Interruption = &c
	}
	o.Matched = append([]int(nil), tx.MatchedRules()...)
	o.Matches = append([]engine.Match(nil), tx.Matches()...)
	return o
}

// expectSameOutcomes runs every request through e and through the same ruleset with every rule
// evaluated on each request, and requires identical outcomes, TX included.
func expectSameOutcomes(t *testing.T, e *engine.Engine, reqs []req, remoteAddr string) {
	t.Helper()
	evaluated := engine.New(e.Ruleset())
	engine.FoldsOff(evaluated)
	for _, r := range reqs {
		got, want := runFull(e, r, remoteAddr), runFull(evaluated, r, remoteAddr)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s %s from %s:\n decided rules: %+v\n all evaluated: %+v", r.method, r.uri, remoteAddr, got, want)
		}
	}
}

func expectFolds(t *testing.T, e *engine.Engine, want map[int]string) {
	t.Helper()
	for id, w := range want {
		if got := engine.FoldOf(e, id); got != w {
			t.Errorf("rule %d: %s, want %s", id, got, w)
		}
	}
}

// Each case: rules, how each is treated, and the rule that denies each request (0: none). Every
// request also gets the same outcome with every rule evaluated.
func TestFoldsOnSmallRulesets(t *testing.T) {
	for _, c := range []struct {
		name  string
		rules string
		folds map[int]string
		deny  map[string]int // request URI: denying rule
	}{{
		name: "a dynamic skip may jump over a decided write",
		rules: `
SecAction "id:1,phase:1,pass,nolog,setvar:tx.level=1"
SecRule ARGS:skip "@streq yes" "id:2,phase:1,pass,nolog,skipAfter:END"
SecAction "id:3,phase:1,pass,nolog,setvar:tx.level=2"
SecRule TX:level "@lt 1" "id:4,phase:1,pass,nolog,setvar:tx.never=1"
SecMarker END
SecRule TX:level "@eq 2" "id:5,phase:1,deny,log"
SecRule TX:never "@eq 1" "id:6,phase:2,deny,log"`,
		folds: map[int]string{1: "always", 2: "evaluated", 3: "always", 4: "never", 5: "evaluated", 6: "evaluated"},
		// Without the skip tx.level is 2 and rule 5 denies; with it, tx.level stays 1.
		deny: map[string]int{"/?skip=no": 5, "/?skip=yes": 0},
	}, {
		name: "decisions step aside once a ctl removes rules",
		rules: `
SecRule REQUEST_URI "@beginsWith /admin" "id:10,phase:1,pass,nolog,ctl:ruleRemoveById=11"
SecAction "id:11,phase:1,pass,nolog,setvar:tx.block=1"
SecRule TX:block "@eq 1" "id:12,phase:1,pass,nolog,setvar:tx.blocked=1"
SecRule &TX:blocked "@eq 1" "id:13,phase:2,deny,log"`,
		folds: map[int]string{11: "always", 12: "always", 13: "evaluated"},
		// On /admin rule 11 is removed before it runs, so rule 12 does not match.
		deny: map[string]int{"/shop": 13, "/admin": 0},
	}, {
		name: "slots that run-time keys or captures may write are unknown",
		rules: `
SecAction "id:20,phase:1,pass,nolog,setvar:tx.limit_a=1,setvar:tx.other=1"
SecRule ARGS_NAMES "@rx ^(\w+)$" "id:21,phase:1,pass,nolog,capture,setvar:tx.limit_%{tx.1}=5"
SecRule TX:limit_a "@eq 1" "id:22,phase:1,pass,nolog,setvar:tx.limit_ok=1"
SecRule TX:other "@eq 1" "id:23,phase:1,pass,nolog,setvar:tx.other_ok=1"
SecRule TX:1 "@streq a" "id:24,phase:1,pass,nolog,setvar:tx.saw_a=1"
SecRule &TX:limit_ok "@eq 0" "id:25,phase:2,deny,log"`,
		folds: map[int]string{20: "always", 22: "evaluated", 23: "always", 24: "evaluated"},
		// Argument a sets tx.limit_a to 5, so tx.limit_ok stays unset.
		deny: map[string]int{"/?b=1": 0, "/?a=1": 25, "/": 0},
	}, {
		name: "a run of decided rules writes in order and leaves its last MATCHED_VAR",
		rules: `
SecAction "id:30,phase:1,pass,nolog,setvar:tx.mode=a"
SecRule TX:mode "@streq a" "id:31,phase:1,pass,nolog,setvar:tx.mode=b"
SecRule TX:mode "@streq b" "id:32,phase:1,pass,nolog,setvar:tx.second=1"
SecAction "id:33,phase:1,pass,nolog,setvar:tx.third=1"
SecRule MATCHED_VAR "@streq b" "id:34,phase:1,pass,log"
SecRule ARGS:x "@streq 1" "id:35,phase:1,pass,nolog,setvar:tx.mode=c"
SecRule TX:mode "@streq c" "id:36,phase:2,deny,log"`,
		folds: map[int]string{30: "always", 31: "always", 32: "always", 33: "always", 34: "evaluated"},
		deny:  map[string]int{"/": 0, "/?x=1": 36},
	}, {
		name: "a run goes on at the target of a decided skip",
		rules: `
SecAction "id:40,phase:1,pass,nolog,setvar:tx.pl=1"
SecRule TX:pl "@lt 2" "id:41,phase:1,pass,nolog,skipAfter:END-PL2"
SecAction "id:42,phase:1,pass,nolog,setvar:tx.pl2=1"
SecMarker END-PL2
SecAction "id:43,phase:1,pass,nolog,setvar:tx.after=1"
SecRule ARGS:x "@streq 1" "id:44,phase:1,pass,nolog,setvar:tx.after=2"
SecRule &TX:pl2 "@eq 1" "id:45,phase:2,deny,log"
SecRule TX:after "@eq 1" "id:46,phase:2,deny,log"`,
		folds: map[int]string{40: "always", 41: "always", 43: "always", 44: "evaluated"},
		deny:  map[string]int{"/": 46, "/?x=1": 0},
	}} {
		t.Run(c.name, func(t *testing.T) {
			e := compile(t, c.rules)
			expectFolds(t, e, c.folds)
			var reqs []req
			for uri, want := range c.deny {
				got := 0
				if it, _, _ := run(e, req{uri: uri}); it != nil {
					got = it.RuleID
				}
				if got != want {
					t.Errorf("%s: denied by rule %d, want %d (0: none)", uri, got, want)
				}
				reqs = append(reqs, req{uri: uri})
			}
			expectSameOutcomes(t, e, reqs, "192.0.2.1")
		})
	}
}

// On the CRS, deciding rules once changes nothing a request can observe, at every paranoia
// level, for benign traffic, attacks, bodies, and the localhost exception that removes rules by
// tag at run time.
func TestFoldsChangeNothingOnTheCRS(t *testing.T) {
	reqs := crsRequests()
	for pl := 1; pl <= 4; pl++ {
		t.Run(fmt.Sprintf("PL%d", pl), func(t *testing.T) {
			rs, err := crs.Compile(crs.Options{ParanoiaLevel: pl})
			if err != nil {
				t.Fatal(err)
			}
			e := engine.New(rs)
			expectSameOutcomes(t, e, reqs, "192.0.2.10")
			expectSameOutcomes(t, e, crsLocalhostRequests(), "127.0.0.1")
		})
	}
}

// The CRS's setup defaults and paranoia gates are decided once; rules that read request data or
// anomaly scores are not.
func TestFoldsDecideTheCRSConfiguration(t *testing.T) {
	rs, err := crs.Compile(crs.Options{ParanoiaLevel: 1})
	if err != nil {
		t.Fatal(err)
	}
	e := engine.New(rs)
	expectFolds(t, e, map[int]string{
		901200: "always",    // SecAction: anomaly scores start at 0
		911011: "never",     // TX:DETECTION_PARANOIA_LEVEL @lt 1
		911013: "always",    // TX:DETECTION_PARANOIA_LEVEL @lt 2: skip the upper levels
		942012: "never",     // the same gates in phase 2
		942014: "always",    //
		949052: "evaluated", // adds the PL1 inbound score, set by the attack rules
		942100: "evaluated", // @detectSQLi on request data
	})
	never, always := engine.FoldCounts(e)
	t.Logf("PL1: %d rules never match, %d always match, of %d", never, always, len(rs.Rules))
	if !hasRule(rs, 901200) || !hasRule(rs, 942014) {
		t.Fatal("the CRS lost rules this test names")
	}
}

func hasRule(rs *ruleset.Ruleset, id int32) bool {
	for i := range rs.Rules {
		if rs.Rules[i].ID == id {
			return true
		}
	}
	return false
}

// crsRequests are benign requests, attacks, bodies and malformed requests for the CRS.
// browserHeadersWith returns a browser's request headers and extra.
func browserHeadersWith(extra ...[2]string) [][2]string {
	return append([][2]string{
		{"Host", "shop.example"},
		{"User-Agent", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36"},
		{"Accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"},
		{"Accept-Language", "en-US,en;q=0.9"},
		{"Cookie", "session=7f3c2a9e41b04d6f8a1e; theme=dark"},
	}, extra...)
}

// crsLocalhostRequests are for 127.0.0.1: CRS 905100/905110 remove every OWASP_CRS rule at run
// time for GET / from localhost.
func crsLocalhostRequests() []req {
	return []req{{uri: "/", headers: browserHeadersWith()}, {uri: "/?q=%27%20or%201=1--", headers: browserHeadersWith()}}
}

// crsRequests are benign requests, attacks, bodies and malformed requests for the CRS.
func crsRequests() []req {
	with := browserHeadersWith
	reqs := []req{
		{uri: "/products/42?ref=home&sort=price", headers: with()},
		{uri: "/", headers: with()},
		{uri: "/search?q=1%27%20UNION%20SELECT%20password%20FROM%20users--", headers: with()},
		{uri: "/search?q=%3Cscript%3Ealert(1)%3C%2Fscript%3E", headers: with()},
		{uri: "/files?path=../../../../etc/passwd", headers: with()},
		{uri: "/run?cmd=%3Bcat%20/etc/shadow", headers: with()},
		{uri: "/index.php?x=%3C%3Fphp%20system($_GET[c]);%20%3F%3E", headers: with()},
		{uri: "/backup.sql.bak", headers: with()},
		{method: "TRACE", uri: "/", headers: with()},
		{uri: "/", headers: [][2]string{{"Host", "shop.example"}}},
		{uri: "/?a=1&a=2&a=3", headers: with([2]string{"Content-Length", "abc"})},
		{method: "POST", uri: "/api/reviews", headers: with([2]string{"Content-Type", "application/x-www-form-urlencoded"}),
			body: "name=Alice&comment=Great+product%2C+works+as+described."},
		{method: "POST", uri: "/api/reviews", headers: with([2]string{"Content-Type", "application/x-www-form-urlencoded"}),
			body: "name=Alice&comment=1+OR+1%3D1--"},
		{method: "POST", uri: "/api/items", headers: with([2]string{"Content-Type", "application/json"}),
			body: `{"name":"x","tags":["a","<img src=x onerror=alert(1)>"]}`},
		{method: "POST", uri: "/upload", headers: with([2]string{"Content-Type", "text/x-unknown"}), body: "data"},
	}
	return reqs
}
