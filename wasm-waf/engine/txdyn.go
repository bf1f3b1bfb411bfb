package engine

// dynTX holds the TX keys built at run time (setvar:'tx.header_name_%{tx.0}=...'), in the order
// they were first set. A request has a few (the CRS: one per request header name), searched in
// order: a map costs an interpreter two hashes per write. Past dynLinear keys, a map indexes them.
type dynTX struct {
	keys, vals []string
	index      map[string]int32 // key → position, while indexed
	indexed    bool
}

const dynLinear = 16

func (d *dynTX) find(key string) int {
	if d.indexed {
		if i, ok := d.index[key]; ok {
			return int(i)
		}
		return -1
	}
	for i, k := range d.keys {
		if sameContent(k, key) {
			return i
		}
	}
	return -1
}

func (d *dynTX) get(key string) (string, bool) {
	if i := d.find(key); i >= 0 {
		return d.vals[i], true
	}
	return "", false
}

func (d *dynTX) set(key, value string) {
	if i := d.find(key); i >= 0 {
		d.vals[i] = value
		return
	}
	d.keys, d.vals = append(d.keys, key), append(d.vals, value)
	switch n := len(d.keys); {
	case d.indexed:
		d.index[key] = int32(n - 1)
	case n > dynLinear:
		d.reindex()
	}
}

// delete removes key, and reports whether it was set.
func (d *dynTX) delete(key string) bool {
	i := d.find(key)
	if i < 0 {
		return false
	}
	d.keys, d.vals = append(d.keys[:i], d.keys[i+1:]...), append(d.vals[:i], d.vals[i+1:]...)
	if d.indexed {
		delete(d.index, key)
		for j := i; j < len(d.keys); j++ {
			d.index[d.keys[j]] = int32(j)
		}
	}
	return true
}

func (d *dynTX) reindex() {
	if d.index == nil {
		d.index = make(map[string]int32, 2*dynLinear)
	}
	for i, k := range d.keys {
		d.index[k] = int32(i)
	}
	d.indexed = true
}

func (d *dynTX) reset() {
	clear(d.keys) // the strings belong to the request
	clear(d.vals)
	d.keys, d.vals = d.keys[:0], d.vals[:0]
	if d.indexed {
		clear(d.index)
		d.indexed = false
	}
}
