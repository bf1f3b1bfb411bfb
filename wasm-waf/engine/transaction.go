package engine

import (
	"strconv"
	"strings"
	"unsafe"

	"github.com/meshaccel/meshaccel/wasm-waf/ruleset"
)

// entry is one member of a collection. Values that do not change during the transaction, and
// the names of members, get a cache id and stamp (valuememo.go): the caches of transformations,
// byte sets and case-folded forms are indexed by (id, pipeline).
type entry struct {
	key      string
	lkey     string
	value    string
	id       int32 // the value's
	keyID    int32 // the key's
	stamp    uint32
	keyStamp uint32
}

// val is one value produced for a rule target.
type val struct {
	v     ruleset.Var
	key   string
	value string
	id    int32  // -1: not cacheable
	stamp uint32 // cache entries for id are valid when they carry this stamp
}

type cacheSlot struct {
	gen uint32
	val string
}

type targetExclusion struct {
	lo, hi int32
	tag    string
	tagged []uint64 // the rules with tag, by index (Engine.rulesTagged)
	ex     ruleset.Exclusion
}

// matchedVar is a variable member that a rule matched. Its name ("ARGS:q") is built only when a
// rule asks for it: most matches in a request are never looked at by name.
type matchedVar struct {
	v     ruleset.Var
	key   string
	value string
}

func (m *matchedVar) name() string {
	if m.v == ruleset.VarNone {
		return ""
	}
	if m.key == "" {
		return m.v.String()
	}
	return m.v.String() + ":" + m.key
}

// Transaction is the evaluation state of one HTTP request.
type Transaction struct {
	e     *Engine
	nodes int32 // transformation nodes of the ruleset: caches hold nodes slots per value
	mode  ruleset.EngineMode

	gen uint32
	// Cache ids and stamps of values (valuememo.go): slots addressed by content survive the
	// transaction; ids from ownIDs and txStamp do not.
	values  valueMemo
	stamps  uint32
	txStamp uint32
	ownIDs  int32
	added   int32 // values added during the transaction
	// misses holds missWords words per slot: the rules known to miss the slot's content while
	// missStamp is its stamp.
	misses    []uint64
	missWords int
	missStamp [valueSlots]uint32
	// groupEpoch[g] names the contents of ruleset group g (0: not remembered), groupStamps[g]
	// are their stamps; mayMemo[i] is what rule i's summary said in an epoch (groups.go).
	groupEpoch  []uint32
	groupStamps [][]uint32
	mayMemo     []mayVerdict
	// groupSeen[g] are the epochs of group g's sources when it was last collected; sources are
	// the lists' (groups.go).
	groupSeen [][]uint32
	// groupSameGen[g] is the data generation in which group g was found unchanged.
	groupSameGen []uint32
	// ruleMissed[i] is the epoch of the group that rule i missed entirely (eval.go).
	ruleMissed []uint32
	// variantEpochs are the contents of recent variants (groups.go), variantLast the latest
	// epoch of each variant.
	variantEpochs []variantEpoch
	variantLast   []variantLast
	// newVals[g] are the values of group g (or variant) new since its previous contents.
	newVals []newValues
	newBuf  []val
	// groupStale[g]: group g's epoch was derived (deriveNew), groupStamps[g] are not its stamps.
	groupStale []bool
	sources    [sourceSingle]sourceState

	// Replay (replay.go): how each chain starter was last decided, what the phases' sources held
	// at their start, and whether every rule so far decided as in transaction prevGen.
	marks   []ruleMark
	seen    [3]phaseSeen
	prevGen uint32
	inStep  bool
	changed uint64 // the current phase's sources that changed since then, by bit
	// listChanges[src] is how list source src changed (notePhaseSources); headComparedWithPrev:
	// phase 1 compared the request head with the previous transaction's.
	listChanges          [sourceSingle]listChange
	headComparedWithPrev bool
	actions              uint32 // onMatch calls and captures
	effects              []effectLog
	// changedSpans[g] are ruleset group g's new values in changedBuf (missesNewValues).
	changedSpans []changedSpan
	covered      []coveredSpan // the same, of rules that ctl exclusions cover, for phase coveredGen
	coveredGen   uint32
	changedBuf   []val
	changedGen   uint32
	recording    *effectLog // the chain starter being evaluated writes its effects here
	probing      bool       // missesNewValues runs operators: no captures
	// Of each phase: the transaction it last ran in out of step (marks older than that are of rules
	// not reached since), and the positions in its list of the chain starters whose marks say they
	// acted; visit is the positions a loop in step visits (findVisits).
	markFloor [3]uint32
	acted     [3][]int32
	visit     []uint64

	singles   [ruleset.VarResponse + 1]entry
	hasSingle [ruleset.VarResponse + 1]bool

	argsGet, argsPost     []entry
	headers, cookies      []entry
	files, filesNames     []entry
	filesSizes            []entry
	partHeaders, partName []entry
	partFilename          []entry
	xmlText, xmlAttrs     []entry

	// TX: interned slots plus keys built at run time.
	txVals  []string
	txSet   []bool
	txOrder []int32
	txDyn   dynTX

	// UNIQUE_ID's number: its entry's value is made on first read.
	uniqueID uint64
	// What argsGet and cookies were parsed from (parsedAgain), and REQUEST_LINE's buffer.
	argsGetFrom, cookiesFrom parsedFrom
	lineBuf                  []byte

	// lastMatched is the last matched variable (MATCHED_VAR, MATCHED_VAR_NAME).
	lastMatched matchedVar
	matchedVars []matchedVar

	bodyProcessor   string
	bodyAccess      bool
	forceBodyVar    bool
	bodyLimit       int
	bodyTruncated   bool
	highestSeverity int
	phase           int
	ruleIndex       int32 // rule being evaluated, for RULE and macros

	removedRanges []int32
	removedTags   []string
	exclusions    []targetExclusion
	txExcluded    bool // a ctl exclusion names a TX key: no evalSingleTX

	skip      int32
	allow     ruleset.Disruptive
	intr      *Interruption
	intrValue Interruption

	matched []int
	matches []Match

	// Target groups and their summaries (see groups.go), valid while their generation is dataGen.
	// dataAdded is added when dataGen began: an unchanged count means unchanged data (a GET's
	// phase 2 sees phase 1's values).
	dataGen    uint32
	dataAdded  int32
	groupGen   []uint32
	groupSpans []int32
	groupVals  []val
	summaries  []groupSummary
	joinArena  []byte
	// Variants of groups for rules under ctl target exclusions, and what each rule reads.
	variants         []groupVariant
	variantSummaries []variantSummary
	views            []ruleView

	// Reusable buffers.
	vals      []val
	mvals     []val
	expanding bool
	cache     []cacheSlot
	fcache    []cacheSlot
	pcache    []presenceSlot
	ptemp     presenceSlot
	scratch   []byte
	// groups holds the submatches of a capturing @rx.
	groups   []string
	scratch2 []byte
	macroBuf []byte
	bodyBuf  []byte
}

func newTransaction(e *Engine) *Transaction {
	n := len(e.rs.TXKeys)
	return &Transaction{
		e:         e,
		nodes:     int32(len(e.rs.TransformNodes)),
		txVals:    make([]string, n),
		txSet:     make([]bool, n),
		misses:    make([]uint64, valueSlots*((len(e.rs.Rules)+63)/64)),
		missWords: (len(e.rs.Rules) + 63) / 64,

		groupGen:     make([]uint32, len(e.groups.spanBase)),
		newVals:      make([]newValues, len(e.groups.spanBase)),
		groupStale:   make([]bool, len(e.groups.spanBase)),
		groupEpoch:   make([]uint32, len(e.groups.spanBase)),
		groupStamps:  make([][]uint32, len(e.groups.spanBase)),
		mayMemo:      make([]mayVerdict, len(e.rs.Rules)),
		groupSeen:    make([][]uint32, len(e.groups.spanBase)),
		groupSameGen: make([]uint32, len(e.groups.spanBase)),
		ruleMissed:   make([]uint32, len(e.rs.Rules)),
		groupSpans:   make([]int32, e.groups.spans),
		summaries:    make([]groupSummary, e.groups.summaries),
		views:        make([]ruleView, len(e.rs.Rules)),
		marks:        make([]ruleMark, len(e.rs.Rules)),
		effects:      make([]effectLog, len(e.rs.Rules)),
		changedSpans: make([]changedSpan, len(e.groups.spanBase)),
	}
}

func (tx *Transaction) begin() {
	e := tx.e
	tx.mode = e.mode
	tx.prevGen = tx.gen
	tx.gen++
	if tx.gen == 0 {
		// The generation counter wrapped: old views, marks and value slots could look current.
		clear(tx.views)
		clear(tx.marks)
		tx.resetStamps()
		tx.gen, tx.prevGen = 1, 0
	}
	tx.inStep = tx.prevGen != 0
	tx.probing, tx.recording = false, nil // a panic may have left them set
	if tx.stamps >= stampLimit {
		tx.resetStamps()
	}
	tx.txStamp = tx.nextStamp()
	tx.ownIDs = 0
	tx.added = 0
	tx.groupVals = tx.groupVals[:0]
	tx.joinArena = tx.joinArena[:0]
	tx.resetVariants()
	tx.dataChanged()
	// singles keep the previous transaction's entries (setSingle compares with them); only
	// hasSingle says which are set.
	clear(tx.hasSingle[:])
	tx.argsGet, tx.argsPost = tx.argsGet[:0], tx.argsPost[:0]
	tx.headers, tx.cookies = tx.headers[:0], tx.cookies[:0]
	tx.files, tx.filesNames, tx.filesSizes = tx.files[:0], tx.filesNames[:0], tx.filesSizes[:0]
	tx.partHeaders, tx.partName, tx.partFilename = tx.partHeaders[:0], tx.partName[:0], tx.partFilename[:0]
	tx.xmlText, tx.xmlAttrs = tx.xmlText[:0], tx.xmlAttrs[:0]
	for _, s := range tx.txOrder {
		tx.txSet[s] = false // txVals[s] stays: a string store each costs more, and unset slots read ""
	}
	tx.txOrder = tx.txOrder[:0]
	tx.txDyn.reset()
	tx.lastMatched = matchedVar{}
	tx.matchedVars = tx.matchedVars[:0]
	tx.bodyProcessor = ""
	tx.bodyAccess = e.rs.RequestBodyAccess
	tx.forceBodyVar = false
	tx.bodyLimit = e.rs.RequestBodyLimit
	tx.bodyTruncated = false
	tx.highestSeverity = 255
	tx.phase = 0
	tx.removedRanges = tx.removedRanges[:0]
	tx.removedTags = tx.removedTags[:0]
	tx.exclusions = tx.exclusions[:0]
	tx.txExcluded = false
	tx.skip = 0
	tx.allow = ruleset.DisruptNone
	tx.intr = nil
	tx.matched = tx.matched[:0]
	for i := range tx.matches {
		tx.matches[i] = Match{}
	}
	tx.matches = tx.matches[:0]
	if e.nextID++; e.readsUniqueID {
		// Made when read (collect): CRS reads it only when sampling requests.
		tx.uniqueID = e.nextID
		tx.singles[ruleset.VarUniqueID] = entry{id: tx.ownID(), stamp: tx.txStamp}
		tx.hasSingle[ruleset.VarUniqueID] = true
		tx.added++
	}
	tx.setSingle(ruleset.VarDuration, "0")
}

func (tx *Transaction) setSingle(v ruleset.Var, value string) {
	e := &tx.singles[v]
	switch {
	case tx.heldAgain(value, e.id, e.stamp):
		// What the previous transaction (or this one) set: the same slot.
	default:
		e.value, e.id, e.stamp = tx.valueID(value)
	}
	tx.hasSingle[v] = true
	tx.added++
	tx.dataChanged() // a ctl may set one during a phase
}

// add appends a member to list. Requests repeat their headers, arguments and cookies in the same
// order, so the array usually still holds, at this position, the previous transaction's entry
// with the same key and value: its slots confirm that with one comparison each, where valueID
// hashes, probes a bucket and lower-cases the key.
func (tx *Transaction) add(list []entry, key, value string) []entry {
	tx.added++
	n := len(list)
	if n == cap(list) {
		e := entry{lkey: lower(key)}
		e.key, e.keyID, e.keyStamp = tx.valueID(key)
		e.value, e.id, e.stamp = tx.valueID(value)
		return append(list, e)
	}
	list = list[:n+1]
	e := &list[n]
	if !tx.heldAgain(key, e.keyID, e.keyStamp) {
		e.lkey = lower(key)
		e.key, e.keyID, e.keyStamp = tx.valueID(key)
	}
	if !tx.heldAgain(value, e.id, e.stamp) {
		e.value, e.id, e.stamp = tx.valueID(value)
	}
	return list
}

// lower returns s with ASCII letters lower-cased, without allocating when s has none.
func lower(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; 'A' <= c && c <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if c := b[j]; 'A' <= c && c <= 'Z' {
					b[j] = c + 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}

// SetRemoteAddr records the client address for REMOTE_ADDR and REMOTE_PORT. Call it before
// ProcessRequestHeaders when known.
func (tx *Transaction) SetRemoteAddr(addr string, port int) {
	tx.setSingle(ruleset.VarRemoteAddr, addr)
	tx.setSingle(ruleset.VarRemotePort, strconv.Itoa(port))
}

// ProcessRequestHeaders runs phase 1.
func (tx *Transaction) ProcessRequestHeaders(method, uri, proto string, headers [][2]string) *Interruption {
	if tx.mode == ruleset.EngineOff || tx.phase >= 1 {
		return tx.intr
	}
	tx.phase = 1
	tx.setSingle(ruleset.VarRequestMethod, method)
	tx.setSingle(ruleset.VarRequestProtocol, proto)
	tx.setSingle(ruleset.VarRequestURIRaw, uri)
	tx.setRequestLine(method, uri, proto)
	if i := strings.IndexByte(uri, '#'); i >= 0 {
		uri = uri[:i]
	}
	tx.setSingle(ruleset.VarRequestURI, uri)
	path, query := uri, ""
	hasQuery := false
	if i := strings.IndexByte(uri, '?'); i >= 0 {
		path, query, hasQuery = uri[:i], uri[i+1:], true
	}
	// Absolute-form request targets carry scheme and authority before the path (origin-form
	// ones, nearly all, start with it).
	if path == "" || path[0] != '/' {
		if i := strings.Index(path, "://"); i > 0 && !strings.ContainsAny(path[:i], "/?") {
			rest := path[i+3:]
			if j := strings.IndexByte(rest, '/'); j >= 0 {
				path = rest[j:]
			} else {
				path = ""
			}
		}
	}
	path = decodePath(path)
	tx.setSingle(ruleset.VarRequestFilename, path)
	base := path
	if i := strings.LastIndexAny(path, "/\\"); i >= 0 && i+1 < len(path) {
		base = path[i+1:]
	}
	tx.setSingle(ruleset.VarRequestBasename, base)
	tx.setSingle(ruleset.VarQueryString, query)
	if q := &tx.singles[ruleset.VarQueryString]; hasQuery && !tx.parsedAgain(&tx.argsGet, &tx.argsGetFrom, q.id, q.stamp) {
		tx.argsGet = tx.parseQuery(tx.argsGet, len(tx.argsPost), query)
		if limit := tx.e.rs.ArgumentsLimit; limit > 0 && len(tx.argsGet) >= limit {
			tx.argsGetFrom = parsedFrom{} // it may have set ARGS_LIMIT_REACHED too
		} else {
			tx.argsGetFrom = parsedFrom{id: q.id, stamp: q.stamp, n: int32(len(tx.argsGet))}
		}
	}
	contentTypeSeen := false
	for _, h := range headers {
		if h[0] == "" {
			continue
		}
		tx.headers = tx.add(tx.headers, h[0], h[1])
		switch lk := tx.headers[len(tx.headers)-1].lkey; lk {
		case "content-type":
			if !contentTypeSeen {
				contentTypeSeen = true
				ct := strings.ToLower(strings.TrimSpace(h[1]))
				switch {
				case strings.HasPrefix(ct, "application/x-www-form-urlencoded"):
					tx.bodyProcessor = "URLENCODED"
				case strings.HasPrefix(ct, "multipart/form-data"):
					tx.bodyProcessor = "MULTIPART"
				}
			}
		case "cookie":
			// The first Cookie header's cookies start the list: they may be the last request's.
			c := &tx.headers[len(tx.headers)-1]
			if first := len(tx.cookies) == 0; !first || !tx.parsedAgain(&tx.cookies, &tx.cookiesFrom, c.id, c.stamp) {
				tx.parseCookies(h[1])
				if first {
					tx.cookiesFrom = parsedFrom{id: c.id, stamp: c.stamp, n: int32(len(tx.cookies))}
				}
			}
		case "host":
			host := h[1]
			if i := strings.LastIndexByte(host, ':'); i >= 0 && !strings.HasSuffix(host, "]") {
				host = host[:i]
			}
			tx.setSingle(ruleset.VarServerName, host)
		}
	}
	if tx.bodyProcessor != "" {
		tx.setSingle(ruleset.VarReqbodyProcessor, tx.bodyProcessor)
	}
	tx.evalPhase(1)
	return tx.intr
}

// setRequestLine sets REQUEST_LINE without building the string when the previous request's was
// the same.
func (tx *Transaction) setRequestLine(method, uri, proto string) {
	b := append(append(append(append(append(tx.lineBuf[:0], method...), ' '), uri...), ' '), proto...)
	tx.lineBuf = b
	if e := &tx.singles[ruleset.VarRequestLine]; tx.heldAgain(unsafe.String(unsafe.SliceData(b), len(b)), e.id, e.stamp) {
		tx.hasSingle[ruleset.VarRequestLine] = true
		tx.added++
		tx.dataChanged()
		return
	}
	tx.setSingle(ruleset.VarRequestLine, string(b))
}

// parsedFrom names the content (by slot) that a list of the previous transaction was parsed
// from, and how many entries that gave: the same content parses the same.
type parsedFrom struct {
	id    int32
	stamp uint32 // 0: nothing to reuse
	n     int32
}

// parsedAgain takes the previous transaction's entries of *list (still in its array) when they
// were parsed from the content that slot id holds under stamp, and every slot they name still
// holds what they were made from: parsing, unescaping and valueID would give the same.
func (tx *Transaction) parsedAgain(list *[]entry, from *parsedFrom, id int32, stamp uint32) bool {
	l := *list
	if len(l) != 0 || uint32(id) >= valueSlots || from.stamp != stamp || from.id != id || int(from.n) > cap(l) {
		return false
	}
	l = l[:from.n]
	slots := &tx.values.slots
	for i := range l {
		e := &l[i]
		// An empty key or value takes no slot: its content is its length.
		if e.key != "" && (uint32(e.keyID) >= valueSlots || slots[e.keyID].stamp != e.keyStamp) ||
			e.value != "" && (uint32(e.id) >= valueSlots || slots[e.id].stamp != e.stamp) {
			return false
		}
	}
	for i := range l {
		e := &l[i]
		if e.key == "" {
			e.keyID, e.keyStamp = tx.ownID(), tx.txStamp
		} else {
			slots[e.keyID].usedBy = tx.gen
		}
		if e.value == "" {
			e.id, e.stamp = tx.ownID(), tx.txStamp
		} else {
			slots[e.id].usedBy = tx.gen
		}
	}
	tx.added += from.n
	*list = l
	return true
}

// decodePath percent-decodes a path when every escape is valid (as net/url does), and keeps it
// as sent otherwise.
func decodePath(p string) string {
	if strings.IndexByte(p, '%') < 0 {
		return p
	}
	b := make([]byte, 0, len(p))
	for i := 0; i < len(p); i++ {
		c := p[i]
		if c != '%' {
			b = append(b, c)
			continue
		}
		if i+2 >= len(p) || hexVal(p[i+1]) < 0 || hexVal(p[i+2]) < 0 {
			return p
		}
		b = append(b, byte(hexVal(p[i+1])<<4|hexVal(p[i+2])))
		i += 2
	}
	return string(b)
}

func hexVal(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'a' <= c && c <= 'f':
		return int(c-'a') + 10
	case 'A' <= c && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

// queryUnescape decodes '+' and valid %XX escapes; invalid escapes are kept.
func queryUnescape(s string) string {
	i := indexEscape(s)
	if i < 0 {
		return s
	}
	// Runs without escapes are copied whole: a byte at a time costs an interpreter dearly on
	// 1 KiB form fields.
	b := make([]byte, 0, len(s))
	for {
		b, s = append(b, s[:i]...), s[i:]
		switch {
		case s[0] == '+':
			b, s = append(b, ' '), s[1:]
		case len(s) > 2 && hexVal(s[1]) >= 0 && hexVal(s[2]) >= 0:
			b, s = append(b, byte(hexVal(s[1])<<4|hexVal(s[2]))), s[3:]
		default:
			b, s = append(b, '%'), s[1:]
		}
		if i = indexEscape(s); i < 0 {
			return string(append(b, s...))
		}
	}
}

// indexEscape returns the index of the first '%' or '+' in s, or -1.
func indexEscape(s string) int {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == '%' || c == '+' {
			return i
		}
	}
	return -1
}

// parseQuery appends the pairs of an urlencoded string to list; other is the number of arguments
// already held elsewhere, for SecArgumentsLimit.
func (tx *Transaction) parseQuery(list []entry, other int, q string) []entry {
	limit := tx.e.rs.ArgumentsLimit
	for q != "" {
		part := q
		if i := strings.IndexByte(q, '&'); i >= 0 {
			part, q = q[:i], q[i+1:]
		} else {
			q = ""
		}
		if part == "" {
			continue
		}
		if limit > 0 && len(list)+other >= limit {
			tx.setSingle(ruleset.VarArgsLimitReached, "1")
			break
		}
		k, v, _ := strings.Cut(part, "=")
		list = tx.add(list, queryUnescape(k), queryUnescape(v))
	}
	return list
}

func trimCTLSpace(s string) string {
	i, j := 0, len(s)
	for i < j && (s[i] <= 0x20 || s[i] == 0x7f) {
		i++
	}
	for j > i && (s[j-1] <= 0x20 || s[j-1] == 0x7f) {
		j--
	}
	return s[i:j]
}

func (tx *Transaction) parseCookies(h string) {
	h = trimCTLSpace(h)
	for h != "" {
		part := h
		if i := strings.IndexByte(h, ';'); i >= 0 {
			part, h = h[:i], h[i+1:]
		} else {
			h = ""
		}
		part = trimCTLSpace(part)
		if part == "" {
			continue
		}
		name, value, _ := strings.Cut(part, "=")
		name, value = trimCTLSpace(name), trimCTLSpace(value)
		if name == "" && value == "" {
			continue
		}
		tx.cookies = tx.add(tx.cookies, name, value)
	}
}

// RequestBodyAccess reports whether the body should be buffered and passed to ProcessRequestBody.
func (tx *Transaction) RequestBodyAccess() bool { return tx.bodyAccess && tx.mode != ruleset.EngineOff }

// RequestBodyLimit is the most body bytes the engine inspects.
func (tx *Transaction) RequestBodyLimit() int { return tx.bodyLimit }

// SetRequestBodyTruncated records that the body was longer than RequestBodyLimit.
func (tx *Transaction) SetRequestBodyTruncated() { tx.bodyTruncated = true }

// MatchedRules returns the ids of logged rules that matched, in evaluation order.
func (tx *Transaction) MatchedRules() []int { return tx.matched }

// Matches returns the logged matches with their messages.
func (tx *Transaction) Matches() []Match { return tx.matches }

// Interruption returns the interruption, if any.
func (tx *Transaction) Interruption() *Interruption { return tx.intr }

// Close resets the transaction and returns it to the engine's free list.
func (tx *Transaction) Close() {
	tx.e.free = append(tx.e.free, tx)
}
