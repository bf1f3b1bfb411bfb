package engine

// SetRegexRunHook lets tests observe the regexes that run past their prefilters.
func SetRegexRunHook(f func(ruleID, regex int32, value string)) { regexRunHook = f }
