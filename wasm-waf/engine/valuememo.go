package engine

import (
	"strings"
	"unsafe"

	"github.com/meshaccel/meshaccel/wasm-waf/ruleset"
)

// A value's transformations, byte sets and case-folded forms are functions of its bytes alone,
// and production traffic repeats most of its values from request to request: header names and
// values (User-Agent, Accept-*, Host), paths, cookie names, argument names. A transaction object
// (reused from the engine's free list) therefore addresses the short values it caches by content:
// a value seen by an earlier transaction takes the same cache id, and every result cached for it
// then is still valid. Other values (long ones, ones that collide with a value the transaction
// already holds) take an id of their own, valid for the transaction only, as before.
//
// Every cache entry carries the stamp of the value it was computed for; a value's stamp is
// unique to its content for as long as it holds its slot, so an entry of content that has since
// been evicted never matches. The memory is fixed: valueSlots copies of at most valueSlotMaxLen
// bytes, plus their cache entries.

const (
	valueSlots      = 256 // power of two
	valueWays       = 4   // slots per bucket
	valueSlotMaxLen = 512
	// stampLimit bounds the stamps handed out before every cache is cleared (checked between
	// transactions, so a transaction never sees the counter wrap).
	stampLimit = 1 << 31
)

type valueSlot struct {
	content string // a copy: request strings may live in buffers the next request reuses
	stamp   uint32 // 0: empty
	usedBy  uint32 // tx.gen of the last transaction holding it: not evicted while held
}

type valueMemo struct {
	slots [valueSlots]valueSlot
}

// unsetStamp names the value of a single-valued variable that the request did not set: always
// the same ("" or "0"), and never a stamp that nextStamp hands out. It has no cache entries (id
// -1); groups.go compares contents by stamp.
func unsetStamp(v ruleset.Var) uint32 { return stampLimit + uint32(v) }

// contentHash picks a value's bucket from its length and at most 24 of its bytes (the first,
// middle and last eight): a Wasm interpreter pays for every byte hashed and for every call, and a
// collision only costs a comparison (or a slot). Values made to collide merely do without a slot.
func contentHash(s string) uint64 {
	const mul = 0x9e3779b97f4a7c15
	n := len(s)
	h := uint64(n) * mul
	if n < 8 {
		for i := 0; i < n; i++ {
			h = (h ^ uint64(s[i])) * mul
		}
	} else {
		p := unsafe.Pointer(unsafe.StringData(s))
		h = (h ^ *(*uint64)(p)) * mul
		h = (h ^ *(*uint64)(unsafe.Add(p, n/2-4))) * mul
		h = (h ^ *(*uint64)(unsafe.Add(p, n-8))) * mul
	}
	// A product's low bits depend only on its factors' low bits: mix the high ones down before
	// the bucket is taken from the low bits.
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	return h ^ h>>33
}

// sameContent reports whether a and b hold the same bytes. Go compiles string comparison to a
// byte-at-a-time loop on Wasm, which an interpreter pays for per byte; values compared here (slot
// contents, replay's copies of long values) are often hundreds of bytes, compared eight at a time.
func sameContent(a, b string) bool {
	n := len(a)
	if n != len(b) {
		return false
	}
	if n < 8 {
		return a == b
	}
	pa, pb := unsafe.Pointer(unsafe.StringData(a)), unsafe.Pointer(unsafe.StringData(b))
	for i := 0; i+8 <= n; i += 8 {
		if *(*uint64)(unsafe.Add(pa, i)) != *(*uint64)(unsafe.Add(pb, i)) {
			return false
		}
	}
	// The last eight bytes: they overlap the words compared when n is not a multiple of eight.
	return *(*uint64)(unsafe.Add(pa, n-8)) == *(*uint64)(unsafe.Add(pb, n-8))
}

// nextStamp returns a stamp no cache entry holds yet.
func (tx *Transaction) nextStamp() uint32 {
	tx.stamps++
	return tx.stamps
}

// resetStamps clears every cache before the stamp counter can wrap.
func (tx *Transaction) resetStamps() {
	clear(tx.cache)
	clear(tx.fcache)
	clear(tx.pcache)
	tx.values.slots = [valueSlots]valueSlot{}
	tx.missStamp = [valueSlots]uint32{}
	clear(tx.groupEpoch)
	clear(tx.mayMemo)
	clear(tx.ruleMissed)
	for p := range tx.seen {
		tx.seen[p].gen = 0 // stamps are about to be reused
	}
	tx.variantEpochs, tx.variantLast = tx.variantEpochs[:0], tx.variantLast[:0]
	clear(tx.newVals)
	for g := range tx.groupStamps {
		tx.groupStamps[g], tx.groupSeen[g] = tx.groupStamps[g][:0], tx.groupSeen[g][:0]
	}
	for i := range tx.sources {
		tx.sources[i] = sourceState{stamps: tx.sources[i].stamps[:0]}
	}
	tx.stamps = 0
}

// valueID returns the cache id and stamp for a value of the request, and the string to keep for
// it: the memo's copy when the value has a slot, so that cached results that are the value
// itself (most are) never point into a reused buffer. A value may take any slot of its bucket:
// values of one request then rarely have to do without one.
func (tx *Transaction) valueID(s string) (string, int32, uint32) {
	if len(s) == 0 || len(s) > valueSlotMaxLen {
		return s, tx.ownID(), tx.txStamp
	}
	bucket := int(contentHash(s)&(valueSlots/valueWays-1)) * valueWays
	victim := -1
	for i := bucket; i < bucket+valueWays; i++ {
		slot := &tx.values.slots[i]
		if slot.stamp != 0 && sameContent(slot.content, s) {
			slot.usedBy = tx.gen
			return slot.content, int32(i), slot.stamp
		}
		// Not one that this transaction holds: its cache entries must stay. Otherwise the least
		// recently used (empty slots were never used).
		if slot.usedBy != tx.gen && (victim < 0 || slot.usedBy < tx.values.slots[victim].usedBy) {
			victim = i
		}
	}
	if victim < 0 {
		return s, tx.ownID(), tx.txStamp
	}
	tx.values.slots[victim] = valueSlot{content: strings.Clone(s), stamp: tx.nextStamp(), usedBy: tx.gen}
	return tx.values.slots[victim].content, int32(victim), tx.values.slots[victim].stamp
}

// heldAgain reports whether s is the content of slot id while the slot keeps stamp (an entry's
// id and stamp from valueID, possibly an earlier transaction's), and then holds the slot for this
// transaction as valueID would: the same answer as valueID's, without the hash and the probe.
func (tx *Transaction) heldAgain(s string, id int32, stamp uint32) bool {
	if uint32(id) >= valueSlots {
		return false
	}
	slot := &tx.values.slots[id]
	if slot.stamp != stamp || !sameContent(slot.content, s) {
		return false
	}
	slot.usedBy = tx.gen
	return true
}

// ownID returns an id valid for this transaction only; they follow the slots' ids.
func (tx *Transaction) ownID() int32 {
	id := valueSlots + tx.ownIDs
	tx.ownIDs++
	return id
}

// A value that a rule's operator missed once is missed again by the same rule, when the operator
// reads nothing but the value: a slot also keeps one bit per rule, set when the rule (its whole
// pipeline, and every intermediate value for multiMatch) found no match in it. The bits belong to
// the slot's content: they are cleared when the slot takes a new one.

// pureMiss reports whether a miss of rule r's operator on a value follows from the value's bytes
// alone: the operator's argument has no macro, and a miss changes nothing (a negated operator
// whose pattern matched, and that captures, has set TX.0-9 on its miss).
func pureMiss(r *ruleset.Rule) bool {
	if _, ok := r.Op.Arg.Const(); !ok || r.Op.Negate && r.Capture {
		return false
	}
	switch r.Op.Kind {
	case ruleset.OpRx, ruleset.OpPm, ruleset.OpStrEq, ruleset.OpStrMatch, ruleset.OpContains,
		ruleset.OpContainsWord, ruleset.OpBeginsWith, ruleset.OpEndsWith, ruleset.OpWithin,
		ruleset.OpEq, ruleset.OpGe, ruleset.OpGt, ruleset.OpLe, ruleset.OpLt,
		ruleset.OpDetectSQLi, ruleset.OpDetectXSS, ruleset.OpValidateByteRange,
		ruleset.OpValidateURLEncoding, ruleset.OpValidateUTF8Encoding, ruleset.OpIPMatch:
		return true
	}
	return false
}

// missed reports whether rule ri is known to miss v.
func (tx *Transaction) missed(ri int32, v *val) bool {
	if uint32(v.id) >= valueSlots || tx.missStamp[v.id] != v.stamp {
		return false
	}
	return tx.misses[int(v.id)*tx.missWords+int(ri>>6)]&(1<<(ri&63)) != 0
}

// rememberMiss records that rule ri missed v.
func (tx *Transaction) rememberMiss(ri int32, v *val) {
	if uint32(v.id) >= valueSlots {
		return
	}
	bits := tx.misses[int(v.id)*tx.missWords : int(v.id+1)*tx.missWords]
	if tx.missStamp[v.id] != v.stamp {
		clear(bits)
		tx.missStamp[v.id] = v.stamp
	}
	bits[ri>>6] |= 1 << (ri & 63)
}
