package engine

import (
	"fmt"
	"hash/maphash"
	"testing"
	"unsafe"

	"github.com/meshaccel/meshaccel/wasm-waf/ruleset"
	"github.com/meshaccel/meshaccel/wasm-waf/transform"
)

// memoRuleset has pipelines that change upper case, escapes, white space and nulls, so that cached
// results differ from the values they were computed for.
func memoRuleset(t testing.TB) *ruleset.Ruleset {
	rs, err := ruleset.CompileString(ruleset.Options{}, "memo.conf", `SecRuleEngine On
SecRule ARGS "@rx x" "id:1,phase:1,t:none,t:lowercase,pass,nolog"
SecRule ARGS "@rx x" "id:2,phase:1,t:none,t:urlDecodeUni,t:compressWhitespace,t:lowercase,pass,nolog"
SecRule ARGS "@rx x" "id:3,phase:1,t:none,t:removeNulls,t:removeWhitespace,t:uppercase,pass,nolog"
SecRule ARGS "@rx x" "id:4,phase:1,t:none,t:htmlEntityDecode,t:replaceNulls,pass,nolog"`)
	if err != nil {
		t.Fatal(err)
	}
	return rs
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

// collidingValues returns n distinct values that take the same slot under tx's seed.
func collidingValues(tx *Transaction, n int) []string {
	var out []string
	target := uint64(1<<64 - 1)
	for i := 0; len(out) < n; i++ {
		s := fmt.Sprintf("V%d%%41 ", i)
		slot := maphash.String(tx.values.seed, s) & (valueSlots - 1)
		if target == 1<<64-1 {
			target = slot
		}
		if slot == target {
			out = append(out, s)
		}
	}
	return out
}

// Values of one transaction that collide keep their own results: the slot is not taken from a
// value the transaction still holds, and the next transaction's values evict the old ones.
func TestCollidingValuesKeepTheirOwnResults(t *testing.T) {
	e := New(memoRuleset(t))
	tx := e.NewTransaction()
	values := collidingValues(tx, 4)
	vals := make([]val, len(values))
	for i, s := range values {
		vals[i] = argVal(tx, s)
	}
	if vals[0].id >= valueSlots {
		t.Fatalf("the first value of a slot got a transaction id (%d)", vals[0].id)
	}
	for i := 1; i < len(vals); i++ {
		if vals[i].id < valueSlots || vals[i].stamp != tx.txStamp {
			t.Fatalf("value %d took the held slot (id %d)", i, vals[i].id)
		}
	}
	for i := range vals {
		checkValue(t, tx, &vals[i])
	}
	tx.Close()

	tx = e.NewTransaction()
	evicting := argVal(tx, values[1])
	if evicting.id != vals[0].id || evicting.stamp == vals[0].stamp {
		t.Fatalf("a new transaction's value did not take the free slot with a new stamp: id %d stamp %d", evicting.id, evicting.stamp)
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
