package engine

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"strconv"
	"strings"

	"github.com/meshaccel/meshaccel/wasm-waf/ruleset"
)

// ProcessRequestBody runs phase 2; call it even without a body. contentType "" means the
// Content-Type request header.
func (tx *Transaction) ProcessRequestBody(body []byte, contentType string) *Interruption {
	if tx.mode == ruleset.EngineOff || tx.phase >= 2 || tx.intr != nil {
		return tx.intr
	}
	if tx.phase < 1 {
		// Headers were never processed: evaluate phase 1 on an empty request first.
		tx.ProcessRequestHeaders("", "", "", nil)
		if tx.intr != nil {
			return tx.intr
		}
	}
	tx.phase = 2
	if len(body) > tx.bodyLimit {
		body = body[:tx.bodyLimit]
		tx.bodyTruncated = true
	}
	if tx.bodyTruncated {
		tx.setSingle(ruleset.VarInboundDataError, "1")
		if tx.e.rs.RequestBodyLimitReject && tx.mode == ruleset.EngineOn {
			tx.intrValue = Interruption{Status: 413, Action: "deny"}
			tx.intr = &tx.intrValue
			return tx.intr
		}
	}
	if tx.bodyAccess && len(body) > 0 {
		if contentType == "" {
			contentType = tx.firstHeader("content-type")
		}
		proc := tx.bodyProcessor
		if proc == "" && tx.forceBodyVar {
			proc = "URLENCODED"
			tx.setSingle(ruleset.VarReqbodyProcessor, proc)
		}
		tx.processBody(proc, body, contentType)
	}
	tx.evalPhase(2)
	return tx.intr
}

func (tx *Transaction) firstHeader(lkey string) string {
	for i := range tx.headers {
		if tx.headers[i].lkey == lkey {
			return tx.headers[i].value
		}
	}
	return ""
}

func (tx *Transaction) bodyError(err error) {
	tx.setSingle(ruleset.VarReqbodyError, "1")
	tx.setSingle(ruleset.VarReqbodyErrorMsg, err.Error())
	tx.setSingle(ruleset.VarReqbodyProcessorError, "1")
}

func (tx *Transaction) processBody(proc string, body []byte, contentType string) {
	switch proc {
	case "URLENCODED":
		s := string(body)
		tx.argsPost = tx.parseQuery(tx.argsPost, len(tx.argsGet), s)
		tx.setSingle(ruleset.VarRequestBody, s)
		tx.setSingle(ruleset.VarRequestBodyLength, strconv.Itoa(len(body)))
	case "MULTIPART":
		tx.processMultipart(body, contentType)
	case "JSON":
		if err := tx.processJSON(body); err != nil {
			tx.bodyError(err)
		}
	case "XML":
		if err := tx.processXML(body); err != nil {
			tx.bodyError(err)
		}
	}
}

func (tx *Transaction) processMultipart(body []byte, contentType string) {
	var paramBuf [4]mediaParam
	mediaType, params, err := parseMediaType(contentType, paramBuf[:0])
	boundary := paramValue(params, "boundary")
	if err != nil || !strings.HasPrefix(mediaType, "multipart/") || boundary == "" {
		tx.setSingle(ruleset.VarMultipartStrictError, "1")
		if err == nil {
			err = errors.New("multipart: missing boundary")
		}
		tx.bodyError(err)
		return
	}
	mr := newMultipartReader(body, boundary)
	var scratch []byte
	total := 0
	for {
		headers, data, ok, err := mr.next()
		if !ok {
			if err != nil {
				tx.setSingle(ruleset.VarMultipartStrictError, "1")
				tx.bodyError(err)
			}
			return
		}
		// The part's name and file name come from its first Content-Disposition header; a
		// disposition that does not parse gives neither.
		name, filename := "", ""
		for i := range headers {
			if !bytes.EqualFold(headers[i].name, contentDisposition) {
				continue
			}
			disposition, dp, derr := parseMediaType(string(headers[i].value), paramBuf[:0])
			if derr == nil {
				if disposition == "form-data" {
					name = paramValue(dp, "name")
				}
				filename = paramValue(dp, "filename")
			}
			break
		}
		for i := range headers {
			for j := range i {
				if bytes.EqualFold(headers[j].name, headers[i].name) {
					tx.setSingle(ruleset.VarMultipartStrictError, "1")
				}
			}
			scratch = append(append(append(scratch[:0], canonicalHeaderName(headers[i].name)...), ": "...), headers[i].value...)
			tx.partHeaders = tx.add(tx.partHeaders, name, string(scratch))
		}
		tx.partName = tx.add(tx.partName, name, name)
		total += len(data)
		if filename != "" {
			tx.partFilename = tx.add(tx.partFilename, name, filename)
			tx.files = tx.add(tx.files, name, filename)
			tx.filesNames = tx.add(tx.filesNames, name, name)
			tx.filesSizes = tx.add(tx.filesSizes, filename, strconv.Itoa(len(data)))
		} else {
			if limit := tx.e.rs.ArgumentsLimit; limit > 0 && len(tx.argsGet)+len(tx.argsPost) >= limit {
				tx.setSingle(ruleset.VarArgsLimitReached, "1")
			} else {
				tx.argsPost = tx.add(tx.argsPost, name, string(data))
			}
		}
		tx.setSingle(ruleset.VarFilesCombinedSize, strconv.Itoa(total))
		if err != nil {
			tx.setSingle(ruleset.VarMultipartStrictError, "1")
			tx.bodyError(err)
			return
		}
	}
}

var contentDisposition = []byte("Content-Disposition")

// processXML collects attribute values as XML://@* and non-blank text nodes as XML:/*, the two
// XPath selectors the CRS uses. The decoder is a token loop (no recursion) in lenient mode.
func (tx *Transaction) processXML(body []byte) error {
	dec := xml.NewDecoder(bytes.NewReader(body))
	dec.Strict = false
	dec.AutoClose = xml.HTMLAutoClose
	dec.Entity = xml.HTMLEntity
	for {
		tok, err := dec.Token()
		if err != nil {
			var se *xml.SyntaxError
			if err == io.EOF || (errors.As(err, &se) && se.Msg == "unexpected EOF") {
				return nil
			}
			return err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			for _, a := range t.Attr {
				tx.xmlAttrs = tx.add(tx.xmlAttrs, "//@*", a.Value)
			}
		case xml.CharData:
			if c := strings.TrimSpace(string(t)); c != "" {
				tx.xmlText = tx.add(tx.xmlText, "/*", c)
			}
		}
	}
}
