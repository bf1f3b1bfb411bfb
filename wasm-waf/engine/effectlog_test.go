package engine

import (
	"fmt"
	"slices"
	"testing"
)

// FuzzCompactedLogsReplayAsWritten: replaying an effect log (compacted: one write per TX slot,
// run-time keys appended at once) leaves TX as the writes one by one do, keys in the same order.
// Each input byte is a write: bits 0-1 the key, bit 2 a run-time key (not a slot), bit 3 an
// unset, the rest the value.
func FuzzCompactedLogsReplayAsWritten(f *testing.F) {
	f.Add([]byte{0x04, 0x14, 0x05, 0x24, 0x00, 0x10, 0x01})
	f.Add([]byte{0x04, 0x0c, 0x04, 0x00, 0x08, 0x00})
	e := New(compileRules(f, "log.conf", `SecAction "id:1,phase:1,pass,nolog,setvar:tx.a=1,setvar:tx.b=1,setvar:tx.c=1,setvar:tx.d=1"`))
	slot := func(k byte) int32 { return e.txIndex[string(rune('a'+k))] }
	if slot(0) == slot(1) || slot(2) == slot(3) {
		f.Fatalf("TX slots a-d: %d %d %d %d", slot(0), slot(1), slot(2), slot(3))
	}
	f.Fuzz(func(t *testing.T, script []byte) {
		var l effectLog
		for _, b := range script {
			w := txWrite{slot: slot(b & 3), unset: b&8 != 0, value: fmt.Sprint(b >> 4)}
			if b&4 != 0 {
				w.slot, w.key = -1, fmt.Sprintf("dyn_%d", b&3)
			}
			l.writes = append(l.writes, w)
		}
		direct := e.NewTransaction()
		for i := range l.writes {
			direct.applyWrite(&l.writes[i])
		}
		want := TXState(direct)
		direct.Close()
		for round := range 2 { // the second replay uses the compacted log
			tx := e.NewTransaction()
			tx.replayEffects(0, &l)
			if got := TXState(tx); !slices.Equal(got, want) {
				t.Fatalf("replay %d of %v: TX %q, written one by one %q", round, l.writes, got, want)
			}
			tx.Close()
		}
	})
}
