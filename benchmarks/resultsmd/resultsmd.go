// Package resultsmd edits benchmarks/RESULTS.md, where each benchmark report owns one "## " section.
package resultsmd

import "strings"

// Header starts a results file that does not exist yet.
const Header = "# meshaccel benchmark results\n\nEach section names its command, machine and date.\n"

// ReplaceSection swaps the section whose heading line is title (e.g. "## Hyperscan route matching")
// for newSection, or appends newSection, leaving every other section as it is.
func ReplaceSection(doc, title, newSection string) string {
	if doc == "" {
		doc = Header
	}
	start := strings.Index(doc, title+"\n")
	if start < 0 {
		if !strings.HasSuffix(doc, "\n\n") {
			doc = strings.TrimRight(doc, "\n") + "\n\n"
		}
		return doc + newSection
	}
	end := len(doc)
	if next := strings.Index(doc[start+len(title):], "\n## "); next >= 0 {
		end = start + len(title) + next + 1
	}
	rest := doc[end:]
	if rest != "" && !strings.HasSuffix(newSection, "\n\n") {
		newSection = strings.TrimRight(newSection, "\n") + "\n\n"
	}
	return doc[:start] + newSection + rest
}
