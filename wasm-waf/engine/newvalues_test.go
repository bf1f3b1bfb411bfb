package engine_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/meshaccel/meshaccel/wasm-waf/engine"
	"github.com/meshaccel/meshaccel/wasm-waf/ruleset"
)

// A long-lived engine remembers what it derived from earlier requests: values' transformations
// and misses, groups' contents, rules that missed them, and the values new since (groups.go).
// Whatever it remembers, it must decide each request as an engine that has seen none.

const sequenceRules = `
SecRule REQUEST_HEADERS:X-Mode "@streq strict" "id:10,phase:1,pass,nolog,ctl:ruleRemoveTargetById=21;ARGS:skip"
SecRule REQUEST_HEADERS:X-Mode "@streq lax" "id:12,phase:1,pass,nolog,ctl:ruleRemoveTargetById=21;ARGS:q"
SecRule ARGS|REQUEST_HEADERS "@rx \d{3}-\d{4}" "id:20,phase:1,pass,log,capture,setvar:tx.phone=+1,msg:'%{MATCHED_VAR_NAME}=%{TX.0}'"
SecRule ARGS|REQUEST_HEADERS|!REQUEST_HEADERS:Referer "@rx (?i)union\s+select" "id:21,phase:1,pass,log,t:none,t:urlDecodeUni,t:lowercase,setvar:tx.sqli=+1,msg:'%{MATCHED_VAR_NAME}'"
SecRule REQUEST_HEADERS:X-Mode "@streq strict" "id:14,phase:1,pass,nolog,ctl:ruleRemoveTargetById=43;ARGS:q"
SecRule ARGS|REQUEST_HEADERS|!REQUEST_HEADERS:Referer "@rx (?i)union\s+select" "id:43,phase:1,pass,log,t:none,t:urlDecodeUni,t:lowercase,msg:'%{MATCHED_VAR_NAME}'"
SecRule ARGS|REQUEST_HEADERS|!REQUEST_HEADERS:Referer "@rx (?i)union\s+select" "id:42,phase:1,pass,log,t:none,t:urlDecodeUni,t:lowercase,msg:'%{MATCHED_VAR_NAME}'"
SecRule ARGS "@pm sqlmap nikto" "id:22,phase:1,pass,log,multiMatch,t:none,t:lowercase,msg:'%{MATCHED_VAR}'"
SecRule ARGS|REQUEST_HEADERS "@detectXSS" "id:23,phase:2,pass,log,t:none,t:urlDecodeUni,t:htmlEntityDecode,msg:'%{MATCHED_VAR_NAME}'"
SecRule ARGS:q "@rx ^([a-z]+)$" "id:24,phase:2,pass,log,capture,chain"
	SecRule TX:1 "@streq abc" "setvar:tx.abc=1"
SecRule REQUEST_HEADERS:X-Mode "@streq off" "id:11,phase:1,pass,nolog,ctl:ruleRemoveById=27"
SecRule REQUEST_URI|ARGS_NAMES|REQUEST_HEADERS_NAMES "@rx (?i)visit=9&|^x-mode$|^skip$" "id:25,phase:1,pass,log,t:none,t:lowercase,multiMatch,msg:'%{MATCHED_VAR}'"
SecRule ARGS_COMBINED_SIZE|REQUEST_HEADERS:X-Mode "@gt 40" "id:26,phase:2,pass,log,msg:'%{MATCHED_VAR_NAME}'"
SecRule ARGS_GET "@rx ^\d+$" "id:27,phase:1,pass,log,t:none,msg:'%{MATCHED_VAR_NAME}'"
SecRule TX:phone "@ge 2" "id:30,phase:2,deny,status:403"
SecRule REQUEST_HEADERS:X-Mode "@streq x" "id:13,phase:1,pass,nolog,ctl:requestBodyProcessor=JSON"
SecRule REQBODY_PROCESSOR "@streq JSON" "id:31,phase:1,pass,log,setvar:tx.json=+1,msg:'json'"
SecRule ARGS:a "!@rx ^(f)" "id:32,phase:1,pass,nolog,capture"
SecRule TX:1 "@streq f" "id:33,phase:1,pass,log,msg:'a negated capture saw %{TX.1}'"
SecRule ARGS:q "@streq %{REQUEST_HEADERS.x-mode}" "id:34,phase:2,pass,log,msg:'q echoes X-Mode'"
SecRule &ARGS:visit "@eq 1" "id:35,phase:2,pass,log,setvar:tx.visits=+1,msg:'one visit'"
SecRule REQUEST_HEADERS_NAMES "@rx ^(.*)$" "id:36,phase:1,pass,nolog,capture,setvar:'tx.hdr_%{tx.1}=%{MATCHED_VAR}'"
SecRule REQUEST_HEADERS:Referer "@streq fine" "id:38,phase:1,pass,nolog,setvar:!tx.hdr_referer"
SecRule TX:/^hdr_/ "@rx ^x-mode$" "id:37,phase:2,pass,log,msg:'%{MATCHED_VAR_NAME}'"
SecRule ARGS:a "@streq fine" "id:39,phase:1,pass,nolog,skip:1"
SecRule REQUEST_HEADERS:Referer "@streq fine" "id:40,phase:1,pass,log,msg:'not skipped'"
SecRule REQUEST_HEADERS:User-Agent "@rx ^M" "id:41,phase:1,pass,log,msg:'%{MATCHED_VAR}'"
SecRule REQUEST_COOKIES|REQUEST_COOKIES_NAMES "@rx (?i)^(sqlmap|fine|x)$" "id:44,phase:1,pass,log,msg:'%{MATCHED_VAR_NAME}'"
SecRule REQUEST_HEADERS:Referer "@streq NIKTO" "id:45,phase:1,deny,status:403"`

var (
	sequenceValues = []string{"fine", "111-22x3333", "123-4567", "UNION+SELECT", "union%20select", "%3Cscript%3Ealert(1)%3C/script%3E",
		"sqlmap", "abc", "x", "", "strict", "555-0100", "Mozilla/5.0", "a1b2=c3d4; sid=sqlmap", "NIKTO", "lax"}
	sequenceArgs    = []string{"q", "skip", "a", "visit"}
	sequenceHeaders = []string{"X-Mode", "Cookie", "Referer", "User-Agent"}
)

// requestSequence turns a script into requests. Each byte edits the request being built, or
// sends it: low two bits 0 sends; 1 sets argument (b>>2)&3 to value b>>4; 2 sets header (b>>2)&3;
// 3 removes argument or header (b>>2)&7.
func requestSequence(script []byte) []req {
	type kv struct{ k, v string }
	var args, headers []kv
	set := func(list []kv, k, v string) []kv {
		for i := range list {
			if list[i].k == k {
				list[i].v = v
				return list
			}
		}
		return append(list, kv{k, v})
	}
	del := func(list []kv, k string) []kv {
		for i := range list {
			if list[i].k == k {
				return append(list[:i:i], list[i+1:]...)
			}
		}
		return list
	}
	var out []req
	send := func() {
		var q []string
		for _, a := range args {
			q = append(q, a.k+"="+a.v)
		}
		r := req{uri: "/p?" + strings.Join(q, "&")}
		for _, h := range headers {
			r.headers = append(r.headers, [2]string{h.k, h.v})
		}
		out = append(out, r)
	}
	for _, b := range script {
		switch b & 3 {
		case 0:
			send()
		case 1:
			args = set(args, sequenceArgs[b>>2&3], sequenceValues[b>>4])
		case 2:
			headers = set(headers, sequenceHeaders[b>>2&3], sequenceValues[b>>4])
		case 3:
			if k := b >> 2 & 7; k < 4 {
				args = del(args, sequenceArgs[k])
			} else {
				headers = del(headers, sequenceHeaders[k-4])
			}
		}
		if len(out) == 64 {
			break
		}
	}
	return append(out, req{}) // and one without any of them
}

func checkSequence(t *testing.T, rs *ruleset.Ruleset, reqs []req) {
	t.Helper()
	long := engine.New(rs)
	for i, r := range reqs {
		got, want := runFull(long, r, "10.0.0.1"), runFull(engine.New(rs), r, "10.0.0.1")
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("request %d (%s %v), after %d others on the same engine:\n got %+v\nwant %+v", i, r.uri, r.headers, i, got, want)
		}
	}
}

func sequenceRuleset(t testing.TB) *ruleset.Ruleset {
	t.Helper()
	rs, err := ruleset.CompileString(ruleset.Options{}, "sequence.conf", "SecRuleEngine On\n"+sequenceRules)
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

// The traffic the memory is for: most values repeat while a request id and a query value are new
// each time; now and then a new value matches, at the start, in the middle or at the end of a
// group, alone or with others, under a ctl exclusion or not.
func TestRequestsWithNewValuesDecideAsANewEngine(t *testing.T) {
	rs := sequenceRuleset(t)
	base := func(id, visit string, extra ...[2]string) req {
		h := append([][2]string{{"User-Agent", "Mozilla/5.0"}, {"X-Request-Id", id}, {"Referer", "fine"}}, extra...)
		return req{uri: "/p?a=fine&visit=" + visit + "&q=x", headers: h}
	}
	reqs := []req{
		base("r1", "1"), base("r2", "2"), base("r3", "3"),
		base("111-2222", "4"),                   // a new header value matches rule 20
		base("r5", "5"), base("r6", "555-0100"), // then a new argument value
		base("r7", "union%20select"),                   // rule 21 on a new value
		base("r8", "8", [2]string{"X-Mode", "strict"}), // rule 21 under a ctl exclusion (a variant)
		base("r9", "9", [2]string{"X-Mode", "strict"}),
		base("UNION SELECT", "10", [2]string{"X-Mode", "strict"}),
		base("r11", "sqlmap"), base("r12", "NIKTO"), base("r13", "13"),
		base("r14", "%3Cscript%3Ealert(1)%3C/script%3E"),
		base("123-4567", "555-0100"), // two new values match rule 20: both are logged, in order
		base("r16", "16"),
		base("r17", "union%20select%20password%20from%20users"), // ARGS_COMBINED_SIZE, a value of all entries, over 40
		base("r18", "18"),
		base("r19", "9"), // REQUEST_URI, a single value, matches rule 25
	}
	checkSequence(t, rs, reqs)
	// A group that no rule read while its sources changed (rule 27, removed by rule 11) is
	// collected anew: its sources' new entries are new since another request than the one it last saw.
	off := [][2]string{{"X-Mode", "off"}}
	checkSequence(t, rs, []req{{uri: "/p?q=x"}, {uri: "/p?q=x&a=7", headers: off}, {uri: "/p?q=x&a=7&b=y"}})
	// Rule 34's operator reads X-Mode: a new X-Mode is a new operator for the unchanged q.
	checkSequence(t, rs, []req{
		{uri: "/p?q=abc", headers: [][2]string{{"X-Mode", "fine"}}},
		{uri: "/p?q=abc", headers: [][2]string{{"X-Mode", "abc"}}},
	})
	// Rule 39 skips the next rule, which is not the next one replay has to look at (rule 41).
	ua := func(v string) [][2]string { return [][2]string{{"User-Agent", v}} }
	checkSequence(t, rs, []req{{uri: "/p?a=fine", headers: ua("Mozilla/5.0")}, {uri: "/p?a=fine", headers: ua("Mozilla/6.0")}})
	// Rules 21, 43 and 42 read the same targets; in strict mode ctl exclusions take ARGS:skip from
	// rule 21 and ARGS:q from rule 43. The new value of skip is new to rules 43 and 42 only.
	strict := [][2]string{{"X-Mode", "strict"}}
	checkSequence(t, rs, []req{{uri: "/p?q=x&skip=x", headers: strict}, {uri: "/p?q=x&skip=union%20select", headers: strict}})
	// Rule 21's variant under one exclusion, then under another in the same place: the second
	// removes something else, so its values are not the first's plus the new argument.
	checkSequence(t, rs, []req{
		{uri: "/p?q=union%20select&skip=x", headers: [][2]string{{"X-Mode", "lax"}}},
		{uri: "/p?q=union%20select&skip=x&visit=1", headers: [][2]string{{"X-Mode", "strict"}}},
	})
}

func FuzzRequestSequencesDecideAsANewEngine(f *testing.F) {
	rs := sequenceRuleset(f)
	f.Add([]byte{0x15, 0x06, 0x00, 0x16, 0x00, 0x26, 0x00, 0x36, 0xb6, 0x00, 0x29, 0x00, 0x39, 0x00, 0x0d, 0x00, 0xa2, 0x00, 0x00})
	f.Add([]byte{0x25, 0x15, 0x35, 0x00, 0x07, 0x00, 0x45, 0x00, 0x55, 0x00, 0x1f, 0x00, 0x1e, 0x00, 0xc5, 0x00, 0x65, 0x00, 0xe5, 0x00})
	f.Fuzz(func(t *testing.T, script []byte) {
		checkSequence(t, rs, requestSequence(script))
	})
}
