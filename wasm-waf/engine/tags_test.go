package engine

import (
	"slices"
	"testing"
)

// A ctl exclusion by tag covers exactly the rules that carry the tag, found by index.
func TestRulesTaggedByIndex(t *testing.T) {
	rs := compileRules(t, "tags.conf", `SecRule ARGS "@rx a" "id:1,phase:1,pass,nolog,tag:attack-xss,tag:paranoia-level/1"
SecRule ARGS "@rx b" "id:2,phase:1,pass,nolog,tag:attack-sqli,chain"
SecRule ARGS "@rx c" "tag:attack-xss"
SecRule ARGS "@rx d" "id:3,phase:1,pass,nolog,tag:attack-xssx,tag:attack-xss"`)
	e := New(rs)
	for i := range rs.Rules {
		if got := e.ruleIndex(&rs.Rules[i]); got != i {
			t.Fatalf("ruleIndex of rule %d is %d", i, got)
		}
	}
	tx := e.NewTransaction()
	defer tx.Close()
	te := targetExclusion{tag: "attack-xss", tagged: e.rulesTagged("attack-xss")}
	for i := range rs.Rules {
		r := &rs.Rules[i]
		if got, want := tx.appliesTo(&te, r), slices.Contains(r.Tags, "attack-xss"); got != want {
			t.Errorf("rule %d (id %d, tags %v): covered %v, want %v", i, r.ID, r.Tags, got, want)
		}
	}
	if &e.rulesTagged("attack-xss")[0] != &te.tagged[0] {
		t.Error("the set of a tag is made again on each use")
	}
}
