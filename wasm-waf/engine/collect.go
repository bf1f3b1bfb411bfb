package engine

import (
	"strconv"

	"github.com/meshaccel/meshaccel/wasm-waf/ruleset"
)

// collect appends the values of target t to dst. r and head (the chain starter) select the
// exclusions that apply; both are nil for macro lookups.
func (tx *Transaction) collect(dst []val, t *ruleset.Target, r, head *ruleset.Rule) []val {
	switch t.Var {
	case ruleset.VarArgs:
		dst = tx.fromList(dst, t, r, head, ruleset.VarArgs, tx.argsGet, false)
		return tx.fromList(dst, t, r, head, ruleset.VarArgs, tx.argsPost, false)
	case ruleset.VarArgsNames:
		dst = tx.fromList(dst, t, r, head, ruleset.VarArgsNames, tx.argsGet, true)
		return tx.fromList(dst, t, r, head, ruleset.VarArgsNames, tx.argsPost, true)
	case ruleset.VarArgsGet:
		return tx.fromList(dst, t, r, head, t.Var, tx.argsGet, false)
	case ruleset.VarArgsGetNames:
		return tx.fromList(dst, t, r, head, t.Var, tx.argsGet, true)
	case ruleset.VarArgsPost:
		return tx.fromList(dst, t, r, head, t.Var, tx.argsPost, false)
	case ruleset.VarArgsPostNames:
		return tx.fromList(dst, t, r, head, t.Var, tx.argsPost, true)
	case ruleset.VarRequestHeaders:
		return tx.fromList(dst, t, r, head, t.Var, tx.headers, false)
	case ruleset.VarRequestHeadersNames:
		return tx.fromList(dst, t, r, head, t.Var, tx.headers, true)
	case ruleset.VarRequestCookies:
		return tx.fromList(dst, t, r, head, t.Var, tx.cookies, false)
	case ruleset.VarRequestCookiesNames:
		return tx.fromList(dst, t, r, head, t.Var, tx.cookies, true)
	case ruleset.VarFiles:
		return tx.fromList(dst, t, r, head, t.Var, tx.files, false)
	case ruleset.VarFilesNames:
		return tx.fromList(dst, t, r, head, t.Var, tx.filesNames, false)
	case ruleset.VarFilesSizes:
		return tx.fromList(dst, t, r, head, t.Var, tx.filesSizes, false)
	case ruleset.VarMultipartPartHeaders:
		return tx.fromList(dst, t, r, head, t.Var, tx.partHeaders, false)
	case ruleset.VarMultipartName:
		return tx.fromList(dst, t, r, head, t.Var, tx.partName, false)
	case ruleset.VarMultipartFilename:
		return tx.fromList(dst, t, r, head, t.Var, tx.partFilename, false)
	case ruleset.VarTX:
		return tx.collectTX(dst, t, r, head)
	case ruleset.VarMatchedVars, ruleset.VarMatchedVarsNames:
		names := t.Var == ruleset.VarMatchedVarsNames
		for i := range tx.matchedVars {
			name := tx.matchedVars[i].name()
			v := val{v: t.Var, key: name, value: tx.matchedVars[i].value, id: -1}
			if names {
				v.value = name
			}
			if lname := lower(name); tx.selected(t, lname) && !tx.excluded(r, head, t.Var, lname) {
				dst = append(dst, v)
			}
		}
		return dst
	case ruleset.VarMatchedVar:
		return append(dst, val{v: t.Var, value: tx.lastMatched.value, id: -1})
	case ruleset.VarMatchedVarName:
		return append(dst, val{v: t.Var, value: tx.lastMatched.name(), id: -1})
	case ruleset.VarArgsCombinedSize:
		n := 0
		for _, l := range [2][]entry{tx.argsGet, tx.argsPost} {
			for i := range l {
				n += len(l[i].key) + len(l[i].value)
			}
		}
		return append(dst, val{v: t.Var, value: itoa(n), id: -1})
	case ruleset.VarReqbodyError, ruleset.VarMultipartStrictError, ruleset.VarMultipartUnmatchedBoundary,
		ruleset.VarInboundDataError, ruleset.VarURLEncodedError, ruleset.VarReqbodyProcessorError:
		if !tx.hasSingle[t.Var] {
			return append(dst, val{v: t.Var, value: "0", id: -1, stamp: unsetStamp(t.Var)})
		}
	case ruleset.VarHighestSeverity:
		return append(dst, val{v: t.Var, value: itoa(tx.highestSeverity), id: -1})
	case ruleset.VarRule:
		if r == nil {
			return dst
		}
		m := ruleset.MacroPart{Var: ruleset.VarRule, Key: t.Key}
		return append(dst, val{v: t.Var, key: t.Key, value: tx.macroValue(&m), id: -1})
	case ruleset.VarXML:
		dst = tx.fromList(dst, t, r, head, t.Var, tx.xmlText, false)
		return tx.fromList(dst, t, r, head, t.Var, tx.xmlAttrs, false)
	case ruleset.VarEnv, ruleset.VarResponse, ruleset.VarNone:
		return dst
	}
	// Single-valued variables: always one value (empty when unset), as in ModSecurity.
	if t.Var < ruleset.Var(len(tx.singles)) {
		if !tx.hasSingle[t.Var] {
			return append(dst, val{v: t.Var, id: -1, stamp: unsetStamp(t.Var)})
		}
		e := &tx.singles[t.Var]
		if t.Var == ruleset.VarUniqueID && e.value == "" {
			e.value = strconv.FormatUint(tx.uniqueID, 10) // unique by design: no slot, it would only evict others
		}
		return append(dst, val{v: t.Var, value: e.value, id: e.id, stamp: e.stamp})
	}
	return dst
}

func (tx *Transaction) fromList(dst []val, t *ruleset.Target, r, head *ruleset.Rule, v ruleset.Var, list []entry, names bool) []val {
	// Most targets take every member and most rules exclude none: no call per member then.
	every := t.KeyRegex < 0 && t.Key == ""
	filter := r != nil && (len(r.Exclusions) > 0 || len(tx.exclusions) > 0 && tx.ctlCovers(head))
	for i := range list {
		e := &list[i]
		if !every && !tx.selected(t, e.lkey) || filter && tx.excludedBy(r, head, t.Var, e.lkey) {
			continue
		}
		if names {
			dst = append(dst, val{v: v, key: e.key, value: e.key, id: e.keyID, stamp: e.keyStamp})
		} else {
			dst = append(dst, val{v: v, key: e.key, value: e.value, id: e.id, stamp: e.stamp})
		}
	}
	return dst
}

func (tx *Transaction) collectTX(dst []val, t *ruleset.Target, r, head *ruleset.Rule) []val {
	if t.TXSlot >= 0 {
		if v, ok := tx.txGetSlot(t.TXSlot); ok && !tx.excluded(r, head, t.Var, t.Key) {
			dst = append(dst, val{v: t.Var, key: t.Key, value: v, id: -1})
		}
		return dst
	}
	if t.Key != "" && t.KeyRegex < 0 {
		if v, ok := tx.txDyn.get(t.Key); ok && !tx.excluded(r, head, t.Var, t.Key) {
			dst = append(dst, val{v: t.Var, key: t.Key, value: v, id: -1})
		}
		return dst
	}
	keys := tx.e.rs.TXKeys
	for _, s := range tx.txOrder {
		k := keys[s]
		sel := t.Key == "" || t.Key == k
		if t.KeyRegex >= 0 {
			sel = tx.e.txKeyMatches(t.KeyRegex, s)
		}
		if sel && !tx.excluded(r, head, t.Var, k) {
			dst = append(dst, val{v: t.Var, key: k, value: tx.txVals[s], id: -1})
		}
	}
	for i, k := range tx.txDyn.keys {
		if tx.selected(t, k) && !tx.excluded(r, head, t.Var, k) {
			dst = append(dst, val{v: t.Var, key: k, value: tx.txDyn.vals[i], id: -1})
		}
	}
	return dst
}

// selected reports whether the target's selector picks the member with lower-cased key lkey.
func (tx *Transaction) selected(t *ruleset.Target, lkey string) bool {
	if t.KeyRegex >= 0 {
		return tx.keyRegexMatch(t.KeyRegex, lkey)
	}
	return t.Key == "" || t.Key == lkey
}

func (tx *Transaction) keyRegexMatch(idx int32, lkey string) bool {
	return tx.e.matchRegex(idx, lkey)
}

func exclusionMatches(ex *ruleset.Exclusion, tx *Transaction, v ruleset.Var, lkey string) bool {
	if ex.Var != v {
		return false
	}
	if ex.KeyRegex >= 0 {
		return tx.keyRegexMatch(ex.KeyRegex, lkey)
	}
	return ex.Key == "" || ex.Key == lkey
}

// excluded applies the rule's own !VAR exclusions and those added by ctl:ruleRemoveTarget*.
// Most rules have neither: this part stays small enough to be inlined.
func (tx *Transaction) excluded(r, head *ruleset.Rule, v ruleset.Var, lkey string) bool {
	if r == nil || len(r.Exclusions) == 0 && len(tx.exclusions) == 0 {
		return false
	}
	return tx.excludedBy(r, head, v, lkey)
}

func (tx *Transaction) excludedBy(r, head *ruleset.Rule, v ruleset.Var, lkey string) bool {
	for i := range r.Exclusions {
		if exclusionMatches(&r.Exclusions[i], tx, v, lkey) {
			return true
		}
	}
	for i := range tx.exclusions {
		te := &tx.exclusions[i]
		if tx.appliesTo(te, head) && exclusionMatches(&te.ex, tx, v, lkey) {
			return true
		}
	}
	return false
}

// appliesTo reports whether a ctl target exclusion covers the chain starting with head.
func (tx *Transaction) appliesTo(te *targetExclusion, head *ruleset.Rule) bool {
	if te.tag == "" {
		return head.ID >= te.lo && head.ID <= te.hi
	}
	i := tx.e.ruleIndex(head)
	return te.tagged[i>>6]&(1<<(i&63)) != 0
}

// ctlCovers reports whether a ctl target exclusion covers the chain starting with head.
func (tx *Transaction) ctlCovers(head *ruleset.Rule) bool {
	for i := range tx.exclusions {
		if tx.appliesTo(&tx.exclusions[i], head) {
			return true
		}
	}
	return false
}

// A source is what collect reads for a variable: one of the transaction's lists, or one single
// variable (sourceSingle + its Var).
type source int16

const (
	sourceArgsGet source = iota
	sourceArgsPost
	sourceHeaders
	sourceCookies
	sourceFiles
	sourceFilesNames
	sourceFilesSizes
	sourcePartHeaders
	sourcePartName
	sourcePartFilename
	sourceXMLText
	sourceXMLAttrs
	sourceSingle
)

// entryValues reports how collect builds the values of v, a variable of list sources: one per
// selected entry, its key (names) or its value; ok is false when they are not one per entry.
func entryValues(v ruleset.Var) (names, ok bool) {
	switch v {
	case ruleset.VarArgsNames, ruleset.VarArgsGetNames, ruleset.VarArgsPostNames, ruleset.VarRequestHeadersNames,
		ruleset.VarRequestCookiesNames:
		return true, true
	case ruleset.VarArgsCombinedSize:
		return false, false
	}
	return false, true
}

// sourcesOf returns the sources from which collect builds the values of v (kept next to collect:
// the two must agree), and false for variables whose values come from anything else. The slices
// are views of everySource: looking sources up allocates nothing.
func sourcesOf(v ruleset.Var) ([]source, bool) {
	switch v {
	case ruleset.VarArgs, ruleset.VarArgsNames, ruleset.VarArgsCombinedSize:
		return everySource[sourceArgsGet : sourceArgsPost+1], true
	case ruleset.VarArgsGet, ruleset.VarArgsGetNames:
		return everySource[sourceArgsGet : sourceArgsGet+1], true
	case ruleset.VarArgsPost, ruleset.VarArgsPostNames:
		return everySource[sourceArgsPost : sourceArgsPost+1], true
	case ruleset.VarRequestHeaders, ruleset.VarRequestHeadersNames:
		return everySource[sourceHeaders : sourceHeaders+1], true
	case ruleset.VarRequestCookies, ruleset.VarRequestCookiesNames:
		return everySource[sourceCookies : sourceCookies+1], true
	case ruleset.VarFiles:
		return everySource[sourceFiles : sourceFiles+1], true
	case ruleset.VarFilesNames:
		return everySource[sourceFilesNames : sourceFilesNames+1], true
	case ruleset.VarFilesSizes:
		return everySource[sourceFilesSizes : sourceFilesSizes+1], true
	case ruleset.VarMultipartPartHeaders:
		return everySource[sourcePartHeaders : sourcePartHeaders+1], true
	case ruleset.VarMultipartName:
		return everySource[sourcePartName : sourcePartName+1], true
	case ruleset.VarMultipartFilename:
		return everySource[sourcePartFilename : sourcePartFilename+1], true
	case ruleset.VarXML:
		return everySource[sourceXMLText : sourceXMLAttrs+1], true
	case ruleset.VarEnv, ruleset.VarResponse, ruleset.VarNone:
		return nil, true // always empty
	case ruleset.VarTX, ruleset.VarMatchedVar, ruleset.VarMatchedVarName, ruleset.VarMatchedVars,
		ruleset.VarMatchedVarsNames, ruleset.VarHighestSeverity, ruleset.VarRule, ruleset.VarDuration:
		return nil, false
	}
	if v <= ruleset.VarResponse { // the rest of collect's switch: single-valued variables
		s := sourceSingle + source(v)
		return everySource[s : s+1], true
	}
	return nil, false
}

var everySource = func() (all [int(sourceSingle) + int(ruleset.VarResponse) + 1]source) {
	for i := range all {
		all[i] = source(i)
	}
	return all
}()

func (tx *Transaction) sourceList(s source) []entry {
	switch s {
	case sourceArgsGet:
		return tx.argsGet
	case sourceArgsPost:
		return tx.argsPost
	case sourceHeaders:
		return tx.headers
	case sourceCookies:
		return tx.cookies
	case sourceFiles:
		return tx.files
	case sourceFilesNames:
		return tx.filesNames
	case sourceFilesSizes:
		return tx.filesSizes
	case sourcePartHeaders:
		return tx.partHeaders
	case sourcePartName:
		return tx.partName
	case sourcePartFilename:
		return tx.partFilename
	case sourceXMLText:
		return tx.xmlText
	case sourceXMLAttrs:
		return tx.xmlAttrs
	}
	return nil
}
