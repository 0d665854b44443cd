package store

import (
	"bytes"
	"encoding/json"
	"time"
)

// PrepareAnnotation is what a backend's UpsertAnnotation does before it
// writes: CheckAnnotation, a new id (NewAnnotationID) for an annotation
// without one, and the value encoded as the JSON the backend stores.
// Errors are *AnnotationError.
func PrepareAnnotation(a Annotation) (Annotation, []byte, error) {
	a, err := CheckAnnotation(a)
	if err != nil {
		return Annotation{}, nil, err
	}
	value, err := json.Marshal(a.Value)
	if err != nil {
		return Annotation{}, nil, &AnnotationError{Field: "value", Msg: err.Error()}
	}
	if a.ID == "" {
		a.ID = NewAnnotationID()
	}
	return a, value, nil
}

// StoredAnnotation is the annotation UpsertAnnotation returns: a with its
// times, and its value read back from the stored JSON as reads give it
// (numbers as json.Number).
func StoredAnnotation(a Annotation, value []byte, created, updated time.Time) (Annotation, error) {
	a.Value, a.CreatedAt, a.UpdatedAt = nil, created, updated
	dec := json.NewDecoder(bytes.NewReader(value))
	dec.UseNumber()
	return a, dec.Decode(&a.Value)
}
