package sqlite

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/weavetrace/weave/server/model"
)

// The blobs this package stores (span details, message shapes, pages) use a
// small binary encoding: unsigned varints for counts and ids, varint-length
// prefixed bytes for strings. Decoders never panic on bad input; they
// return errCorrupt.

var errCorrupt = errors.New("sqlite: corrupt blob")

type encoder struct{ b []byte }

func (e *encoder) uvarint(v uint64) { e.b = binary.AppendUvarint(e.b, v) }
func (e *encoder) id(v int64)       { e.uvarint(uint64(v)) }
func (e *encoder) byte1(v byte)     { e.b = append(e.b, v) }

func (e *encoder) str(s string) {
	e.uvarint(uint64(len(s)))
	e.b = append(e.b, s...)
}

func (e *encoder) bytes(s []byte) {
	e.uvarint(uint64(len(s)))
	e.b = append(e.b, s...)
}

func (e *encoder) ids(v []int64) {
	e.uvarint(uint64(len(v)))
	for _, x := range v {
		e.id(x)
	}
}

type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail() {
	if d.err == nil {
		d.err = errCorrupt
	}
	d.b = nil
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) id() int64 {
	v := d.uvarint()
	if v > 1<<62 {
		d.fail()
		return 0
	}
	return int64(v)
}

func (d *decoder) byte1() byte {
	if d.err != nil || len(d.b) == 0 {
		d.fail()
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

func (d *decoder) raw() []byte {
	n := d.uvarint()
	if d.err != nil || n > uint64(len(d.b)) {
		d.fail()
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) str() string { return string(d.raw()) }

// count reads a list length, rejecting lengths the remaining bytes cannot
// hold (each element takes at least one byte).
func (d *decoder) count() int {
	n := d.uvarint()
	if d.err != nil || n > uint64(len(d.b)) {
		d.fail()
		return 0
	}
	return int(n)
}

func (d *decoder) ids() []int64 {
	n := d.count()
	if n == 0 {
		return nil
	}
	out := make([]int64, 0, n)
	for i := 0; i < n && d.err == nil; i++ {
		out = append(out, d.id())
	}
	return out
}

func (d *decoder) done() error {
	if d.err == nil && len(d.b) != 0 {
		d.err = errCorrupt
	}
	return d.err
}

// details is the details blob of a span: the heavy columns as references,
// plus the events verbatim and the raw span, verbatim or, when it has long
// strings, as a rawForm (raw.go).
type details struct {
	inPages []int64  // pages.id, each pageSize messages
	inTail  []shape  // input messages after the full pages
	out     []shape  // output messages
	sys     []int64  // texts.id, one per system instruction (0: empty)
	args    int64    // texts.id of tool_call_arguments, 0 if empty
	result  int64    // texts.id of tool_call_result, 0 if empty
	events  []byte   // JSON array, nil if none
	raw     []byte   // raw_span verbatim, nil if none or in rawForm
	rawForm *rawForm // raw_span with its long strings as chunks
}

// Details versions: 1 kept raw_span verbatim; 2 adds the rawForm; 3 is 2
// with raw parts that name the span's tool-call result or arguments
// (written only when a part does, so other spans keep version 2).
const (
	detailsVersion       = 2
	detailsVersionFields = 3
)

func (x details) encode() []byte {
	e := encoder{b: make([]byte, 0, 32+len(x.events)+len(x.raw)+16*(len(x.inTail)+len(x.out)))}
	if x.rawForm != nil && x.rawForm.hasField() {
		e.byte1(detailsVersionFields)
	} else {
		e.byte1(detailsVersion)
	}
	e.ids(x.inPages)
	e.shapes(x.inTail)
	e.shapes(x.out)
	e.ids(x.sys)
	e.id(x.args)
	e.id(x.result)
	e.bytes(x.events)
	if x.rawForm != nil {
		e.byte1(1)
		e.rawForm(x.rawForm)
	} else {
		e.byte1(0)
		e.bytes(x.raw)
	}
	return e.b
}

func decodeDetails(b []byte) (details, error) {
	d := decoder{b: b}
	var x details
	v := d.byte1()
	if (v < 1 || v > detailsVersionFields) && d.err == nil {
		return details{}, fmt.Errorf("sqlite: span details version %d unknown", v)
	}
	x.inPages = d.ids()
	x.inTail = d.shapes()
	x.out = d.shapes()
	x.sys = d.ids()
	x.args = d.id()
	x.result = d.id()
	x.events = d.raw()
	if v >= 2 && d.byte1() == 1 {
		x.rawForm = d.rawForm(v == detailsVersionFields)
	} else {
		x.raw = d.raw()
	}
	if err := d.done(); err != nil {
		return details{}, err
	}
	if len(x.events) == 0 {
		x.events = nil
	}
	if len(x.raw) == 0 {
		x.raw = nil
	}
	return x, nil
}

// shape is a stored message: role, name, finish reason and parts, with the
// searchable strings of the parts (text and reasoning content, tool-call
// arguments, tool responses) replaced by texts ids.
type shape struct {
	role, name, finish string
	parts              []shapePart
}

type shapePart struct {
	typ                         string
	content                     int64  // texts.id of Content for text/reasoning parts
	inline                      string // Content of other part types (blobs), verbatim
	id, name                    string
	args, resp                  int64 // texts.id of Arguments / Response, 0 if empty
	mime, modality, fileID, uri string

	// respString: resp is the string a JSON-string Response encodes;
	// respRaw, when not 0, the Response as written (else it is resp
	// encoded by encodeJSONString).
	respString bool
	respRaw    int64
}

// ids lists the texts a part refers to (0 for none).
func (p *shapePart) ids() [4]int64 { return [4]int64{p.content, p.args, p.resp, p.respRaw} }

// Part flags.
const (
	flagContent = 1 << iota
	flagInline
	flagArgs
	flagResp
	flagMeta       // id, name, mime, modality, file id or uri present
	flagRespString // resp is the string a JSON-string response encodes
	flagRespRaw    // the response as written follows resp
)

func (e *encoder) shape(m *shape) {
	e.str(m.role)
	e.str(m.name)
	e.str(m.finish)
	e.uvarint(uint64(len(m.parts)))
	for _, p := range m.parts {
		var f byte
		if p.content != 0 {
			f |= flagContent
		}
		if p.inline != "" {
			f |= flagInline
		}
		if p.args != 0 {
			f |= flagArgs
		}
		if p.resp != 0 {
			f |= flagResp
		}
		if p.respString {
			f |= flagRespString
		}
		if p.respRaw != 0 {
			f |= flagRespRaw
		}
		if p.id != "" || p.name != "" || p.mime != "" || p.modality != "" || p.fileID != "" || p.uri != "" {
			f |= flagMeta
		}
		e.str(p.typ)
		e.byte1(f)
		if f&flagContent != 0 {
			e.id(p.content)
		}
		if f&flagInline != 0 {
			e.str(p.inline)
		}
		if f&flagArgs != 0 {
			e.id(p.args)
		}
		if f&flagResp != 0 {
			e.id(p.resp)
		}
		if f&flagRespRaw != 0 {
			e.id(p.respRaw)
		}
		if f&flagMeta != 0 {
			e.str(p.id)
			e.str(p.name)
			e.str(p.mime)
			e.str(p.modality)
			e.str(p.fileID)
			e.str(p.uri)
		}
	}
}

func (e *encoder) shapes(list []shape) {
	e.uvarint(uint64(len(list)))
	for i := range list {
		e.shape(&list[i])
	}
}

func (d *decoder) shape() shape {
	var m shape
	m.role = d.str()
	m.name = d.str()
	m.finish = d.str()
	n := d.count()
	for i := 0; i < n && d.err == nil; i++ {
		var p shapePart
		p.typ = d.str()
		f := d.byte1()
		if f&flagContent != 0 {
			p.content = d.id()
		}
		if f&flagInline != 0 {
			p.inline = d.str()
		}
		if f&flagArgs != 0 {
			p.args = d.id()
		}
		if f&flagResp != 0 {
			p.resp = d.id()
		}
		p.respString = f&flagRespString != 0
		if f&flagRespRaw != 0 {
			p.respRaw = d.id()
		}
		if f&flagMeta != 0 {
			p.id = d.str()
			p.name = d.str()
			p.mime = d.str()
			p.modality = d.str()
			p.fileID = d.str()
			p.uri = d.str()
		}
		m.parts = append(m.parts, p)
	}
	return m
}

func (d *decoder) shapes() []shape {
	n := d.count()
	if n == 0 {
		return nil
	}
	out := make([]shape, 0, n)
	for i := 0; i < n && d.err == nil; i++ {
		out = append(out, d.shape())
	}
	return out
}

// encodePage and decodePage are the pages.refs blob: a list of shapes.
func encodePage(list []shape) []byte {
	e := encoder{b: make([]byte, 0, 16*len(list))}
	e.shapes(list)
	return e.b
}

func decodePage(b []byte) ([]shape, error) {
	d := decoder{b: b}
	list := d.shapes()
	return list, d.done()
}

// Search roles of non-message content.
const (
	roleSystem     = "system"
	roleToolCall   = "tool_call"
	roleToolResult = "tool_result"
)

// answersToolCall reports whether a span's output is the result of a tool
// call: an invoke_agent span with a tool call id (a subagent a tool ran,
// as Claude Code's Agent tool does) says its output as that call's result
// (store.SearchHit).
func answersToolCall(op, toolCallID string) bool {
	return op == model.OpInvokeAgent && toolCallID != ""
}

// roleText is one searchable occurrence: a text in a role.
type roleText struct {
	role string
	text int64
}

// keys lists the searchable texts of a message with their roles.
// asResult gives its text parts the role tool_result: the output of a span
// that answers a tool call (answersToolCall).
func (m *shape) keys(asResult bool) []roleText {
	var out []roleText
	for _, p := range m.parts {
		if p.content != 0 {
			role := m.role
			if asResult && p.typ == model.PartText {
				role = roleToolResult
			}
			out = append(out, roleText{role, p.content})
		}
		if p.args != 0 {
			out = append(out, roleText{roleToolCall, p.args})
		}
		if p.resp != 0 {
			out = append(out, roleText{roleToolResult, p.resp})
		}
	}
	return out
}
