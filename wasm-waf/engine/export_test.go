package engine

// SetRegexRunHook lets tests observe the regexes that run past their prefilters.
func SetRegexRunHook(f func(ruleID, regex int32, value string)) { regexRunHook = f }

// SetRuleVisitHook lets tests observe the chain starters that a phase's loop visits.
func SetRuleVisitHook(f func(ruleID int32)) { ruleVisitHook = f }

// FoldsOff makes e evaluate every rule on each request, as without decided rules.
func FoldsOff(e *Engine) {
	for i := range e.folds {
		e.folds[i] = foldedRule{}
	}
	e.foldRuns = planFoldRuns(e.rs, e.folds)
	e.replay.planVisits(e.rs, e.folds)
}

// FoldCounts counts the rules that e decides once: never matching, always matching.
func FoldCounts(e *Engine) (noMatch, match int) {
	for _, f := range e.folds {
		switch f.kind {
		case foldNoMatch:
			noMatch++
		case foldMatch:
			match++
		}
	}
	return noMatch, match
}

// FoldOf tells how e treats the chain starter with this id: "never" or "always" matches (decided
// once), or "evaluated" on each request.
func FoldOf(e *Engine, id int) string {
	for i := range e.rs.Rules {
		if int(e.rs.Rules[i].ID) != id || e.headOf[i] != int32(i) {
			continue
		}
		switch e.folds[i].kind {
		case foldNoMatch:
			return "never"
		case foldMatch:
			return "always"
		}
		return "evaluated"
	}
	return "absent"
}

// TXState lists the transaction's TX collection as key=value, in the order the keys were set.
func TXState(tx *Transaction) []string {
	var out []string
	for _, s := range tx.txOrder {
		out = append(out, tx.e.rs.TXKeys[s]+"="+tx.txVals[s])
	}
	for i, k := range tx.txDyn.keys {
		out = append(out, k+"="+tx.txDyn.vals[i])
	}
	return out
}
