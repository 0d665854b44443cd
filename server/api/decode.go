package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
)

// decodeBody reads r's body (at most limit bytes) and decodes it strictly
// into dst: a JSON object with only known fields, of the right types, and
// nothing after it. Errors name the field at fault.
func decodeBody(w http.ResponseWriter, r *http.Request, limit int64, dst any) error {
	ct := r.Header.Get("Content-Type")
	mt, _, err := mime.ParseMediaType(ct)
	if ct == "" || err != nil || mt != "application/json" {
		return &Error{Code: CodeUnsupportedMediaType,
			Message: fmt.Sprintf("Content-Type must be application/json, got %q", ct)}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return err
		}
		return &Error{Code: CodeInvalidArgument, Message: "reading the request body failed: " + err.Error(), err: err}
	}
	return decodeJSON(body, dst)
}

// decodeJSON decodes one JSON object strictly into dst.
func decodeJSON(body []byte, dst any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return invalid("", "request body is empty; send a JSON object with project_id")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	dec.UseNumber()
	if err := dec.Decode(dst); err != nil {
		return jsonError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return invalid("", "request body has data after the JSON object")
	}
	return nil
}

// jsonError words a decoding error, naming the field where it can.
func jsonError(err error) *Error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return invalid("", "request body is not valid JSON (at byte %d): %s", syn.Offset, syn.Error())
	case errors.Is(err, io.ErrUnexpectedEOF):
		return invalid("", "request body is truncated JSON")
	case errors.As(err, &typ):
		field := jsonPath(typ.Field)
		if field == "" {
			return invalid("", "request body must be a JSON object, got %s", typ.Value)
		}
		return invalid(field, "%s: got JSON %s, want %s", field, typ.Value, jsonTypeName(typ.Type.String()))
	}
	msg := err.Error()
	if f, ok := strings.CutPrefix(msg, "json: unknown field "); ok {
		f = strings.Trim(f, `"`)
		return invalid(f, "unknown field %q", f)
	}
	return invalid("", "request body: %s", strings.TrimPrefix(msg, "json: "))
}

// jsonPath drops the names of embedded Go structs (the request types share
// fields through embedded *Part structs) from a decoder's field path.
func jsonPath(p string) string {
	segs := strings.Split(p, ".")
	out := segs[:0]
	for _, s := range segs {
		if strings.HasSuffix(s, "Part") && s != "" && s[0] >= 'a' && s[0] <= 'z' {
			continue
		}
		out = append(out, s)
	}
	return strings.Join(out, ".")
}

// jsonTypeName describes a Go type in JSON terms.
func jsonTypeName(goType string) string {
	switch {
	case strings.HasPrefix(goType, "[]"):
		return "an array"
	case strings.HasPrefix(goType, "map["), strings.HasPrefix(goType, "api."), strings.HasPrefix(goType, "struct"):
		return "an object"
	case strings.HasPrefix(goType, "int"), strings.HasPrefix(goType, "uint"):
		return "an integer"
	case strings.HasPrefix(goType, "float"):
		return "a number"
	case goType == "string":
		return "a string"
	case goType == "bool":
		return "true or false"
	}
	return goType
}
