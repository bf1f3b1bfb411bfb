package manifest

import (
	"bytes"
	"strings"
)

// document is one YAML document of a file with the line its text starts on.
type document struct {
	text      []byte
	startLine int // line of the first byte of text (1-based)
	firstLine int // line of the first line that is neither blank nor a comment
}

// splitDocuments cuts a multi-document YAML stream at "---" and "..." lines, keeping line
// numbers. Documents holding nothing but blank lines and comments are dropped.
func splitDocuments(data []byte) []document {
	data = bytes.TrimPrefix(data, []byte("\ufeff"))
	var docs []document
	current := document{startLine: 1}
	var text bytes.Buffer
	flush := func(nextStart int) {
		current.text = append([]byte(nil), text.Bytes()...)
		if current.firstLine != 0 {
			docs = append(docs, current)
		}
		text.Reset()
		current = document{startLine: nextStart}
	}
	lines := bytes.SplitAfter(data, []byte("\n"))
	for i, line := range lines {
		lineNumber := i + 1
		trimmed := strings.TrimRight(string(line), "\r\n")
		switch {
		case isMarker(trimmed, "---"):
			flush(lineNumber)
			rest := strings.TrimLeft(trimmed[3:], " \t")
			if rest == "" || strings.HasPrefix(rest, "#") {
				current.startLine = lineNumber + 1
				continue
			}
			// "--- value": the document starts on this line; blank the marker to keep columns.
			line = append([]byte("   "), line[3:]...)
		case isMarker(trimmed, "..."):
			flush(lineNumber + 1)
			continue
		}
		if current.firstLine == 0 {
			content := strings.TrimSpace(trimmed)
			if content != "" && !strings.HasPrefix(content, "#") {
				current.firstLine = lineNumber
			}
		}
		text.Write(line)
	}
	flush(len(lines) + 1)
	return docs
}

// isMarker reports whether line is the document marker alone or followed by a space or tab.
func isMarker(line, marker string) bool {
	if !strings.HasPrefix(line, marker) {
		return false
	}
	rest := line[len(marker):]
	return rest == "" || rest[0] == ' ' || rest[0] == '\t'
}
