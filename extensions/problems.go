package extensions

import (
	"fmt"
	"sort"
	"strings"
)

// Problem is one piece of bad input, named precisely: the object, the field and the value.
type Problem struct {
	// Object is "Kind namespace/name".
	Object  string `json:"object"`
	Field   string `json:"field,omitempty"`
	Value   string `json:"value,omitempty"`
	Message string `json:"message"`
}

func (p Problem) String() string {
	var b strings.Builder
	b.WriteString(p.Object)
	if p.Field != "" {
		b.WriteString(": " + p.Field)
		if p.Value != "" {
			b.WriteString(fmt.Sprintf(" %q", p.Value))
		}
	}
	b.WriteString(": " + p.Message)
	return b.String()
}

// InputError lists every policy-confined problem Translate found. The Result that comes with it holds
// everything the problems do not touch.
type InputError struct {
	Problems []Problem
}

func (e *InputError) Error() string {
	lines := make([]string, 0, len(e.Problems))
	for _, p := range e.Problems {
		lines = append(lines, p.String())
	}
	return strings.Join(lines, "\n")
}

// problemsFor returns the problems of one object, for its status.
func (e *InputError) problemsFor(object string) []Problem {
	if e == nil {
		return nil
	}
	var out []Problem
	for _, p := range e.Problems {
		if p.Object == object {
			out = append(out, p)
		}
	}
	return out
}

func sortProblems(ps []Problem) {
	sort.SliceStable(ps, func(i, j int) bool {
		if ps[i].Object != ps[j].Object {
			return ps[i].Object < ps[j].Object
		}
		return ps[i].Field < ps[j].Field
	})
}
