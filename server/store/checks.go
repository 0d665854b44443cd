package store

import "fmt"

// Checks are the checks every backend applies at the start of a request
// (its project, and for a paged read the limit and the offset), so that
// both backends refuse the same requests with the same words. The value is
// the backend's name, which begins each error message after ErrInvalid's:
// "store: invalid query: sqlite: negative offset -1".
type Checks string

// Project requires a project.
func (c Checks) Project(projectID string) error {
	if projectID == "" {
		return c.invalid("project_id is required")
	}
	return nil
}

// Limit returns the number of rows to read for limit: DefaultLimit for 0,
// at most MaxLimit. A negative limit is invalid.
func (c Checks) Limit(limit int) (int, error) {
	switch {
	case limit < 0:
		return 0, c.invalid("negative limit %d", limit)
	case limit == 0:
		return DefaultLimit, nil
	case limit > MaxLimit:
		return MaxLimit, nil
	}
	return limit, nil
}

// Page is the preamble of a paged read: it requires a project, a limit and
// an offset that are not negative, and returns the limit to use (Limit).
// The error is the first problem, in that order.
func (c Checks) Page(projectID string, limit, offset int) (int, error) {
	if err := c.Project(projectID); err != nil {
		return 0, err
	}
	n, err := c.Limit(limit)
	if err != nil {
		return 0, err
	}
	if offset < 0 {
		return 0, c.invalid("negative offset %d", offset)
	}
	return n, nil
}

func (c Checks) invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrInvalid, string(c), fmt.Sprintf(format, args...))
}
