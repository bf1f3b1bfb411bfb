package engine

import (
	"testing"

	"github.com/meshaccel/meshaccel/wasm-waf/ruleset"
)

// A byte set derived from the previous step's (transform.Present) is the set of the value
// itself, for every pipeline and value, whether the steps before were derived or scanned.
func TestDerivedPresenceIsTheValuesOwn(t *testing.T) {
	rs := compileRules(t, "p.conf", `SecRule ARGS "@rx x" "id:1,phase:1,t:none,t:lowercase,pass,nolog"
SecRule ARGS "@rx x" "id:2,phase:1,t:none,t:urlDecodeUni,t:compressWhitespace,t:lowercase,pass,nolog"
SecRule ARGS "@rx x" "id:3,phase:1,t:none,t:removeNulls,t:removeWhitespace,t:uppercase,pass,nolog"
SecRule ARGS "@rx x" "id:4,phase:1,t:none,t:replaceNulls,t:compressWhitespace,pass,nolog"`)
	e := New(rs)
	values := []string{"Mozilla/5.0 (X11; Linux x86_64)", "a\tB  c\x00d", "%41%20%20b%00", "ÄÖ\u00a0 X\x00", ""}
	for _, value := range values {
		tx := e.NewTransaction()
		v := val{v: ruleset.VarArgs, key: "a"}
		v.value, v.id, v.stamp = tx.valueID(value)
		for node := int32(len(rs.TransformNodes)) - 1; node >= 0; node-- { // deepest first: derivations recurse
			tv := tx.transformed(&v, node)
			var want ruleset.ByteSet
			for i := 0; i < len(tv); i++ {
				want.Add(tv[i])
			}
			if got := *tx.present(&v, node, tv); got != want {
				t.Errorf("%q under pipeline %d (%q): byte set %x, the value has %x", value, node, tv, got, want)
			}
		}
		tx.Close()
	}
}
