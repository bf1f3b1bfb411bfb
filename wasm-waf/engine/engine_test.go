package engine_test

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/meshaccel/meshaccel/wasm-waf/engine"
	"github.com/meshaccel/meshaccel/wasm-waf/ruleset"
)

func compile(t testing.TB, text string) *engine.Engine {
	t.Helper()
	// Every test runs on the artifact, as the plugin does.
	return engine.New(throughArtifact(t, compileWhole(t, "test.conf", text)))
}

// compileWhole compiles rules with the engine and request body access on, unpruned.
func compileWhole(t testing.TB, name, rules string) *ruleset.Ruleset {
	t.Helper()
	rs, err := ruleset.CompileString(ruleset.Options{}, name, "SecRuleEngine On\nSecRequestBodyAccess On\n"+rules)
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

// throughArtifact returns rs encoded and loaded again, as the plugin receives it.
func throughArtifact(t testing.TB, rs *ruleset.Ruleset) *ruleset.Ruleset {
	t.Helper()
	a, err := rs.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	out, err := ruleset.Load(a)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

type req struct {
	method, uri string
	headers     [][2]string
	body        string
}

func run(e *engine.Engine, r req) (*engine.Interruption, []int, []engine.Match) {
	if r.method == "" {
		r.method = "GET"
	}
	tx := e.NewTransaction()
	defer tx.Close()
	it := tx.ProcessRequestHeaders(r.method, r.uri, "HTTP/1.1", r.headers)
	if it == nil {
		it = tx.ProcessRequestBody([]byte(r.body), "")
	}
	var copyIt *engine.Interruption
	if it != nil {
		c := *it
		copyIt = &c
	}
	return copyIt, append([]int(nil), tx.MatchedRules()...), append([]engine.Match(nil), tx.Matches()...)
}

func TestDenyWithStatusAndLogging(t *testing.T) {
	e := compile(t, `SecRule ARGS:q "@rx (?i)attack" "id:10,phase:1,deny,status:406,msg:'found %{MATCHED_VAR} in %{MATCHED_VAR_NAME}',logdata:'%{TX.0}',capture"`)
	it, ids, ms := run(e, req{uri: "/?q=an+ATTACK+here"})
	if it == nil || it.RuleID != 10 || it.Status != 406 || it.Action != "deny" {
		t.Fatalf("interruption %+v", it)
	}
	if !reflect.DeepEqual(ids, []int{10}) || ms[0].Msg != "found an ATTACK here in ARGS_GET:q" && ms[0].Msg != "found an ATTACK here in ARGS:q" || ms[0].Data != "ATTACK" {
		t.Fatalf("ids %v matches %+v", ids, ms)
	}
	if it, _, _ := run(e, req{uri: "/?q=peace"}); it != nil {
		t.Fatalf("benign request interrupted: %+v", it)
	}
}

func TestDetectionOnlyLogsButDoesNotInterrupt(t *testing.T) {
	e := compile(t, `SecRuleEngine DetectionOnly
SecRule ARGS "@contains evil" "id:1,phase:2,deny"`)
	it, ids, _ := run(e, req{uri: "/?a=evil"})
	if it != nil || !reflect.DeepEqual(ids, []int{1}) {
		t.Fatalf("got %+v %v", it, ids)
	}
	on := ruleset.EngineOn
	e2 := engine.NewWithOptions(e.Ruleset(), engine.Options{Mode: &on})
	if it, _, _ := run(e2, req{uri: "/?a=evil"}); it == nil {
		t.Fatal("mode override On must interrupt")
	}
}

func TestAnomalyScoringWithSetvarAndMacros(t *testing.T) {
	e := compile(t, `
SecAction "id:1,phase:1,pass,nolog,setvar:tx.threshold=5,setvar:tx.score=0"
SecRule ARGS "@rx select" "id:2,phase:2,pass,setvar:'tx.score=+%{tx.critical}',setvar:tx.critical=3"
SecRule ARGS "@rx union" "id:3,phase:2,pass,setvar:tx.score=+3"
SecRule TX:score "@ge %{tx.threshold}" "id:4,phase:2,deny,msg:'score %{tx.score}'"`)
	// Rule 2 adds tx.critical before it is set (0), then sets it; rule 3 adds 3: score 3, no block.
	if it, ids, _ := run(e, req{uri: "/?a=select+1"}); it != nil || !reflect.DeepEqual(ids, []int{2}) {
		t.Fatalf("got %+v %v", it, ids)
	}
	// Two arguments match rule 2: actions run per match (0 then 3), plus rule 3: 6 >= 5.
	it, ids, ms := run(e, req{uri: "/?a=select&b=union+select"})
	if it == nil || it.RuleID != 4 || ms[len(ms)-1].Msg != "score 6" {
		t.Fatalf("got %+v %v %+v", it, ids, ms)
	}
}

func TestChainsSkipAfterAndMarkers(t *testing.T) {
	e := compile(t, `
SecRule REQUEST_METHOD "@streq POST" "id:1,phase:2,deny,chain"
  SecRule &ARGS "@gt 1" "chain"
    SecRule ARGS:mode "@streq admin"
SecRule REQUEST_FILENAME "@beginsWith /public" "id:2,phase:2,pass,nolog,skipAfter:END"
SecRule ARGS "@contains x" "id:3,phase:2,deny"
SecMarker END`)
	if it, _, _ := run(e, req{method: "POST", uri: "/a?mode=admin&x=1"}); it == nil || it.RuleID != 1 {
		t.Fatalf("full chain must deny: %+v", it)
	}
	if it, _, _ := run(e, req{method: "POST", uri: "/a?mode=admin"}); it != nil {
		t.Fatalf("second chain link fails (one arg), got %+v", it)
	}
	if it, _, _ := run(e, req{uri: "/public/x?q=x"}); it != nil {
		t.Fatalf("skipAfter must skip rule 3: %+v", it)
	}
	if it, _, _ := run(e, req{uri: "/private?q=x"}); it == nil || it.RuleID != 3 {
		t.Fatalf("rule 3 must deny: %+v", it)
	}
}

func TestExclusionsAndCtl(t *testing.T) {
	e := compile(t, `
SecRule REQUEST_FILENAME "@streq /login" "id:1,phase:1,pass,nolog,ctl:ruleRemoveTargetById=100;ARGS:password"
SecRule REQUEST_FILENAME "@streq /off" "id:2,phase:1,pass,nolog,ctl:ruleRemoveById=100-101"
SecRule REQUEST_FILENAME "@streq /tag" "id:3,phase:1,pass,nolog,ctl:ruleRemoveByTag=sqli"
SecRule ARGS|!ARGS:/^safe_/ "@contains '" "id:100,phase:2,deny,tag:sqli"`)
	cases := map[string]bool{
		"/x?a='":                  true,
		"/x?safe_1='":             false, // regex exclusion in the rule
		"/login?password='":       false, // ctl:ruleRemoveTargetById
		"/login?user='":           true,
		"/off?a='":                false,
		"/tag?a='":                false,
		"/x?a=ok&A=%27":           true, // keys are case-insensitive, values decoded
		"/x?safe_1=ok&SAFE_2='":   false,
		"/x?a=1&a=2&a=%27+or+1=1": true, // parameter pollution: every value is inspected
	}
	for uri, blocked := range cases {
		if it, ids, _ := run(e, req{uri: uri}); (it != nil) != blocked {
			t.Errorf("%s: blocked=%v (ids %v), want %v", uri, it != nil, ids, blocked)
		}
	}
}

func TestTransformationsMultiMatchAndCount(t *testing.T) {
	e := compile(t, `
SecRule ARGS "@streq <script>" "id:1,phase:2,deny,t:none,t:urlDecodeUni,t:htmlEntityDecode,t:lowercase"
SecRule ARGS:m "@streq %41" "id:2,phase:2,deny,multiMatch,t:urlDecode"
SecRule &REQUEST_HEADERS:X-Api-Key "@eq 0" "id:3,phase:1,deny,status:401"`)
	h := [][2]string{{"X-Api-Key", "k"}}
	if it, _, _ := run(e, req{uri: "/?x=%2526lt%3BSCRIPT%26gt%3b", headers: h}); it == nil || it.RuleID != 1 {
		t.Fatalf("pipeline must decode to <script>: %+v", it)
	}
	// multiMatch sees the value before the transformation.
	if it, _, _ := run(e, req{uri: "/?m=%2541", headers: h}); it == nil || it.RuleID != 2 {
		t.Fatalf("multiMatch: %+v", it)
	}
	if it, _, _ := run(e, req{uri: "/"}); it == nil || it.RuleID != 3 || it.Status != 401 {
		t.Fatalf("&REQUEST_HEADERS:X-Api-Key: %+v", it)
	}
}

func TestBodyProcessors(t *testing.T) {
	e := compile(t, `
SecRule REQUEST_HEADERS:Content-Type "@rx ^application/json" "id:1,phase:1,pass,nolog,ctl:requestBodyProcessor=JSON"
SecRule REQUEST_HEADERS:Content-Type "@rx ^text/xml" "id:2,phase:1,pass,nolog,ctl:requestBodyProcessor=XML"
SecRule REQBODY_ERROR "!@eq 0" "id:3,phase:2,deny,status:400,msg:'%{REQBODY_ERROR_MSG}'"
SecRule ARGS_POST:json.user.roles.1 "@streq root" "id:4,phase:2,deny"
SecRule ARGS_POST:json.items "@eq 3" "id:5,phase:2,deny"
SecRule ARGS_POST:comment "@contains evil" "id:6,phase:2,deny"
SecRule FILES "@endsWith .php" "id:7,phase:2,deny"
SecRule XML:/* "@contains evil" "id:8,phase:2,deny"
SecRule XML://@* "@contains evil" "id:9,phase:2,deny"
SecRule REQUEST_BODY "@contains evil" "id:10,phase:2,deny"`)
	ct := func(v string) [][2]string { return [][2]string{{"Content-Type", v}} }
	mp := "--b\r\nContent-Disposition: form-data; name=\"comment\"\r\n\r\nvery evil\r\n--b\r\n" +
		"Content-Disposition: form-data; name=\"f\"; filename=\"shell.php\"\r\n\r\n<?php\r\n--b--\r\n"
	cases := []struct {
		name string
		r    req
		id   int
	}{
		{"json nested", req{method: "POST", uri: "/", headers: ct("application/json"), body: `{"user":{"roles":["u","root"]}}`}, 4},
		{"json array length", req{method: "POST", uri: "/", headers: ct("application/json"), body: `{"items":[1,2,{"a":null}]}`}, 5},
		{"json invalid", req{method: "POST", uri: "/", headers: ct("application/json"), body: `{"a":`}, 3},
		{"json deep", req{method: "POST", uri: "/", headers: ct("application/json"), body: strings.Repeat("[", 2000) + strings.Repeat("]", 2000)}, 3},
		{"urlencoded", req{method: "POST", uri: "/", headers: ct("application/x-www-form-urlencoded"), body: "comment=so+evil"}, 6},
		{"multipart field", req{method: "POST", uri: "/", headers: ct("multipart/form-data; boundary=b"), body: mp}, 6},
		{"xml text", req{method: "POST", uri: "/", headers: ct("text/xml"), body: "<a><b>evil</b></a>"}, 8},
		{"xml attribute", req{method: "POST", uri: "/", headers: ct("text/xml"), body: `<a x="evil"/>`}, 9},
		{"no processor", req{method: "POST", uri: "/", headers: ct("text/plain"), body: "evil"}, 0},
	}
	for _, c := range cases {
		it, ids, _ := run(e, c.r)
		got := 0
		if it != nil {
			got = it.RuleID
		}
		if got != c.id {
			t.Errorf("%s: interrupted by %d (ids %v), want %d", c.name, got, ids, c.id)
		}
	}
	mpFile := "--b\r\nContent-Disposition: form-data; name=\"f\"; filename=\"shell.php\"\r\n\r\n<?php\r\n--b--\r\n"
	if it, _, _ := run(e, req{method: "POST", uri: "/", headers: ct("multipart/form-data; boundary=b"), body: mpFile}); it == nil || it.RuleID != 7 {
		t.Errorf("multipart file name: %+v", it)
	}
}

func TestBodyLimit(t *testing.T) {
	e := compile(t, `SecRequestBodyLimit 16
SecRequestBodyLimitAction Reject
SecRule ARGS "@contains evil" "id:1,phase:2,deny"`)
	tx := e.NewTransaction()
	tx.ProcessRequestHeaders("POST", "/", "HTTP/1.1", [][2]string{{"Content-Type", "application/x-www-form-urlencoded"}})
	if tx.RequestBodyLimit() != 16 || !tx.RequestBodyAccess() {
		t.Fatalf("limit %d access %v", tx.RequestBodyLimit(), tx.RequestBodyAccess())
	}
	tx.SetRequestBodyTruncated()
	if it := tx.ProcessRequestBody([]byte("a=1234567890abcd"), ""); it == nil || it.Status != 413 {
		t.Fatalf("over-limit body must be rejected with 413: %+v", it)
	}
	tx.Close()
}

func TestTransactionsAreReusedWithCleanState(t *testing.T) {
	e := compile(t, `
SecRule ARGS:a "@rx ." "id:1,phase:1,pass,setvar:tx.seen=1,ctl:ruleRemoveById=3"
SecRule TX:seen "@eq 1" "id:2,phase:2,pass"
SecRule ARGS "@rx ." "id:3,phase:2,deny"`)
	if _, ids, _ := run(e, req{uri: "/?a=x"}); !reflect.DeepEqual(ids, []int{1, 2}) {
		t.Fatalf("first request ids %v", ids)
	}
	// The next transaction comes from the free list: TX, removals and matches must be reset.
	it, ids, _ := run(e, req{uri: "/?b=y"})
	if it == nil || !reflect.DeepEqual(ids, []int{3}) {
		t.Fatalf("second request: %+v %v", it, ids)
	}
}

func TestSteadyStateAllocations(t *testing.T) {
	e := compile(t, `SecRule ARGS|REQUEST_HEADERS "@rx (?i)union\s+select" "id:1,phase:2,deny,t:urlDecodeUni,t:lowercase"
SecRule REQUEST_HEADERS:User-Agent "@pm sqlmap nikto" "id:2,phase:1,deny"`)
	h := [][2]string{{"Host", "example.com"}, {"User-Agent", "Mozilla/5.0"}}
	do := func() {
		tx := e.NewTransaction()
		tx.ProcessRequestHeaders("GET", "/index.html", "HTTP/1.1", h)
		tx.ProcessRequestBody(nil, "")
		tx.Close()
	}
	do()
	if n := testing.AllocsPerRun(200, do); n > 12 {
		t.Errorf("a request without arguments allocates %v times; buffers must be reused", n)
	}
}

// FuzzEngine feeds arbitrary request parts through a ruleset that uses every body processor:
// the engine must not panic and must always finish both phases.
func FuzzEngine(f *testing.F) {
	e := compile(f, `
SecRule REQUEST_HEADERS:Content-Type "@rx json" "id:1,phase:1,pass,nolog,ctl:requestBodyProcessor=JSON"
SecRule REQUEST_HEADERS:Content-Type "@rx xml" "id:2,phase:1,pass,nolog,ctl:requestBodyProcessor=XML"
SecRule ARGS|ARGS_NAMES|REQUEST_COOKIES|REQUEST_HEADERS|XML:/*|FILES|REQUEST_FILENAME "@rx (?i)(?:union|<script)" "id:3,phase:2,deny,capture,t:urlDecodeUni,t:htmlEntityDecode,t:jsDecode,t:cssDecode,t:removeComments,t:cmdLine,t:normalizePath,msg:'%{TX.0} %{MATCHED_VAR_NAME}'"
SecRule &ARGS "@gt 100" "id:4,phase:2,deny"
SecRule ARGS "@detectSQLi" "id:5,phase:2,deny"
SecRule ARGS "@detectXSS" "id:6,phase:2,deny"`)
	f.Add("/a?b=c&d=%27", "application/json", "sid=1; x=2", `{"a":[1,{"b":"<script>"}]}`)
	f.Add("/?%u0027=1", "text/xml", "", `<a b="union"><![CDATA[x]]></a>`)
	f.Add("/x/../y?=&&=", "multipart/form-data; boundary=z", "=", "--z\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nunion\r\n--z--")
	f.Add("http://h/p?q#f", "application/x-www-form-urlencoded", ";;;", "a=%&b=%zz&c")
	f.Fuzz(func(t *testing.T, uri, ctype, cookie, body string) {
		tx := e.NewTransaction()
		defer tx.Close()
		tx.ProcessRequestHeaders("POST", uri, "HTTP/1.1", [][2]string{{"Content-Type", ctype}, {"Cookie", cookie}})
		tx.ProcessRequestBody([]byte(body), "")
		for _, m := range tx.Matches() {
			if m.RuleID < 1 || m.RuleID > 6 {
				t.Fatalf("unexpected match %+v", m)
			}
		}
		_ = fmt.Sprint(tx.MatchedRules())
	})
}
