package engine

import (
	"strings"
	"testing"

	"github.com/meshaccel/meshaccel/wasm-waf/ruleset"
)

// TestUniqueIDIsMadeOnlyWhenRead: a ruleset that reads UNIQUE_ID sees a new one on every request;
// one that does not never makes it.
func TestUniqueIDIsMadeOnlyWhenRead(t *testing.T) {
	for _, c := range []struct {
		rules string
		reads bool
	}{
		{`SecRule UNIQUE_ID "@rx ^\d+$" "id:1,phase:1,pass,log,msg:'id'"`, true},
		{`SecRule REQUEST_URI "@rx ^/" "id:1,phase:1,pass,log,msg:'%{UNIQUE_ID}'"`, true},
		{`SecRule REQUEST_URI "@rx ^/" "id:1,phase:1,pass,nolog,setvar:'tx.id=%{UNIQUE_ID}'"`, true},
		{`SecRule REQUEST_URI "@rx ^/" "id:1,phase:1,pass,log,msg:'%{REQUEST_URI}'"`, false},
	} {
		rs, err := ruleset.CompileString(ruleset.Options{}, "u.conf", "SecRuleEngine On\n"+c.rules)
		if err != nil {
			t.Fatal(err)
		}
		e := New(rs)
		seen := map[string]bool{}
		for range 3 {
			tx := e.NewTransaction()
			tx.ProcessRequestHeaders("GET", "/", "HTTP/1.1", nil)
			if !c.reads || strings.Contains(c.rules, ",log,") {
				if got := tx.MatchedRules(); len(got) != 1 {
					t.Fatalf("%s: matched %v, want rule 1", c.rules, got)
				}
			}
			if tx.hasSingle[ruleset.VarUniqueID] != c.reads {
				t.Fatalf("%s: UNIQUE_ID set: %v, want %v", c.rules, !c.reads, c.reads)
			}
			if c.reads {
				seen[uniqueIDOf(tx)] = true
			}
			tx.Close()
		}
		if c.reads && len(seen) != 3 {
			t.Errorf("%s: %d distinct UNIQUE_IDs in 3 requests", c.rules, len(seen))
		}
	}
}

// uniqueIDOf reads UNIQUE_ID as a rule does.
func uniqueIDOf(tx *Transaction) string {
	t := ruleset.Target{Var: ruleset.VarUniqueID, KeyRegex: -1, TXSlot: -1}
	vals := tx.collect(nil, &t, nil, nil)
	if len(vals) != 1 {
		return ""
	}
	return vals[0].value
}
