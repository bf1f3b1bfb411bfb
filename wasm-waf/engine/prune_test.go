package engine_test

import (
	"fmt"
	"reflect"
	"slices"
	"testing"

	"github.com/meshaccel/meshaccel/wasm-waf/crs"
	"github.com/meshaccel/meshaccel/wasm-waf/engine"
	"github.com/meshaccel/meshaccel/wasm-waf/ruleset"
)

// pruned returns rs without its unreachable rules, through the artifact as the plugin loads it.
func pruned(t testing.TB, rs *ruleset.Ruleset) *ruleset.Ruleset {
	t.Helper()
	out, err := engine.Prune(rs)
	if err != nil {
		t.Fatal(err)
	}
	return throughArtifact(t, out)
}

func ruleIDs(rs *ruleset.Ruleset) []int {
	var ids []int
	for p := range rs.Phases {
		for _, ri := range rs.Phases[p] {
			ids = append(ids, int(rs.Rules[ri].ID))
		}
	}
	slices.Sort(ids)
	return ids
}

// expectSameAsWhole requires every request to leave the same outcome, TX included, with the
// pruned ruleset as with the whole one.
func expectSameAsWhole(t *testing.T, whole, pruned *ruleset.Ruleset, reqs []req, remoteAddr string) {
	t.Helper()
	w, p := engine.New(whole), engine.New(pruned)
	for _, r := range reqs {
		if got, want := runFull(p, r, remoteAddr), runFull(w, r, remoteAddr); !reflect.DeepEqual(got, want) {
			t.Errorf("%s %s from %s:\n pruned: %+v\n whole:  %+v", r.method, r.uri, remoteAddr, got, want)
		}
	}
}

// A paranoia gate's skip is decided by the configuration; the rules behind it go unless a ctl
// could remove the gate, or its target, without removing them too.
func TestPruneLeavesOutOnlyWhatNoRequestReaches(t *testing.T) {
	const gated = `
SecAction "id:1,phase:1,pass,nolog,setvar:tx.pl=1"
SecRule TX:pl "@lt 2" "id:2,phase:1,pass,nolog,tag:'crs',skipAfter:END-PL2"
SecRule ARGS "@rx evil" "id:3,phase:1,deny,log,tag:'crs'"
SecRule ARGS "@rx worse" "id:4,phase:1,deny,log,tag:'crs',chain"
	SecRule ARGS_NAMES "@rx ^q$" ""
SecMarker END-PL2
SecRule ARGS "@rx bad" "id:5,phase:2,deny,log,tag:'crs'"
SecRule TX:pl "@lt 2" "id:6,phase:2,pass,nolog,tag:'crs',skipAfter:END-PL2-P2"
SecRule REQUEST_HEADERS:X-Probe "@rx probe" "id:7,phase:2,deny,log,tag:'crs'"
SecMarker END-PL2-P2
`
	requests := []req{{uri: "/?q=evil"}, {uri: "/open?q=worse"}, {uri: "/?q=bad"}, {uri: "/open"},
		{uri: "/open?q=evil", headers: [][2]string{{"X-Probe", "probe"}}}, {uri: "/"}}
	for _, c := range []struct {
		name  string
		rules string
		kept  []int
	}{{
		name:  "behind a decided gate",
		rules: gated,
		kept:  []int{1, 2, 5, 6},
	}, {
		name:  "a ctl may remove the gate",
		rules: `SecRule REQUEST_URI "@beginsWith /open" "id:10,phase:1,pass,nolog,ctl:ruleRemoveById=2"` + gated,
		kept:  []int{1, 2, 3, 4, 5, 6, 10},
	}, {
		name:  "a ctl may remove the gate's TX target",
		rules: `SecRule REQUEST_URI "@beginsWith /open" "id:10,phase:1,pass,nolog,ctl:ruleRemoveTargetById=6;TX:pl"` + gated,
		kept:  []int{1, 2, 5, 6, 7, 10},
	}, {
		name:  "a ctl that removes gate and gated rules alike",
		rules: `SecRule REQUEST_URI "@beginsWith /open" "id:10,phase:1,pass,nolog,ctl:ruleRemoveByTag=crs"` + gated,
		kept:  []int{1, 2, 5, 6, 10},
	}, {
		// Rule 11 runs after phase 1's gate, so only the gates after it are evaluated.
		name: "a rule that may change the level opens the gates after it",
		rules: gated + `SecRule ARGS:level "@rx ^\d$" "id:11,phase:1,pass,nolog,setvar:tx.pl=%{MATCHED_VAR}"
SecRule TX:pl "@lt 2" "id:12,phase:2,pass,nolog,skipAfter:END"
SecRule ARGS "@rx late" "id:13,phase:2,deny,log"
SecMarker END`,
		kept: []int{1, 2, 5, 6, 7, 11, 12, 13},
	}} {
		t.Run(c.name, func(t *testing.T) {
			whole := compileWhole(t, "prune.conf", c.rules)
			p := pruned(t, whole)
			if got := ruleIDs(p); !slices.Equal(got, c.kept) {
				t.Errorf("kept rules %v, want %v", got, c.kept)
			}
			if want := len(whole.Rules) - len(p.Rules); p.Unreachable != want {
				t.Errorf("Unreachable = %d, want %d", p.Unreachable, want)
			}
			expectSameAsWhole(t, whole, p, requests, "192.0.2.1")
		})
	}
}

// skip:n counts the rules that remain, and markers keep their place among them.
func TestPruneRenumbersSkipsAndMarkers(t *testing.T) {
	whole := compileWhole(t, "skip.conf", `
SecAction "id:1,phase:1,pass,nolog,setvar:tx.pl=1"
SecRule ARGS:s "@streq 1" "id:2,phase:1,pass,nolog,skip:3"
SecRule TX:pl "@lt 2" "id:3,phase:1,pass,nolog,skipAfter:END-PL2"
SecRule ARGS "@rx x" "id:4,phase:1,deny,log"
SecMarker END-PL2
SecRule ARGS "@rx y" "id:5,phase:1,deny,log"
SecRule ARGS "@rx z" "id:6,phase:1,deny,log"
SecMarker LAST
SecRule ARGS:s "@streq 2" "id:7,phase:1,pass,nolog,skipAfter:LAST"
SecRule ARGS "@rx w" "id:8,phase:1,deny,log"
`)
	p := pruned(t, whole)
	if got, want := ruleIDs(p), []int{1, 2, 3, 5, 6, 7, 8}; !slices.Equal(got, want) {
		t.Fatalf("kept rules %v, want %v", got, want)
	}
	byID := map[int32]*ruleset.Rule{}
	for i := range p.Rules {
		byID[p.Rules[i].ID] = &p.Rules[i]
	}
	// Rule 2 skipped 3, 4 and 5; with 4 gone, it skips 3 and 5.
	if got := byID[2].Skip; got != 2 {
		t.Errorf("rule 2 skip = %d, want 2", got)
	}
	for _, m := range p.Markers {
		at := func(pos int32) int32 { return p.Rules[p.Phases[1][pos]].ID }
		switch m.Name {
		case "END-PL2":
			if got := at(m.Pos[1]); got != 5 {
				t.Errorf("END-PL2 before rule %d, want 5", got)
			}
		case "LAST":
			if got := at(m.Pos[1]); got != 7 {
				t.Errorf("LAST before rule %d, want 7", got)
			}
		}
	}
	var reqs []req
	for _, s := range []string{"0", "1", "2"} {
		for _, v := range []string{"x", "y", "z", "w"} {
			reqs = append(reqs, req{uri: "/?s=" + s + "&v=" + v})
		}
	}
	expectSameAsWhole(t, whole, p, reqs, "192.0.2.1")
}

// Without copies: the whole ruleset still runs as before once a pruned copy exists.
func TestWithoutLeavesTheRulesetAlone(t *testing.T) {
	whole := compileWhole(t, "alone.conf", `
SecAction "id:1,phase:1,pass,nolog,setvar:tx.pl=1"
SecRule TX:pl "@lt 2" "id:2,phase:1,pass,nolog,skipAfter:END"
SecRule ARGS:/^a/ "@rx evil" "id:3,phase:1,deny,log"
SecMarker END
SecRule ARGS:/^b/ "@rx bad" "id:4,phase:1,deny,log"
`)
	before, err := whole.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	pruned(t, whole)
	after, err := whole.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if string(before) != string(after) {
		t.Error("pruning changed the ruleset it was given")
	}
	rs := compileWhole(t, "chain.conf", `SecRule ARGS "@rx a" "id:1,phase:1,deny,chain"
	SecRule ARGS "@rx b" ""`)
	chainMember := make([]bool, len(rs.Rules))
	chainMember[rs.Rules[rs.Phases[1][0]].ChainNext] = true
	if _, err := rs.Without(chainMember); err == nil {
		t.Error("Without dropped a chain member on its own")
	}
}

// On the CRS at every paranoia level, the pruned ruleset decides every request as the whole:
// benign traffic, attacks, bodies, and the localhost exception that removes rules by tag.
func TestPrunedCRSDecidesAsTheWhole(t *testing.T) {
	for pl := 1; pl <= 4; pl++ {
		t.Run(fmt.Sprintf("PL%d", pl), func(t *testing.T) {
			whole, err := crs.Compile(crs.Options{ParanoiaLevel: pl, KeepUnreachable: true})
			if err != nil {
				t.Fatal(err)
			}
			p := pruned(t, whole)
			t.Logf("%d of %d rules and %d of %d regexes remain", len(p.Rules), len(whole.Rules), len(p.Regexes), len(whole.Regexes))
			if pl == 1 && len(p.Rules) > len(whole.Rules)*3/4 {
				t.Errorf("paranoia level 1 keeps %d of %d rules: the upper levels' gates were not decided", len(p.Rules), len(whole.Rules))
			}
			expectSameAsWhole(t, whole, p, crsRequests(), "192.0.2.10")
			expectSameAsWhole(t, whole, p, crsLocalhostRequests(), "127.0.0.1")
		})
	}
}

// FuzzPrunedCRSDecidesAsTheWhole sends arbitrary requests through the CRS at paranoia level 1,
// whole and pruned, from an outside address and from localhost (whose exception removes rules).
func FuzzPrunedCRSDecidesAsTheWhole(f *testing.F) {
	whole, err := crs.Compile(crs.Options{ParanoiaLevel: 1, KeepUnreachable: true})
	if err != nil {
		f.Fatal(err)
	}
	p := pruned(f, whole)
	w, pe := engine.New(whole), engine.New(p)
	for _, r := range append(crsRequests(), crsLocalhostRequests()...) {
		ct := ""
		for _, h := range r.headers {
			if h[0] == "Content-Type" {
				ct = h[1]
			}
		}
		f.Add(r.method, r.uri, ct, r.body, false)
	}
	f.Add("GET", "/", "", "", true)
	f.Fuzz(func(t *testing.T, method, uri, contentType, body string, localhost bool) {
		r := req{method: method, uri: uri, body: body, headers: browserHeadersWith([2]string{"Content-Type", contentType})}
		addr := "192.0.2.10"
		if localhost {
			addr = "127.0.0.1"
		}
		if got, want := runFull(pe, r, addr), runFull(w, r, addr); !reflect.DeepEqual(got, want) {
			t.Errorf("%q %q from %s:\n pruned: %+v\n whole:  %+v", method, uri, addr, got, want)
		}
	})
}
