package engine

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"mime"
	"mime/multipart"
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
	mediaType, params, err := mime.ParseMediaType(contentType)
	if err != nil || !strings.HasPrefix(mediaType, "multipart/") || params["boundary"] == "" {
		tx.setSingle(ruleset.VarMultipartStrictError, "1")
		if err == nil {
			err = errors.New("multipart: missing boundary")
		}
		tx.bodyError(err)
		return
	}
	mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
	total := 0
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			tx.setSingle(ruleset.VarMultipartStrictError, "1")
			tx.bodyError(err)
			return
		}
		name := p.FormName()
		for k, vs := range p.Header {
			if len(vs) > 1 {
				tx.setSingle(ruleset.VarMultipartStrictError, "1")
			}
			for _, v := range vs {
				tx.partHeaders = tx.add(tx.partHeaders, name, k+": "+v)
			}
		}
		tx.partName = tx.add(tx.partName, name, name)
		filename := p.FileName()
		if filename == "" {
			// FileName drops directories; the raw parameter is what attacks hide in.
			if _, dp, err := mime.ParseMediaType(p.Header.Get("Content-Disposition")); err == nil {
				filename = dp["filename"]
			}
		} else if _, dp, err := mime.ParseMediaType(p.Header.Get("Content-Disposition")); err == nil && dp["filename"] != "" {
			filename = dp["filename"]
		}
		data, rerr := io.ReadAll(p)
		if rerr != nil {
			tx.setSingle(ruleset.VarMultipartStrictError, "1")
			tx.bodyError(rerr)
		}
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
		if rerr != nil {
			return
		}
	}
}

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
