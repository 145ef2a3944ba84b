package api

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// paramError is a bad query parameter; err's message starts with its name.
type paramError struct {
	param string
	err   error
}

func (e *paramError) Error() string { return e.err.Error() }

// writeParamError answers 400 for err, a *paramError.
func writeParamError(w http.ResponseWriter, err error) {
	var pe *paramError
	errors.As(err, &pe)
	writeError(w, http.StatusBadRequest, pe.param, err.Error())
}

// checkParams checks that v holds only allowed parameters, each at most
// once, so a typo cannot silently widen a query.
func checkParams(v url.Values, allowed ...string) error {
	for k, vals := range v {
		if !slices.Contains(allowed, k) {
			if k == "" {
				k = "(empty name)"
			}
			return &paramError{k, fmt.Errorf("%s: unknown parameter (want %s)", k, strings.Join(allowed, ", "))}
		}
		if len(vals) > 1 {
			return &paramError{k, fmt.Errorf("%s: given more than once", k)}
		}
	}
	return nil
}
