package engine

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"unsafe"

	"github.com/meshaccel/meshaccel/wasm-waf/ruleset"
	"github.com/meshaccel/meshaccel/wasm-waf/transform"
)

// compileRules compiles a ruleset of rules (with the engine on), named name in errors.
func compileRules(t testing.TB, name, rules string) *ruleset.Ruleset {
	t.Helper()
	rs, err := ruleset.CompileString(ruleset.Options{}, name, "SecRuleEngine On\n"+rules)
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

// withoutReplay makes e evaluate the rules that replay (replay.go) would settle: the tests of what
// lies beneath it, group epochs and their reads, send the same request again.
func withoutReplay(e *Engine) *Engine {
	for i := range e.replay.always {
		e.replay.always[i] = true
	}
	e.replay.planVisits(e.rs, e.folds)
	return e
}

// memoRuleset has pipelines that change upper case, escapes, white space and nulls, so that cached
// results differ from the values they were computed for.
func memoRuleset(t testing.TB) *ruleset.Ruleset {
	return compileRules(t, "memo.conf", `SecRule ARGS "@rx x" "id:1,phase:1,t:none,t:lowercase,pass,nolog"
SecRule ARGS "@rx x" "id:2,phase:1,t:none,t:urlDecodeUni,t:compressWhitespace,t:lowercase,pass,nolog"
SecRule ARGS "@rx x" "id:3,phase:1,t:none,t:removeNulls,t:removeWhitespace,t:uppercase,pass,nolog"
SecRule ARGS "@rx x" "id:4,phase:1,t:none,t:htmlEntityDecode,t:replaceNulls,pass,nolog"`)
}

// uncached runs the pipeline ending at node on value step by step, as the rules define it.
func uncached(e *Engine, node int32, value string) string {
	var scratch []byte
	for _, n := range e.nodePath[node] {
		value = transform.Apply(e.rs.TransformNodes[n].T, value, &scratch)
	}
	return value
}

func presentBytes(s string) ruleset.ByteSet {
	var set ruleset.ByteSet
	for i := 0; i < len(s); i++ {
		set.Add(s[i])
	}
	return set
}

// checkValue asks tx for every cached form of v and compares it with the uncached result.
func checkValue(t testing.TB, tx *Transaction, v *val) {
	t.Helper()
	for node := int32(len(tx.e.rs.TransformNodes)) - 1; node >= 0; node-- {
		want := uncached(tx.e, node, v.value)
		tv := tx.transformed(v, node)
		if tv != want {
			t.Fatalf("%q (id %d) under pipeline %d: %q, want %q", v.value, v.id, node, tv, want)
		}
		if got := *tx.present(v, node, tv); got != presentBytes(want) {
			t.Fatalf("%q (id %d) under pipeline %d: byte set %x, want %x", v.value, v.id, node, got, presentBytes(want))
		}
		if got, want := tx.folded(v, node, tv), string(ruleset.FoldString(nil, want)); got != want {
			t.Fatalf("%q (id %d) under pipeline %d: folded %q, want %q", v.value, v.id, node, got, want)
		}
	}
	// Ids are not handed out in order: a cache must hold whole rows, or an id's last pipelines
	// fall outside it while its first ones are in range.
	for name, n := range map[string]int{"transformations": len(tx.cache), "folded": len(tx.fcache), "byte sets": len(tx.pcache)} {
		if n%int(tx.nodes) != 0 {
			t.Fatalf("the %s cache holds %d entries, not whole rows of %d", name, n, tx.nodes)
		}
	}
}

func argVal(tx *Transaction, value string) val {
	v := val{v: ruleset.VarArgs, key: "a"}
	v.value, v.id, v.stamp = tx.valueID(value)
	return v
}

// A value that an earlier transaction cached keeps its results: the next transaction with the same
// value finds them without transforming it again.
func TestValueSlotsKeepResultsAcrossTransactions(t *testing.T) {
	e := New(memoRuleset(t))
	tx := e.NewTransaction()
	first := argVal(tx, "A%20B  C")
	checkValue(t, tx, &first)
	tx.Close()

	tx2 := e.NewTransaction()
	if tx2 != tx {
		t.Fatal("the engine did not reuse the transaction from its free list")
	}
	second := argVal(tx2, string([]byte("A%20B  C"))) // equal bytes, another string
	if second.id != first.id || second.stamp != first.stamp {
		t.Fatalf("the same value took id %d stamp %d, then id %d stamp %d", first.id, first.stamp, second.id, second.stamp)
	}
	deepest := int32(len(e.rs.TransformNodes)) - 1
	if s := tx2.cache[second.id*tx2.nodes+deepest]; s.gen != second.stamp {
		t.Fatal("the second transaction does not find the first one's transformation")
	}
	checkValue(t, tx2, &second)

	other := argVal(tx2, "A%20B  D")
	if other.id == second.id && other.stamp == second.stamp {
		t.Fatal("a different value shares the cache entries of another")
	}
	checkValue(t, tx2, &other)
	tx2.Close()
}

// collidingValues returns n distinct values that fall into the same bucket under tx's seed, one
// in which tx holds no slot yet.
func collidingValues(tx *Transaction, n int) []string {
	var out []string
	target := uint64(1<<64 - 1)
	for i := 0; len(out) < n; i++ {
		s := fmt.Sprintf("V%d%%41 ", i)
		bucket := contentHash(s) & (valueSlots/valueWays - 1)
		if target == 1<<64-1 && !holdsSlotIn(tx, bucket) {
			target = bucket
		}
		if bucket == target {
			out = append(out, s)
		}
	}
	return out
}

func holdsSlotIn(tx *Transaction, bucket uint64) bool {
	for i := int(bucket) * valueWays; i < int(bucket+1)*valueWays; i++ {
		if tx.values.slots[i].usedBy == tx.gen {
			return true
		}
	}
	return false
}

// Values of one transaction that fill a bucket keep their own results: no slot is taken from a
// value the transaction still holds, and the next transaction's values evict the least recently
// used ones.
func TestCollidingValuesKeepTheirOwnResults(t *testing.T) {
	e := New(memoRuleset(t))
	tx := e.NewTransaction()
	values := collidingValues(tx, valueWays+1)
	vals := make([]val, len(values))
	for i, s := range values {
		vals[i] = argVal(tx, s)
	}
	for i := range valueWays {
		if vals[i].id >= valueSlots {
			t.Fatalf("value %d of a bucket got a transaction id (%d)", i, vals[i].id)
		}
	}
	if last := vals[valueWays]; last.id < valueSlots || last.stamp != tx.txStamp {
		t.Fatalf("the value past a full bucket took a held slot (id %d)", last.id)
	}
	for i := range vals {
		checkValue(t, tx, &vals[i])
	}
	tx.Close()

	tx = e.NewTransaction()
	keep := argVal(tx, values[1]) // used again: the least recently used slot is values[0]'s
	evicting := argVal(tx, values[valueWays])
	if keep.id != vals[1].id || keep.stamp != vals[1].stamp {
		t.Fatalf("a value seen before lost its slot: id %d stamp %d, was %d %d", keep.id, keep.stamp, vals[1].id, vals[1].stamp)
	}
	if evicting.id != vals[0].id || evicting.stamp == vals[0].stamp {
		t.Fatalf("a new value did not take the least recently used slot (id %d) with a new stamp: id %d stamp %d", vals[0].id, evicting.id, evicting.stamp)
	}
	checkValue(t, tx, &evicting)
	back := argVal(tx, values[0])
	checkValue(t, tx, &back)
	tx.Close()
}

// Request strings may be views of buffers that the next request overwrites: what a slot keeps,
// and what is cached for it, must not change with them.
func TestValueSlotsCopyReusedBuffers(t *testing.T) {
	e := New(memoRuleset(t))
	buf := []byte("Hello%20World")
	tx := e.NewTransaction()
	v := argVal(tx, unsafe.String(&buf[0], len(buf)))
	checkValue(t, tx, &v)
	tx.Close()

	copy(buf, "HELLO%21WORLD")
	tx = e.NewTransaction()
	again := argVal(tx, "Hello%20World")
	if again.stamp != v.stamp {
		t.Fatal("the value was not found again after its buffer changed")
	}
	checkValue(t, tx, &again)
	changed := argVal(tx, unsafe.String(&buf[0], len(buf)))
	checkValue(t, tx, &changed)
	tx.Close()
}

// Long values are not kept: they take transaction ids.
func TestLongValuesAreNotKept(t *testing.T) {
	e := New(memoRuleset(t))
	tx := e.NewTransaction()
	long := make([]byte, valueSlotMaxLen+1)
	for i := range long {
		long[i] = 'A' + byte(i%26)
	}
	v := argVal(tx, string(long))
	if v.id < valueSlots || v.stamp != tx.txStamp {
		t.Fatalf("a %d-byte value took slot %d", len(long), v.id)
	}
	checkValue(t, tx, &v)
	tx.Close()
}

// Whatever values follow each other, in however many transactions, every cached form is the
// value's own.
func FuzzValueSlots(f *testing.F) {
	f.Add([]byte("A%20B\x00C|a%20b|A%20B\x00C||  x  |&lt;X&gt;"), uint8(3))
	f.Add([]byte("x|y|x|y|x"), uint8(1))
	rs := memoRuleset(f)
	f.Fuzz(func(t *testing.T, data []byte, perTx uint8) {
		e := New(rs)
		n := int(perTx%8) + 1
		var values []string
		start := 0
		for i := 0; i <= len(data); i++ {
			if i == len(data) || data[i] == '|' {
				values = append(values, string(data[start:i]))
				start = i + 1
			}
		}
		for len(values) > 0 {
			tx := e.NewTransaction()
			for i := 0; i < n && len(values) > 0; i++ {
				v := argVal(tx, values[0])
				checkValue(t, tx, &v)
				values = values[1:]
			}
			tx.Close()
		}
	})
}

// A group keeps its epoch while its contents stay, and takes a new one as soon as any value, or
// their order, changes; rules then decide from the new contents.
func TestGroupEpochsFollowContents(t *testing.T) {
	rs := compileRules(t, "epoch.conf", `SecRule ARGS|REQUEST_BODY|REMOTE_ADDR "@rx (?i)union\s+select" "id:1,phase:1,t:none,t:urlDecodeUni,deny,status:403"`)
	// REQUEST_BODY and REMOTE_ADDR are unset in these requests: their contents are constant.
	requests := []struct {
		uri     string
		blocked bool
		same    string // an earlier request whose group contents are the same, so is the epoch
	}{
		{"/?a=1&b=2", false, ""},
		{"/?a=1&b=2", false, "/?a=1&b=2"},
		{"/?a=1&b=union%20select", true, ""},
		{"/?a=1&b=2", false, ""},
		{"/?b=2&a=1", false, ""},
		{"/?a=1&b=UNION+SELECT", true, ""},
		{"/?a=1&b=2", false, ""},
	}
	e := withoutReplay(New(rs))
	g := e.groups.groupOf[0]
	epochs := map[string]uint32{}
	for i, c := range requests {
		tx := e.NewTransaction()
		it := tx.ProcessRequestHeaders("GET", c.uri, "HTTP/1.1", nil)
		epoch := tx.groupEpoch[g]
		tx.Close()
		if (it != nil) != c.blocked {
			t.Fatalf("request %d %s: interruption %v, want blocked %v", i, c.uri, it, c.blocked)
		}
		checkEpoch(t, epochs, i, c.uri, c.same, epoch)
	}
}

// A group whose sources hold what they held is not even collected: another header changes
// nothing for a rule over ARGS. A change in the arguments is seen at once: from the new values
// alone while the rule had missed the rest (derived), by collecting the group otherwise.
func TestGroupsOfUnchangedSourcesAreNotCollected(t *testing.T) {
	rs := compileRules(t, "sources.conf", `SecRule ARGS|REQUEST_FILENAME "@rx (?i)union\s+select" "id:1,phase:1,t:none,t:urlDecodeUni,deny,status:403"`)
	checkReads(t, rs, []readCase{
		{"/a?q=1", "x", false, "collected"},
		{"/a?q=1", "y", false, "unchanged"},
		{"/a?q=union+select", "y", true, "derived"},
		{"/a?q=union+select", "z", true, "collected"}, // it matched last time: the group's values were collected for it
		{"/a?q=1", "z", false, "collected"},
		{"/a?q=1", "w", false, "unchanged"},
		{"/b?q=1", "w", false, "derived"},
		{"/union%20select?q=1", "w", true, "derived"},
	})
}

// readCase is a request (with an X-Id header unless empty), whether it is blocked, and how the
// group of rule 1 is found current for it (howRead).
type readCase struct {
	uri, header string
	blocked     bool
	read        string
}

func checkReads(t *testing.T, rs *ruleset.Ruleset, requests []readCase) {
	t.Helper()
	e := withoutReplay(New(rs))
	g := e.groups.groupOf[0]
	for i, c := range requests {
		var headers [][2]string
		if c.header != "" {
			headers = [][2]string{{"X-Id", c.header}}
		}
		tx := e.NewTransaction()
		it := tx.ProcessRequestHeaders("GET", c.uri, "HTTP/1.1", headers)
		read, epoch := howRead(tx, g), tx.groupEpoch[g]
		tx.Close()
		if (it != nil) != c.blocked {
			t.Fatalf("request %d %s (X-Id %q): interruption %v, want blocked %v", i, c.uri, c.header, it, c.blocked)
		}
		if epoch == 0 {
			t.Fatalf("request %d %s: no epoch (a value without a slot)", i, c.uri)
		}
		if read != c.read {
			t.Fatalf("request %d %s (X-Id %q): group %s, want %s", i, c.uri, c.header, read, c.read)
		}
	}
}

// howRead tells how transaction tx found ruleset group g current: collected, derived from its
// sources' new entries, or unchanged.
func howRead(tx *Transaction, g int32) string {
	switch {
	case tx.groupGen[g] == tx.dataGen:
		return "collected"
	case tx.newVals[g].gen == tx.dataGen && tx.groupSameGen[g] == tx.dataGen:
		return "derived"
	}
	return "unchanged"
}

// A rule that no summary decides (a negated operator) and that missed a group's contents skips
// them without collecting the group while its sources stay the same.
func TestRulesSkipTheContentsTheyMissed(t *testing.T) {
	rs := compileRules(t, "missed.conf", `SecRule ARGS "!@rx ^\w+$" "id:1,phase:1,t:none,deny,status:403"`)
	checkReads(t, rs, []readCase{
		{"/?q=abc", "", false, "collected"},
		{"/?q=abc", "", false, "unchanged"},
		{"/?q=a%20b", "", true, "derived"},
		{"/?q=abc", "", false, "collected"},
		{"/?q=abc", "", false, "unchanged"},
	})
}

// Variants (a ctl exclusion in force) are made anew by each transaction, and rules decide again
// whenever one takes a new epoch.
func TestVariantsWithTheSameContentsShareEpochs(t *testing.T) {
	rs := compileRules(t, "variants.conf", `SecAction "id:10,phase:1,pass,nolog,ctl:ruleRemoveTargetById=1;ARGS:skip"
SecRule ARGS "@rx (?i)union\s+select" "id:1,phase:1,t:none,t:urlDecodeUni,deny,status:403"`)
	// Requests that change more than a few arguments (maxNewValues) have their variant collected,
	// and it takes the epoch of a recent one with the same contents; one whose sources are as for
	// the variant's last epoch keeps it; one with a few new arguments takes a new epoch from them
	// (deriveVariant), whatever the contents.
	const a, b = "/?q=1&a=1&b=1&c=1&d=1&skip=union+select", "/?q=union+select&a=2&b=2&c=2&d=2&skip=1"
	requests := []struct {
		uri     string
		blocked bool
		same    string
	}{
		{a, false, ""},
		{a, false, a},
		{b, true, ""},
		{a, false, a},
		{"/?q=1&a=1&b=1&c=1&d=1&skip=2", false, ""}, // derived: the contents are a's (skip is excluded), which only collecting would tell
		{"/?q=UNION%20SELECT&a=1&b=1&c=1&d=1&skip=2", true, ""},
	}
	e := withoutReplay(New(rs))
	epochs := map[string]uint32{}
	for i, c := range requests {
		tx := e.NewTransaction()
		it := tx.ProcessRequestHeaders("GET", c.uri, "HTTP/1.1", nil)
		if len(tx.variants) != 1 {
			t.Fatalf("request %d %s: %d variants, want 1", i, c.uri, len(tx.variants))
		}
		epoch := tx.variants[0].epoch
		tx.Close()
		if (it != nil) != c.blocked {
			t.Fatalf("request %d %s: interruption %v, want blocked %v", i, c.uri, it, c.blocked)
		}
		checkEpoch(t, epochs, i, c.uri, c.same, epoch)
	}
}

// checkEpoch checks the epoch of request i (uri): it has one; it is that of request same when
// same is set (the same contents), and no earlier request's otherwise. epochs maps the requests
// seen so far to their epochs.
func checkEpoch(t *testing.T, epochs map[string]uint32, i int, uri, same string, epoch uint32) {
	t.Helper()
	if epoch == 0 {
		t.Fatalf("request %d %s: no epoch (a value without a slot)", i, uri)
	}
	if same != "" && epochs[same] != epoch {
		t.Fatalf("request %d %s: epoch %d, want %d as for %s, which had the same contents", i, uri, epoch, epochs[same], same)
	}
	if same == "" {
		for other, e := range epochs {
			if e == epoch {
				t.Fatalf("request %d %s: epoch %d is also that of %s", i, uri, epoch, other)
			}
		}
	}
	epochs[uri] = epoch
}

// The values of an ordinary request spread over the buckets: each takes a slot, so that the next
// request with the same values finds them (a product's low bits alone put six of these in one
// bucket of four).
func TestValuesOfARequestTakeSlots(t *testing.T) {
	e := New(memoRuleset(t))
	tx := e.NewTransaction()
	defer tx.Close()
	values := []string{"shop.example.com", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36",
		"text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", "en-US,en;q=0.9", "gzip, deflate, br",
		"session=3f2a9c1e7b6d4a5f8e0c; theme=dark", "application/x-www-form-urlencoded", "96", "Host", "User-Agent", "Accept",
		"Accept-Language", "Accept-Encoding", "Cookie", "Content-Type", "Content-Length", "session", "3f2a9c1e7b6d4a5f8e0c",
		"theme", "dark", "name", "Jane Doe", "email", "jane.doe@example.com", "city", "Berlin", "zip", "10115", "newsletter",
		"on", "about", "Hiking and tea", "POST", "HTTP/1.1", "/account/profile", "profile"}
	for _, s := range values {
		if _, id, _ := tx.valueID(s); id >= valueSlots {
			t.Errorf("%q took no slot", s)
		}
	}
}

// sameContent is string equality: for every length around its word size, and a difference in
// any byte, the first and last words included.
func TestSameContentIsEquality(t *testing.T) {
	for n := 0; n <= 40; n++ {
		a := strings.Repeat("x", n)
		b := strings.Clone(a)
		if !sameContent(a, b) {
			t.Fatalf("len %d: equal strings differ", n)
		}
		for i := 0; i < n; i++ {
			c := a[:i] + "y" + a[i+1:]
			if sameContent(a, c) || sameContent(c, a) {
				t.Fatalf("len %d: a difference at byte %d is not seen", n, i)
			}
		}
		if sameContent(a, a+"x") {
			t.Fatalf("len %d: a longer string is the same", n)
		}
	}
}

func FuzzSameContentIsEquality(f *testing.F) {
	f.Add("Mozilla/5.0 (X11; Linux x86_64)", "Mozilla/5.0 (X11; Linux x86_65)")
	f.Fuzz(func(t *testing.T, a, b string) {
		if got := sameContent(a, b); got != (a == b) {
			t.Fatalf("sameContent(%q, %q) = %v", a, b, got)
		}
		if !sameContent(a, strings.Clone(a)) {
			t.Fatalf("%q differs from its copy", a)
		}
	})
}

// FuzzEntriesTakeTheSlotsValueIDWould checks add's shortcut (the previous transaction's entry at
// the same position, confirmed by its slot) against valueID: every member ends with the id and
// stamp that valueID gives its key and value, and with its key lower-cased, whatever the earlier
// transactions held at that position and whatever they evicted. Each input byte is one member
// (its key and value drawn from a few hundred contents, so slots are evicted and refilled); 0xff
// ends a transaction.
func FuzzEntriesTakeTheSlotsValueIDWould(f *testing.F) {
	f.Add([]byte{1, 2, 3, 0xff, 1, 2, 3, 0xff, 1, 9, 3, 0xff, 3, 2, 1})
	f.Add(append(bytes.Repeat([]byte{0x10, 0x20, 0x30, 0xff}, 3), bytes.Repeat([]byte{0x80}, 300)...))
	e := New(memoRuleset(f))
	content := func(b byte, salt int) string {
		if b%61 == 60 {
			return strings.Repeat("L", valueSlotMaxLen+int(b)) // no slot: an id of the transaction's own
		}
		return fmt.Sprintf("Key-%d-%c", (int(b)*7+salt)%211, 'a'+b%3)
	}
	f.Fuzz(func(t *testing.T, members []byte) {
		tx := e.NewTransaction()
		defer func() { tx.Close() }()
		for i, b := range members {
			if b == 0xff {
				tx.Close()
				tx = e.NewTransaction()
				continue
			}
			key, value := content(b, 0), content(b+byte(i%2), 5)
			tx.headers = tx.add(tx.headers, key, value)
			m := tx.headers[len(tx.headers)-1]
			if m.key != key || m.value != value || m.lkey != strings.ToLower(key) {
				t.Fatalf("member %d: %q=%q (lower %q), want %q=%q", i, m.key, m.value, m.lkey, key, value)
			}
			for _, c := range []struct {
				s     string
				id    int32
				stamp uint32
			}{{key, m.keyID, m.keyStamp}, {value, m.id, m.stamp}} {
				_, id, stamp := tx.valueID(c.s)
				if c.id < valueSlots && (id != c.id || stamp != c.stamp) || c.id >= valueSlots && id < valueSlots {
					t.Fatalf("member %d: %.20q has id %d stamp %d, valueID gives %d %d", i, c.s, c.id, c.stamp, id, stamp)
				}
			}
		}
	})
}

// TestAddShortcutNeedsTheSlotsStamp: a member's slot that was emptied and took the same content
// again holds it under a new stamp; the previous transaction's entry at that position, with the
// old stamp, must not be taken for it.
func TestAddShortcutNeedsTheSlotsStamp(t *testing.T) {
	e := New(memoRuleset(t))
	// Five contents of one bucket: the fifth evicts the first.
	var same []string
	want := contentHash("x0") & (valueSlots/valueWays - 1)
	for i := 0; len(same) < valueWays+1; i++ {
		if s := fmt.Sprintf("x%d", i); contentHash(s)&(valueSlots/valueWays-1) == want {
			same = append(same, s)
		}
	}
	x := same[0]
	tx := e.NewTransaction()
	tx.headers = tx.add(tx.headers, "h", x)
	old := tx.headers[0]
	tx.Close()

	tx = e.NewTransaction() // fills the bucket from another list: x loses its slot
	for _, s := range same[1:] {
		tx.argsGet = tx.add(tx.argsGet, "a", s)
	}
	tx.Close()

	tx = e.NewTransaction()
	tx.argsGet = tx.add(tx.argsGet, "a", x) // x again, in the slot it had
	again := tx.argsGet[0]
	if again.id != old.id || again.stamp == old.stamp {
		t.Fatalf("x took slot %d stamp %d, before slot %d stamp %d: the test no longer sets up its case", again.id, again.stamp, old.id, old.stamp)
	}
	tx.headers = tx.add(tx.headers, "h", x)
	if got := tx.headers[0]; got.id != again.id || got.stamp != again.stamp {
		t.Fatalf("header x has slot %d stamp %d, want %d %d (the slot's now)", got.id, got.stamp, again.id, again.stamp)
	}
	tx.Close()
}

// checkEntriesNameTheirSlots fails unless every member of tx's lists with a slot id names the
// slot's content and stamp, as valueID made it.
func checkEntriesNameTheirSlots(t *testing.T, tx *Transaction, step string) {
	t.Helper()
	for name, list := range map[string][]entry{"args": tx.argsGet, "headers": tx.headers, "cookies": tx.cookies} {
		for i, m := range list {
			for _, c := range []struct {
				s     string
				id    int32
				stamp uint32
			}{{m.key, m.keyID, m.keyStamp}, {m.value, m.id, m.stamp}} {
				if uint32(c.id) >= valueSlots {
					continue
				}
				if slot := &tx.values.slots[c.id]; slot.stamp != c.stamp || slot.content != c.s || slot.usedBy != tx.gen {
					t.Fatalf("%s: %s member %d %q names slot %d stamp %d, which holds %q stamp %d (used by %d, now %d)",
						step, name, i, c.s, c.id, c.stamp, slot.content, slot.stamp, slot.usedBy, tx.gen)
				}
			}
		}
	}
}

// TestListsParsedAgainNameTheirSlots: a query string and a Cookie header the previous request
// had give their entries again, but only those whose slots still hold their contents; here an
// argument's and a cookie's value lost their slot in between.
func TestListsParsedAgainNameTheirSlots(t *testing.T) {
	e := New(memoRuleset(t))
	bucket := func(s string) uint64 { return contentHash(s) & (valueSlots/valueWays - 1) }
	var mates []string // evict "v": valueWays contents of its bucket
	for i := 0; len(mates) < valueWays; i++ {
		if s := fmt.Sprintf("m%d", i); bucket(s) == bucket("v") {
			mates = append(mates, s)
		}
	}
	repeated := [][2]string{{"cookie", "a=v; b=2"}, {"user-agent", "test"}}
	crowd := [][2]string{{"user-agent", "test"}}
	for i, m := range mates {
		crowd = append(crowd, [2]string{fmt.Sprintf("x-%d", i), m})
	}
	steps := []struct {
		name, uri string
		headers   [][2]string
	}{
		{"first", "/p?k=v&e=&n=1", repeated},
		{"the same", "/p?k=v&e=&n=1", repeated},
		{"another query", "/p?k=w", repeated},
		{"the first again", "/p?k=v&e=&n=1", repeated}, // the array holds k=w's entries
		{"no query, v evicted", "/p", crowd},
		{"the first after eviction", "/p?k=v&e=&n=1", repeated},
		{"and again", "/p?k=v&e=&n=1", repeated},
	}
	for _, s := range steps {
		tx := e.NewTransaction()
		tx.ProcessRequestHeaders("GET", s.uri, "HTTP/1.1", s.headers)
		checkEntriesNameTheirSlots(t, tx, s.name)
		var args, cookies []string
		for _, m := range tx.argsGet {
			args = append(args, m.key+"="+m.value)
		}
		for _, m := range tx.cookies {
			cookies = append(cookies, m.key+"="+m.value)
		}
		wantArgs := strings.Split(strings.TrimPrefix(s.uri, "/p?"), "&")
		if s.uri == "/p" {
			wantArgs = nil
		}
		if fmt.Sprint(args) != fmt.Sprint(wantArgs) || len(s.headers) == 2 && fmt.Sprint(cookies) != "[a=v b=2]" {
			t.Fatalf("%s: arguments %q, cookies %q", s.name, args, cookies)
		}
		tx.Close()
	}
}
