package engine

import (
	"fmt"
	"slices"
	"testing"
)

// dynTX keeps TX keys as an ordered map would: searched in order up to dynLinear keys, through
// its index past them, and again in order after a reset.
func FuzzDynTXIsAnOrderedMap(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 0x81, 4, 5, 0x82})
	seq := make([]byte, 0, 3*dynLinear)
	for i := range 3 * dynLinear {
		seq = append(seq, byte(i%40))
	}
	f.Add(append(seq, 0x83, 0x85, 0xff, 1, 2))
	f.Fuzz(func(t *testing.T, ops []byte) {
		var d dynTX
		var keys []string
		vals := map[string]string{}
		for n, op := range ops {
			key := fmt.Sprintf("header_name_920450_k%d", op&0x3f)
			switch {
			case op == 0xff:
				d.reset()
				keys, vals = nil, map[string]string{}
			case op&0x80 != 0:
				_, had := vals[key]
				if got := d.delete(key); got != had {
					t.Fatalf("op %d: delete(%s) = %v, want %v", n, key, got, had)
				}
				delete(vals, key)
				if i := slices.Index(keys, key); i >= 0 {
					keys = slices.Delete(keys, i, i+1)
				}
			default:
				value := fmt.Sprint(n)
				d.set(key, value)
				if _, had := vals[key]; !had {
					keys = append(keys, key)
				}
				vals[key] = value
			}
			if !slices.Equal(d.keys, keys) {
				t.Fatalf("op %d: keys %v, want %v", n, d.keys, keys)
			}
			for i, k := range keys {
				if v, ok := d.get(k); !ok || v != vals[k] || d.vals[i] != vals[k] {
					t.Fatalf("op %d: %s = %q, %v, want %q", n, k, v, ok, vals[k])
				}
			}
			if _, ok := d.get("absent"); ok {
				t.Fatalf("op %d: an absent key is set", n)
			}
		}
	})
}
