package normalize

import (
	"errors"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// errJSON is what decodeJSONAny returns for a document encoding/json
// would refuse.
var errJSON = errors.New("normalize: invalid JSON")

// decodeJSONAny decodes a JSON document into any exactly as json.Unmarshal
// into an any does — map[string]any (the last of duplicate keys wins),
// []any, string, float64, bool, nil — and fails where it fails (bad
// syntax, trailing data, nesting past 10,000, a number out of float64's
// range). Message attributes (gen_ai.output.messages and the like) are
// kilobytes of JSON on most model calls, and json.Unmarshal was a
// quarter of normalizing them. FuzzDecodeJSONAny holds it to
// json.Unmarshal.
func decodeJSONAny(s string) (any, error) {
	d := anyDecoder{s: s}
	d.ws()
	v, err := d.value(0)
	if err != nil {
		return nil, err
	}
	if d.ws(); d.i != len(d.s) {
		return nil, errJSON
	}
	return v, nil
}

type anyDecoder struct {
	s string
	i int
}

// maxJSONDepth is encoding/json's nesting limit.
const maxJSONDepth = 10000

func (d *anyDecoder) ws() {
	for d.i < len(d.s) {
		switch d.s[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

// value decodes the value at d.i, depth containers deep.
func (d *anyDecoder) value(depth int) (any, error) {
	if d.i >= len(d.s) {
		return nil, errJSON
	}
	switch c := d.s[d.i]; {
	case c == '{':
		return d.object(depth + 1)
	case c == '[':
		return d.array(depth + 1)
	case c == '"':
		return d.str()
	case c == '-' || (c >= '0' && c <= '9'):
		return d.number()
	}
	for _, lit := range [...]struct {
		word string
		v    any
	}{{"true", true}, {"false", false}, {"null", nil}} {
		if len(d.s)-d.i >= len(lit.word) && d.s[d.i:d.i+len(lit.word)] == lit.word {
			d.i += len(lit.word)
			return lit.v, nil
		}
	}
	return nil, errJSON
}

func (d *anyDecoder) object(depth int) (any, error) {
	if depth > maxJSONDepth {
		return nil, errJSON
	}
	m := map[string]any{}
	d.i++ // {
	d.ws()
	if d.i < len(d.s) && d.s[d.i] == '}' {
		d.i++
		return m, nil
	}
	for {
		if d.i >= len(d.s) || d.s[d.i] != '"' {
			return nil, errJSON
		}
		k, err := d.str()
		if err != nil {
			return nil, err
		}
		if d.ws(); d.i >= len(d.s) || d.s[d.i] != ':' {
			return nil, errJSON
		}
		d.i++
		d.ws()
		v, err := d.value(depth)
		if err != nil {
			return nil, err
		}
		m[k.(string)] = v
		if end, err := d.next('}'); err != nil {
			return nil, err
		} else if end {
			return m, nil
		}
	}
}

// next reads what follows an object's member or an array's element: a
// comma (more follow) or closing, which ends it.
func (d *anyDecoder) next(closing byte) (end bool, err error) {
	if d.ws(); d.i >= len(d.s) {
		return false, errJSON
	}
	switch d.s[d.i] {
	case ',':
		d.i++
		d.ws()
		return false, nil
	case closing:
		d.i++
		return true, nil
	}
	return false, errJSON
}

func (d *anyDecoder) array(depth int) (any, error) {
	if depth > maxJSONDepth {
		return nil, errJSON
	}
	list := []any{}
	d.i++ // [
	d.ws()
	if d.i < len(d.s) && d.s[d.i] == ']' {
		d.i++
		return list, nil
	}
	for {
		v, err := d.value(depth)
		if err != nil {
			return nil, err
		}
		list = append(list, v)
		if end, err := d.next(']'); err != nil {
			return nil, err
		} else if end {
			return list, nil
		}
	}
}

// str decodes the string at d.i. A string of plain characters is its own
// bytes; escapes and invalid UTF-8 are decoded as encoding/json does (a
// lone or broken surrogate, and each bad byte, become U+FFFD).
func (d *anyDecoder) str() (any, error) {
	start := d.i
	plain := true
	for d.i++; d.i < len(d.s); d.i++ {
		switch c := d.s[d.i]; {
		case c == '"':
			d.i++
			lit := d.s[start+1 : d.i-1]
			if plain && utf8.ValidString(lit) {
				return lit, nil
			}
			return unquoteJSON(lit)
		case c == '\\':
			plain = false
			d.i++ // the escaped byte: unquoteJSON checks the escape
		case c < 0x20:
			return nil, errJSON
		}
	}
	return nil, errJSON
}

// unquoteJSON decodes the inside of a JSON string literal.
func unquoteJSON(s string) (any, error) {
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '\\':
			if i+1 >= len(s) {
				return nil, errJSON
			}
			switch e := s[i+1]; e {
			case '"', '\\', '/':
				b = append(b, e)
			case 'b':
				b = append(b, '\b')
			case 'f':
				b = append(b, '\f')
			case 'n':
				b = append(b, '\n')
			case 'r':
				b = append(b, '\r')
			case 't':
				b = append(b, '\t')
			case 'u':
				r := hex4(s[i+2:])
				if r < 0 {
					return nil, errJSON
				}
				i += 6
				if utf16.IsSurrogate(r) {
					if dec := utf16.DecodeRune(r, hex4u(s[i:])); dec != utf8.RuneError {
						b = utf8.AppendRune(b, dec)
						i += 6
						continue
					}
					r = utf8.RuneError
				}
				b = utf8.AppendRune(b, r)
				continue
			default:
				return nil, errJSON
			}
			i += 2
		case c < utf8.RuneSelf:
			b = append(b, c)
			i++
		default:
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 {
				b = utf8.AppendRune(b, utf8.RuneError)
			} else {
				b = append(b, s[i:i+size]...)
			}
			i += size
		}
	}
	return string(b), nil
}

// hex4 is the value of the four hex digits s starts with, -1 if it does
// not.
func hex4(s string) rune {
	if len(s) < 4 {
		return -1
	}
	var r rune
	for _, c := range []byte(s[:4]) {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return -1
		}
		r = r*16 + rune(c)
	}
	return r
}

// hex4u is hex4 of a \uXXXX escape that s starts with, -1 if none.
func hex4u(s string) rune {
	if len(s) < 6 || s[0] != '\\' || s[1] != 'u' {
		return -1
	}
	return hex4(s[2:])
}

// number decodes the number at d.i (JSON's grammar) as a float64.
func (d *anyDecoder) number() (any, error) {
	start := d.i
	digits := func() int {
		n := 0
		for d.i < len(d.s) && d.s[d.i] >= '0' && d.s[d.i] <= '9' {
			d.i++
			n++
		}
		return n
	}
	if d.s[d.i] == '-' {
		d.i++
	}
	switch {
	case d.i < len(d.s) && d.s[d.i] == '0':
		d.i++
	case digits() == 0:
		return nil, errJSON
	}
	if d.i < len(d.s) && d.s[d.i] == '.' {
		d.i++
		if digits() == 0 {
			return nil, errJSON
		}
	}
	if d.i < len(d.s) && (d.s[d.i] == 'e' || d.s[d.i] == 'E') {
		d.i++
		if d.i < len(d.s) && (d.s[d.i] == '+' || d.s[d.i] == '-') {
			d.i++
		}
		if digits() == 0 {
			return nil, errJSON
		}
	}
	f, err := strconv.ParseFloat(d.s[start:d.i], 64)
	if err != nil {
		return nil, errJSON
	}
	return f, nil
}
